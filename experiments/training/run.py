"""``bayescortex train``: learn the top-down feedback from training on the discrimination task.

A naive model is trained in *sessions* (the animal's days). Each session runs
``trials_per_session`` training trials (task cue) in minibatches of ``batch``; the outcome of a
trial reveals the correct category, and the feedback parameters take one optax step per
minibatch (:func:`bayescortex.inference.learning.fisher_step`). After every session (and once
before training, as session 0) the same block of stimuli is recorded in every ``record_modes``
condition (engaged and passive by default, identical keys, so identical images) with the full
trial simulation, and a checkpoint is written. Training and recording are the compiled
programs of :mod:`bayescortex.experiments.protocol` and :mod:`bayescortex.experiments.blocks`
(the same programs the redundancy experiment runs; recorded trials stream into statistics, of
which accuracy and the context posterior are kept here), driven by the session runner of
:mod:`bayescortex.experiments.session`.

The default: the model starts as an adult sensory model that does not know the task: the
coupling ``delta = 0.08`` (the authors' trained value; it stays fixed unless
``sensory_rate > 0``, and is then learned from the images alone, never from the outcome),
category kernels ``kappa_o = 0`` (a task-free middle layer, so choices are at chance) and a
uniform context prior ``p(K | q)`` over cardinal, oblique and none for both cues. Learning
(``objective="reward"``) ascends the expected reward of the behaving decision, its accuracy, by
SPSA with common random numbers (:mod:`bayescortex.inference.reward`): the trained task's kernel
leaves 0 in the first session, where accuracy reaches its plateau, and then grows slowly, and
the task cue's prior on the trained task moves little (measured: about 0.4 to 0.5 after 4 to 8
sessions); measured, no overshoot (``docs/results.md``). ``objective="conditional"`` (the
default before 2026-12-06) ascends the conditional likelihood ``log p(O* | y)`` of the revealed
category instead (a clamped minus a free chain on the same images: exact Gibbs chains given the
current frame by default, ``learning_inference="behaving"`` for the decision's tempered
sampler); measured, its kernel keeps growing after accuracy has peaked (see
:mod:`bayescortex.inference.learning` for why), so choose the number of sessions with that in
mind. Passive viewing is recorded as the fixation cue with the same (engaged) inference
(``passive="fixation"``): whether the task structure shapes the responses is up to what the
model infers about the context, ``p(K | q, y)``; training trials carry the task cue, so the
fixation cue's prior keeps its initial value unless ``passive_exposure > 0``, which ends each
session with that many fixation trials whose images (no outcome) update it
(:func:`~bayescortex.experiments.protocol.expose`). ``passive="cut"`` records the authors'
passive condition instead (top-down path cut, alpha = 0). The free-form feedback starts from the
same coupling plus ``init_scale |N(0, 1)|`` and task rows near the rate ``1 / N_g`` with random
asymmetry.

The first version's behaviour stays reachable (:data:`~.config.LEGACY`, ``bayescortex train
--legacy``): ``objective="joint"`` (stochastic EM of ``log p(y, O*)`` on one static image,
``train_sweeps`` exact clamped sweeps per trial), the coupling learned from ``delta = 0``
(``sensory_rate = 1``), ``kappa_o = 1`` (at ``delta = 0`` nothing reaches the image, and at
``kappa_o = 0`` the ``delta`` gradient points out of the allowed region, so EM could not start
from ``delta = kappa_o = 0``), no ``none`` context (``none_logit = -30``), passive = cut, one
static frame per trial. Measured at N_x = 256: maximum likelihood keeps raising the coupling
past the accuracy optimum (accuracy 0.5 -> 0.85 by ``delta ~ 0.1``, then back towards chance
as ``delta -> 0.5``, where the middle layer is almost silent in recorded trials).

Learning curves come back as an xarray Dataset (its variables: :mod:`.report`, which also
writes the summary text).

Keys: session ``s`` uses ``fold_in(key(seed), s)`` (training minibatch ``b``:
``fold_in(fold_in(session key, 0), b)``; recording: ``fold_in(session key, 1)``; training
contrasts: ``fold_in(session key, 2)``; free-form initial noise: ``fold_in(session-0 key, 3)``;
passive exposure: ``fold_in(session key, 5)``, ``EXPOSURE_KEY``; the recording's bootstrap
weights, if any: ``fold_in(key(seed), 2**31 - 1)``, ``BOOTSTRAP_KEY``; the constants and the
redundancy experiment's further keys are listed in :mod:`bayescortex.experiments.keys`),
so a run resumed from any checkpoint replays exactly what an uninterrupted run does.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescortex.inference import inference_mode
from bayescortex.models import HierarchicalModel, task_index

from .. import checkpoint
from ..blocks import accuracy, conditions, context_posterior, record
from ..compilation import compile_time
from ..keys import RECORDING_KEY, bootstrap_key, session_key
from ..learning_setup import feedback_parameters
from ..protocol import (
    Hyper,
    Protocol,
    SeedState,
    TrainInfo,
    init_state,
    train_session,
)
from ..results import check_output, config_dict, run_folder, versions, write_together
from ..session import run_sessions
from .config import RESUMABLE, TrainConfig
from .report import learning_curves, summary_text


class CurveSlice(NamedTuple):
    """One session's slice of the learning curves."""

    accuracy: jax.Array  # (modes, levels)
    context: jax.Array  # (modes, bins, contexts): mean p_t(K | q, y) over the block
    train: TrainInfo
    parameters: jax.Array  # learning_setup.feedback_parameters
    coupling: jax.Array  # (neurons, units)
    unit_probability: jax.Array  # (contexts, categories, units)
    context_prior: jax.Array  # (cues, contexts): p(K | q)


def _no_training() -> TrainInfo:
    """The diagnostics of session 0 (no training): NaN, and no likelihood change."""
    return TrainInfo(*(jnp.full((), jnp.nan),) * 3, jnp.zeros(()))


@functools.partial(jax.jit, static_argnums=0)
def _train(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, task):
    return train_session(protocol, hyper, state, session_key(key, session), task)


@functools.partial(jax.jit, static_argnums=0)
def _record(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, conds):
    skey = session_key(key, session)
    stats = record(protocol, hyper, state.model, jax.random.fold_in(skey, RECORDING_KEY),
                   bootstrap_key(key), conds)  # fmt: skip
    model = state.model
    return CurveSlice(
        accuracy=accuracy(stats),
        context=context_posterior(stats)[:, 0],
        train=_no_training(),
        parameters=feedback_parameters(model.feedback),
        coupling=model.feedback.coupling(),
        unit_probability=model.unit_probabilities(),
        context_prior=jax.nn.softmax(model.feedback.context_logits, axis=-1),
    )


def session_step(config: TrainConfig, protocol: Protocol, hyper: Hyper):
    """``step(state, session) -> (state, CurveSlice)`` for :func:`run_sessions`: train
    session ``session`` (from 1) on its scheduled task, then record every condition of
    ``record_modes`` (:meth:`TrainConfig.recorded`) on that task's stimuli."""
    key = jax.random.key(config.seed)
    recorded = config.recorded()

    def step(state: SeedState, session: int):
        task = task_index(config.session_task(session))
        info = _no_training()
        if session > 0:
            state, info = _train(protocol, hyper, state, key, session, task)
        conds = conditions(
            [inference_mode(mode) for mode, _ in recorded], [task] * len(recorded),
            [cue for _, cue in recorded],
        )  # fmt: skip
        out = _record(protocol, hyper, state, key, session, conds)
        return state, out._replace(train=info)

    return step


def initial_state(config: TrainConfig) -> SeedState:
    """The naive model and a fresh optimiser state (see :func:`protocol.initial_model`)."""
    protocol, hyper = config.split()
    return jax.jit(init_state, static_argnums=0)(protocol, hyper, jax.random.key(config.seed))


def train(
    config: TrainConfig, *, progress: bool = True, checkpoint_dir: str | os.PathLike | None = None
) -> tuple[HierarchicalModel, xr.Dataset]:
    """Train the feedback for ``config.sessions`` sessions; return the final model and the
    learning curves (see :mod:`.report`).

    ``checkpoint_dir``: write a checkpoint after every session there and, if it already holds
    checkpoints of this config, resume after the last one with ``session <= config.sessions``
    (the result equals an uninterrupted run's). Fields in :data:`RESUMABLE` may differ from the
    checkpoint's config, but every finished session's task must agree; any other difference
    raises a ``ValueError`` naming the field.

    >>> cfg = TrainConfig(sessions=1, neurons=16, units=8, trials_per_session=8, batch=8,
    ...     train_sweeps=6, train_burn_in=2, record_trials=4, samples=10, presignal=2, bins=2)
    >>> model, curves = train(cfg, progress=False)
    >>> curves.accuracy.dims
    ('session', 'mode', 'contrast')
    """
    protocol, hyper = config.split()
    step = session_step(config, protocol, hyper)

    def describe(session, out):
        acc = np.asarray(out.accuracy)[0, 1:].mean()
        task = config.session_task(session)
        return f"session {session} ({task}): {config.record_modes[0]} accuracy {acc:.3f}"

    t0 = time.perf_counter()
    with compile_time() as compiling:
        state, outputs = run_sessions(
            step, initial_state(config), config.sessions, checkpoint_dir=checkpoint_dir,
            config=config_dict(config), may_differ=RESUMABLE, progress=progress,
            describe=describe, session_meta=lambda s: {"tasks": config.session_task(s)},
        )  # fmt: skip
    curves = learning_curves(config, protocol, outputs)
    curves.attrs.update(
        wall_seconds=time.perf_counter() - t0,
        compile_seconds=compiling.seconds,
        **compiling.cache_attrs(),
    )
    return state.model, curves


def load_model(
    checkpoint_dir: str | os.PathLike, session: int, config: TrainConfig
) -> HierarchicalModel:
    """The model saved after session ``session`` of the run ``config`` in ``checkpoint_dir``."""
    protocol, hyper = config.split()
    state = initial_state(config)
    out_like = eqx.filter_eval_shape(session_step(config, protocol, hyper), state, session)[1]
    out_like = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_like)
    (state, _), _, _ = checkpoint.load_checkpoint(
        checkpoint_dir, session, (state, out_like), config=config_dict(config),
        may_differ=RESUMABLE,
    )  # fmt: skip
    return state.model


def main(config: TrainConfig) -> Path:
    """Train (resuming the run's checkpoints if any) and write the run folder
    ``<output>/train/<run_id>/``: config.json, versions.json, results.nc (the learning curves),
    model.eqx (the final model), summary.txt, checkpoints/ and, last, manifest.json (the final
    files are written as one unit: :func:`~bayescortex.experiments.results.write_together`).
    The folder is checked up front: an unwritable one fails before any computation."""
    folder = run_folder("train", config)
    cfg = config_dict(config)  # a non-finite field fails now, not when config.json is written
    check_output(folder.parent)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    model, ds = train(config, progress=True, checkpoint_dir=folder / "checkpoints")
    ds = ds.assign_attrs(experiment="train", config=json.dumps(cfg))
    text = summary_text(ds)
    write_together(folder, {
        "config.json": lambda p: p.write_text(json.dumps(cfg, indent=2)),
        "versions.json": lambda p: p.write_text(json.dumps(versions(), indent=2)),
        "results.nc": lambda p: ds.to_netcdf(p, engine="h5netcdf"),
        "model.eqx": lambda p: eqx.tree_serialise_leaves(p, model),
        "summary.txt": lambda p: p.write_text(text),
    })  # fmt: skip
    print(text, end="")
    print(f"written to {folder}")
    return folder
