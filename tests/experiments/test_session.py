"""The session runner on a toy step (no compilation worth the name): checkpoints, resume, and
the exclusive lock that keeps two runs with the same run id apart."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.experiments import checkpoint
from bayescortex.experiments.session import run_sessions


def step(state, session):
    """A deterministic toy session: the state accumulates the session index."""
    new = state + jnp.float32(session)
    return new, {"after": new}


def test_resume_continues_after_the_last_checkpoint(tmp_path):
    final, outputs = run_sessions(step, jnp.zeros(2), 4, progress=False)
    partial, _ = run_sessions(step, jnp.zeros(2), 2, checkpoint_dir=tmp_path, progress=False)
    resumed, resumed_outputs = run_sessions(
        step, jnp.zeros(2), 4, checkpoint_dir=tmp_path, progress=False
    )
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(final))
    assert [float(o["after"][0]) for o in resumed_outputs] == [0.0, 1.0, 3.0, 6.0, 10.0]
    assert checkpoint.checkpointed_sessions(tmp_path) == [0, 1, 2, 3, 4]


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    with checkpoint.exclusive(tmp_path):
        with pytest.raises(ValueError, match=r"run_id: .* is in use by process \d+"):
            run_sessions(step, jnp.zeros(2), 1, checkpoint_dir=tmp_path, progress=False)
    # Released when the first run ends: the folder is usable again.
    run_sessions(step, jnp.zeros(2), 1, checkpoint_dir=tmp_path, progress=False)
    assert checkpoint.checkpointed_sessions(tmp_path) == [0, 1]


def test_the_lock_holds_across_processes_and_dies_with_its_process(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from bayescortex.experiments import checkpoint
            with checkpoint.exclusive({os.fspath(tmp_path)!r}):
                print("held", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=f"in use by process {holder.pid}"):
            with checkpoint.exclusive(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with checkpoint.exclusive(tmp_path):  # a killed holder leaves no stale lock
        pass


@pytest.mark.parametrize(
    "damage, suffix",
    [
        (lambda b: b[: len(b) // 2], ".eqx"),  # truncated
        (lambda b: os.urandom(len(b)), ".eqx"),  # random bytes
        (lambda b: os.urandom(len(b)), ".json"),
    ],
    ids=["truncated", "random-eqx", "random-json"],
)
def test_an_unreadable_checkpoint_falls_back_to_the_one_before(tmp_path, damage, suffix):
    """Every session's checkpoint is kept: a damaged one is named in a warning and the run
    resumes after the last good one, with the numbers of an uninterrupted run."""
    final, outputs = run_sessions(step, jnp.zeros(2), 4, progress=False)
    run_sessions(step, jnp.zeros(2), 3, checkpoint_dir=tmp_path, config={"a": 1}, progress=False)
    path = tmp_path / f"session_0002{suffix}"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(RuntimeWarning, match=rf"session_0002{suffix}.*resuming after session 1"):
        resumed, resumed_outputs = run_sessions(
            step, jnp.zeros(2), 4, checkpoint_dir=tmp_path, config={"a": 1}, progress=False
        )
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(final))
    assert [float(o["after"][0]) for o in resumed_outputs] == [0.0, 1.0, 3.0, 6.0, 10.0]
    # The damaged checkpoint was rewritten: the next resume reads every session again.
    run_sessions(step, jnp.zeros(2), 4, checkpoint_dir=tmp_path, config={"a": 1}, progress=False)


def test_a_foreign_checkpoint_is_refused_naming_the_file(tmp_path):
    run_sessions(step, jnp.zeros(2), 1, checkpoint_dir=tmp_path, config={"a": 1}, progress=False)
    with pytest.raises(ValueError, match=r"config field 'a': checkpoint .*session_0000 was"):
        run_sessions(step, jnp.zeros(2), 2, checkpoint_dir=tmp_path, config={"a": 2},
                     progress=False)  # fmt: skip
