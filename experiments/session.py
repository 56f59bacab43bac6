"""The session runner: one Python loop over sessions, for checkpoints and progress only.

Every experiment supplies a compiled ``step(state, session) -> (state, outputs)`` (seeds,
modes and configurations are array axes inside it); :func:`run_sessions` calls it for sessions
``0..n``, writes a checkpoint after each (the state and that session's outputs, with the
config; see :mod:`bayescortex.experiments.checkpoint`), shows progress, and resumes after the
last checkpoint of an interrupted run. Because every key derives from the seed and the session
index, a resumed run gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from tqdm.auto import tqdm

from . import checkpoint
from .results import versions


def _zeros_like(tree):
    shapes = jax.eval_shape(lambda t: t, tree)
    return jax.tree.map(lambda s: jax.numpy.zeros(s.shape, s.dtype), shapes)


def run_sessions(
    step: Callable[[Any, int], tuple[Any, Any]],
    state: Any,
    n_sessions: int,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    config: dict | None = None,
    may_differ: tuple[str, ...] = (),
    extra: dict | None = None,
    progress: bool = True,
    describe: Callable[[int, Any], str] | None = None,
    session_meta: Callable[[int], dict] | None = None,
    ran: dict | None = None,
) -> tuple[Any, list[Any]]:
    """Run sessions ``0..n_sessions``; return the final state and every session's outputs.

    ``step(state, session)`` must be deterministic given its inputs (keys derived from the
    session index). With ``checkpoint_dir``, each finished session is checkpointed there, and a
    folder that already holds checkpoints of the same ``config`` (fields in ``may_differ``
    excepted) is resumed after its last session ``<= n_sessions``. ``describe(session,
    outputs)`` gives a progress-bar postfix (e.g. accuracy). ``session_meta(session)`` gives
    JSON-ready facts of a session that a resumed run must agree with (e.g. the task it trained,
    under the config field that schedules it): they are saved with the checkpoint, and a
    mismatch raises a ``ValueError`` naming the field. A checkpoint file that cannot be read
    (truncated, corrupted) is named in a ``RuntimeWarning`` and the run resumes after the
    last session before it that can be. While it runs it holds
    :func:`checkpoint.exclusive` on ``checkpoint_dir``: a second run given the same folder is
    refused with a ``ValueError``. ``ran``, a dict, is filled with ``start``: the first session
    this call ran (0 unless it resumed; ``n_sessions + 1`` if every session was checkpointed
    already), so a caller can count and time the work done in this process alone.
    """
    guard = (
        contextlib.nullcontext() if checkpoint_dir is None else checkpoint.exclusive(checkpoint_dir)
    )
    with guard:
        return _run(step, state, n_sessions, checkpoint_dir, config, may_differ, extra,
                    progress, describe, session_meta, {} if ran is None else ran)  # fmt: skip


def _run(step, state, n_sessions, checkpoint_dir, config, may_differ, extra, progress, describe,
         session_meta, ran):  # fmt: skip
    session_meta = session_meta or (lambda s: {})
    outputs: list[Any] = []
    start = 0
    config = config or {}
    if checkpoint_dir is not None:
        done = checkpoint.latest_session(checkpoint_dir, at_most=n_sessions)
        if done is not None:
            loaded = state
            for s in range(done + 1):
                out_like = _zeros_like(eqx.filter_eval_shape(step, state, s)[1])
                try:
                    (loaded_s, out), meta, _ = checkpoint.load_checkpoint(
                        checkpoint_dir, s, (state, out_like), config=config, may_differ=may_differ
                    )
                except checkpoint.UnreadableCheckpoint as err:
                    # Every session's checkpoint is kept: rerun from the last good one (the
                    # sessions are deterministic, so the result is the same).
                    after = f"after session {s - 1}" if s else "from the start"
                    warnings.warn(f"{err}; resuming {after}", RuntimeWarning, stacklevel=3)
                    done = s - 1
                    break
                loaded = loaded_s
                for field, now in session_meta(s).items():
                    if meta.get("session_meta", {}).get(field) != now:
                        raise ValueError(
                            f"{field}: the checkpoint in {checkpoint_dir} ran session {s} with "
                            f"{meta.get('session_meta', {}).get(field)!r}, the current config "
                            f"gives {now!r}; resume with the same schedule or use a new folder"
                        )
                outputs.append(out)
            state, start = loaded, done + 1
    ran["start"] = start
    bar = tqdm(
        total=n_sessions + 1, initial=start, desc="sessions", unit="session", disable=not progress
    )
    with bar:
        for session in range(start, n_sessions + 1):
            if session == start and progress:
                bar.set_postfix_str("compiling and running the first session")
            t0 = time.perf_counter()
            state, out = step(state, session)
            out = jax.block_until_ready(out)
            outputs.append(out)
            if checkpoint_dir is not None:
                checkpoint.save_checkpoint(
                    checkpoint_dir,
                    session,
                    (state, out),
                    config=config,
                    extra={**(extra or {}), "seconds": time.perf_counter() - t0,
                           "versions": versions(), "session_meta": session_meta(session)},
                )  # fmt: skip
            bar.update(1)
            if describe is not None:
                bar.set_postfix_str(describe(session, out))
    return state, outputs
