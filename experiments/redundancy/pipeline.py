"""The redundancy experiment as pure compiled functions of (static, hyperparameters, key).

:func:`seed_step` is one session of one seed: train (sessions >= 1), record the engaged and
passive blocks with the same stimuli (a condition axis), stream them into statistics and
reduce those to measures for the data and every bootstrap replicate. :func:`session_step`
vmaps it over seeds; :func:`control_step` records the controls (the ablations
``coupling_only`` and ``no_accumulation``, and the task switch) the same way. Nothing in a
session leaves the compiled program but the measures, the training diagnostics and the
learned parameters, so memory does not grow with trials, and no hyperparameter value, seed or
session recompiles anything.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayescortex.inference import inference_mode

from ..protocol import (
    PARAMETER_NAMES,
    Conditions,
    Hyper,
    SeedState,
    TrainInfo,
    accuracy,
    bootstrap_key,
    conditions,
    feedback_parameters,
    init_state,
    record,
    session_key,
    train_session,
)
from .config import Static
from .measures import Analysis, replicate_measures

MODES = ("engaged", "passive")
CONTROLS = ("coupling_only", "no_accumulation", "switch_engaged", "switch_passive")


class SessionOutput(NamedTuple):
    """What one session leaves behind (per seed; leading seed axis when vmapped)."""

    point: dict  # measure -> (modes, ...)
    resampled: dict  # measure -> (modes, resamples, ...)
    accuracy: jax.Array  # (modes, levels), the data
    train: TrainInfo
    parameters: jax.Array  # delta, kappa_o, kappa_g, task logits (parametric; else empty)


def analysis_of(static: Static) -> Analysis:
    p = static.protocol
    return Analysis.for_model(p.coherences, p.neurons, static.task, static.subset_size, p.bins)


def _parameters(state: SeedState) -> jax.Array:
    return feedback_parameters(state.model.feedback)


def parameter_names(static: Static) -> list[str]:
    return list(PARAMETER_NAMES) if static.protocol.feedback == "parametric" else []


def main_conditions(static: Static) -> Conditions:
    """Engaged and passive, on the trained task."""
    return conditions([inference_mode(m) for m in MODES], [static.task] * len(MODES))


def control_conditions(static: Static) -> list[Conditions]:
    """The controls, in pairs shaped like :func:`main_conditions` (one compilation serves
    all): the ablations on the trained task, then engaged and passive on the other task."""
    other = 1 - static.task
    ablations = conditions([inference_mode(m) for m in ("coupling_only", "no_accumulation")],
                           [static.task] * 2)  # fmt: skip
    switch = conditions([inference_mode(m) for m in MODES], [other] * 2)
    return [ablations, switch]


def seed_train(static: Static, hyper: Hyper, state: SeedState, seed_key, session):
    """Train one seed for session ``session >= 1`` (its key: ``fold_in(seed key, session)``)."""
    return train_session(static.protocol, hyper, state, session_key(seed_key, session), static.task)


def seed_record(static: Static, hyper: Hyper, state: SeedState, seed_key, session, conds, stream=0):
    """Record ``conds`` after session ``session`` and reduce them to measures:
    ``(point, resampled, accuracy)`` with a leading condition axis. Every condition sees the
    session's recording images (``fold_in(session key, 1)``); ``stream`` (0 for the main
    blocks, 1, 2, ... for the controls) selects the neuron subsets of the measures."""
    skey = session_key(seed_key, session)
    stats = record(
        static.protocol, hyper, state.model, jax.random.fold_in(skey, 1),
        bootstrap_key(seed_key), conds,
    )  # fmt: skip
    key = jax.random.fold_in(jax.random.fold_in(skey, 3), stream)
    point, resampled = replicate_measures(
        analysis_of(static), stats, key,
        n_subsets=static.subsets, boot_subsets=static.bootstrap_subsets,
    )  # fmt: skip
    return point, resampled, accuracy(stats)


def seed_step(
    static: Static, hyper: Hyper, state: SeedState, seed_key, session: int
) -> tuple[SeedState, SessionOutput]:
    """One session of one seed: train (``session >= 1``), record engaged and passive blocks,
    measure. The composition of :func:`seed_train` and :func:`seed_record`."""
    info = TrainInfo(*(jnp.full((), jnp.nan),) * 2, jnp.zeros(()))
    if session > 0:
        state, info = seed_train(static, hyper, state, seed_key, session)
    point, resampled, acc = seed_record(
        static, hyper, state, seed_key, session, main_conditions(static)
    )
    return state, SessionOutput(point, resampled, acc, info, _parameters(state))


@functools.partial(jax.jit, static_argnums=0)
def train_seeds(static: Static, hyper: Hyper, states: SeedState, seed_keys, session):
    """:func:`seed_train` vmapped over seeds (one compilation for every session)."""
    return jax.vmap(seed_train, in_axes=(None, None, 0, 0, None))(
        static, hyper, states, seed_keys, session
    )


@functools.partial(jax.jit, static_argnums=0)
def record_seeds(
    static: Static, hyper: Hyper, states: SeedState, seed_keys, session, conds, stream
):
    """:func:`seed_record` vmapped over seeds (one compilation for every session and for the
    controls)."""
    return jax.vmap(seed_record, in_axes=(None, None, 0, 0, None, None, None))(
        static, hyper, states, seed_keys, session, conds, stream
    )


def session_step(static: Static, hyper: Hyper, states: SeedState, seed_keys, session: int):
    """:func:`seed_step` of every seed (leading seed axis), from the two compiled programs."""
    info = TrainInfo(*(jnp.full((len(seed_keys),), jnp.nan),) * 2, jnp.zeros(len(seed_keys)))
    if session > 0:
        states, info = train_seeds(static, hyper, states, seed_keys, session)
    # Every argument passed positionally, as controls_step does: one compilation serves both.
    point, resampled, acc = record_seeds(
        static, hyper, states, seed_keys, session, main_conditions(static), 0
    )
    params = jax.vmap(_parameters)(states)
    return states, SessionOutput(point, resampled, acc, info, params)


def controls_step(static: Static, hyper: Hyper, states: SeedState, seed_keys, session: int):
    """The control blocks of every seed after ``session``: ``(point, resampled)`` with axes
    ``(seed, control, ...)`` over :data:`CONTROLS` (same images as the main blocks)."""
    parts = [record_seeds(static, hyper, states, seed_keys, session, c, i + 1)
             for i, c in enumerate(control_conditions(static))]  # fmt: skip
    return tuple(
        jax.tree.map(lambda *a: jnp.concatenate(a, axis=1), *[p[i] for p in parts]) for i in (0, 1)
    )


@functools.partial(jax.jit, static_argnums=0)
def init_states(static: Static, hyper: Hyper, seed_keys) -> SeedState:
    """Naive states of every seed (leading seed axis)."""
    return jax.vmap(lambda k: init_state(static.protocol, hyper, k))(seed_keys)


def seed_keys(root_seed: int, n_seeds: int) -> jax.Array:
    """Seed ``s`` of a run: ``fold_in(key(root_seed), s)``."""
    root = jax.random.key(root_seed)
    return jax.vmap(lambda s: jax.random.fold_in(root, s))(jnp.arange(n_seeds))
