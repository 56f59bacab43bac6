"""The redundancy experiment as pure compiled functions of (static, hyperparameters, key).

One session of one seed is :func:`seed_train` (sessions >= 1), then :func:`seed_record`: record
the engaged and passive blocks with the same stimuli (a condition axis) and stream them into
statistics, then :func:`seed_measures`: reduce those to measures for the data and every
bootstrap replicate. :func:`session_step` runs it for every configuration (hyperparameters
with a leading axis) and seed at once; :func:`controls_step` records the controls (the other
definition of passive viewing, the ablations ``coupling_only`` and ``no_accumulation``, the
task switch, frozen noise) the same way. The configuration axis is laid out by a
:class:`Placement`: vectorised, ``lax.map``-ped in batches, or split over local devices with
``shard_map``; the recording (the sampler, the larger part of a session's time) also splits
a block's two conditions over two devices, and so do the measures (neither calls a library
kernel on CPU). Nothing
in a session leaves the compiled programs but the statistics (bounded by neurons and
resamples), the measures, the training diagnostics and the learned parameters, so memory does
not grow with trials, and no hyperparameter value, seed or session recompiles anything.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.inference import inference_mode

from ..blocks import Conditions, accuracy, conditions, context_posterior, record
from ..keys import RECORDING_KEY, SUBSET_KEY, bootstrap_key, session_key
from ..learning_setup import feedback_parameters
from ..learning_setup import parameter_names as protocol_parameter_names
from ..placement import VECTORISED, Placement, over_configs, put
from ..placement import seed_keys as seed_keys  # re-exported: the pipeline's seed axis
from ..placement import stack_configs as stack_configs  # and its configuration axis
from ..protocol import Hyper, SeedState, TrainInfo, init_state, train_session
from .config import Static
from .measures import Analysis, reference_dprime, replicate_measures
from .selection import selection_key, selection_protocol

RECORDED_MODES = ("engaged", "passive")
"""The values of the results' ``mode`` dimension: the two recorded conditions of every session
(not the inference modes of :data:`bayescortex.inference.MODES`)."""
TASK_CUE, FIXATION_CUE = 0, 1


class SessionOutput(NamedTuple):
    """What one session leaves behind (per seed; leading seed axis when vmapped)."""

    point: dict  # measure -> Named (experiments.named), leading axes (modes,)
    resampled: dict  # measure -> Named, leading axes (modes, resamples)
    accuracy: jax.Array  # (modes, levels), the data
    context: jax.Array  # (modes, bins, contexts): mean p_t(K | q, y) per time bin, the data
    train: TrainInfo
    parameters: jax.Array  # learning_setup.feedback_parameters, named by parameter_names


def analysis_of(static: Static, hyper: Hyper) -> Analysis:
    p = static.protocol
    return Analysis.for_model(hyper.coherences, p.neurons, static.task, static.subset_size, p.bins)


def _parameters(state: SeedState) -> jax.Array:
    return feedback_parameters(state.model.feedback)


def parameter_names(static: Static) -> list[str]:
    return protocol_parameter_names(static.protocol.feedback)


PASSIVE = {"fixation": ("engaged", FIXATION_CUE), "cut": ("cut", TASK_CUE)}
"""How each definition of passive viewing is recorded: (inference mode, cue)."""


def main_conditions(static: Static) -> Conditions:
    """Engaged (full inference, task cue) and passive (:data:`PASSIVE`), on the trained task."""
    mode, cue = PASSIVE[static.passive]
    return conditions(
        [inference_mode("engaged"), inference_mode(mode)], [static.task] * 2, [TASK_CUE, cue]
    )


def controls(static: Static) -> tuple[str, ...]:
    """Names of the controls: passive viewing by the other definition, the two ablations,
    engaged on the other task's stimuli, and engaged and passive with frozen noise (every
    trial of a level shows the same images: only variability generated inside the model)."""
    other = next(p for p in PASSIVE if p != static.passive)
    return (
        f"passive_{other}", "coupling_only", "no_accumulation", "switch_engaged",
        "frozen_engaged", "frozen_passive",
    )  # fmt: skip


def control_conditions(static: Static) -> list[Conditions]:
    """The controls (:func:`controls`), in pairs shaped like :func:`main_conditions` (one
    compilation serves all)."""
    other = next(p for p in PASSIVE if p != static.passive)
    mode, cue = PASSIVE[other]
    first = conditions(
        [inference_mode(mode), inference_mode("coupling_only")], [static.task] * 2,
        [cue, TASK_CUE],
    )  # fmt: skip
    second = conditions(
        [inference_mode("no_accumulation"), inference_mode("engaged")],
        [static.task, 1 - static.task], [TASK_CUE, TASK_CUE],
    )  # fmt: skip
    main = main_conditions(static)
    frozen = main._replace(frozen=jnp.ones_like(main.frozen))
    return [first, second, frozen]


def seed_train(static: Static, hyper: Hyper, state: SeedState, seed_key, session):
    """Train one seed for session ``session >= 1`` (its key: ``fold_in(seed key, session)``),
    then, with ``passive_exposure > 0``, expose it to fixation trials that update the fixation
    cue's context prior (:func:`~bayescortex.experiments.protocol.expose`)."""
    return train_session(static.protocol, hyper, state, session_key(seed_key, session), static.task)


def seed_record(static: Static, hyper: Hyper, state: SeedState, seed_key, session, conds):
    """Record ``conds`` after session ``session`` and stream them into statistics
    (:class:`~bayescortex.experiments.blocks.BlockStats` with a leading condition axis),
    with each condition's d' per neuron in a held-out block (:func:`seed_dprime`). Every
    condition sees the session's recording images (``fold_in(session key, 1)``)."""
    skey = session_key(seed_key, session)
    stats = record(
        static.protocol, hyper, state.model, jax.random.fold_in(skey, RECORDING_KEY),
        bootstrap_key(seed_key), conds,
    )  # fmt: skip
    return stats, seed_dprime(static, hyper, state, skey, conds)


def seed_measures(static: Static, hyper: Hyper, stats, dprime, seed_key, session, stream=0):
    """The measures of a seed's recorded blocks: ``(point, resampled, accuracy, context)``
    with a leading condition axis. ``dprime`` (per neuron, :func:`seed_dprime`, from the
    held-out block) ranks the d' groups; ``stream`` (0 for the main blocks, 1, 2, ... for the
    controls) selects the neuron subsets of the measures."""
    key = jax.random.fold_in(jax.random.fold_in(session_key(seed_key, session), SUBSET_KEY), stream)
    point, resampled = replicate_measures(
        analysis_of(static, hyper), stats, key,
        n_subsets=static.subsets, boot_subsets=static.bootstrap_subsets, dprime=dprime,
    )  # fmt: skip
    return point, resampled, accuracy(stats), context_posterior(stats)[:, 0]


def seed_dprime(static: Static, hyper: Hyper, state: SeedState, skey, conds):
    """Each neuron's d' in every condition of ``conds``, ``(conditions, neurons)``, measured on
    a short block held out from the recorded ones (:mod:`.selection`: its own images and chains,
    ``fold_in(session key, SELECTION_KEY)``, a quarter of the trials, no resamples), so that
    the d' groups are not chosen on the data they are measured on. The second condition's (the
    passive block of the main pair) ranks the d' groups of every condition's measures.
    Recorded where each condition is, so that only this small array has to reach the other
    condition's device."""
    analysis = analysis_of(static, hyper)
    key = selection_key(skey)  # the held-out block's images, chains and (unused) weights
    held = record(selection_protocol(static.protocol), hyper, state.model, key, key, conds)
    n = jax.tree.leaves(conds)[0].shape[0]
    return jax.vmap(lambda c: reference_dprime(analysis, held, c))(jnp.arange(n))


def _train_one(static, hyper, states, keys, session):
    return jax.vmap(seed_train, in_axes=(None, None, 0, 0, None))(
        static, hyper, states, keys, session
    )


def _record_one(static, hyper, states, keys, session, conds):
    return jax.vmap(seed_record, in_axes=(None, None, 0, 0, None, None))(
        static, hyper, states, keys, session, conds
    )


def _measures_one(static, hyper, stats, dprime, keys, session, stream):
    return jax.vmap(seed_measures, in_axes=(None, None, 0, 0, 0, None, None))(
        static, hyper, stats, dprime, keys, session, stream
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def train_configs(static: Static, placement: Placement, hypers: Hyper, states, keys, session):
    """:func:`seed_train` of every configuration and seed (leading axes ``(config, seed)``;
    one compilation for every session)."""
    one = functools.partial(_train_one, static)
    return over_configs(one, placement, 3)(hypers, states, keys, session)


@functools.partial(jax.jit, static_argnums=(0, 1))
def record_configs(
    static: Static, placement: Placement, hypers: Hyper, states, keys, session, conds
):  # fmt: skip
    """:func:`seed_record` of every configuration and seed: statistics and d' with leading
    axes ``(config, seed, condition)``, the conditions split over ``placement.conditions`` devices
    (one compilation for every session and for the controls). It calls no library kernel
    (LAPACK, TopK), so it may run on several CPU host devices (a test checks)."""
    one = functools.partial(_record_one, static)
    return over_configs(one, placement, 3, split=(4, 2))(hypers, states, keys, session, conds)


@functools.partial(jax.jit, static_argnums=(0, 1))
def measure_configs(
    static: Static, placement: Placement, hypers: Hyper, stats, dprime, keys, session, stream
):  # fmt: skip
    """:func:`seed_measures` of every configuration and seed, the conditions split over
    ``placement.conditions`` devices as in the recording (each condition's measures need its
    own block and ``dprime`` only). Like the recording it calls no library kernel on CPU (the
    random subsets are drawn with a sort, the whitening is a loop Cholesky; a test checks)."""
    one = functools.partial(_measures_one, static)
    return over_configs(one, placement, 4, split=(1, 2))(
        hypers, stats, dprime, keys, session, stream
    )


def record_and_measure(
    static: Static, placement: Placement, hypers: Hyper, states, keys, session, conds, stream
):  # fmt: skip
    """Record ``conds`` (:func:`record_configs`), then measure them (:func:`measure_configs`),
    both with the conditions split as ``placement`` says."""
    args = put((hypers, states, keys), placement, 3, split=True)
    stats, dprimes = record_configs(static, placement, *args, session, conds)
    return measure_configs(
        static, placement, args[0], stats, reference(dprimes, placement), args[2], session,
        stream,
    )  # fmt: skip


def reference(dprimes, placement: Placement):
    """The reference condition's d' (the second: the held-out passive block), replicated onto
    the measures' devices. It goes through the host: the conditions' devices exchange nothing
    inside a program (an XLA:CPU collective between host devices aborts after 40 s when a
    loaded machine delays one device)."""
    if isinstance(dprimes, jax.core.Tracer):  # traced (a resumed run's shapes): no host
        return dprimes[:, :, 1]
    return put((np.asarray(dprimes)[:, :, 1],), placement, 1, split=True)[0]


def session_step(
    static: Static, hypers: Hyper, states: SeedState, keys, session: int,
    placement: Placement = VECTORISED,
):  # fmt: skip
    """One session (:func:`seed_train`, then :func:`seed_record` and :func:`seed_measures` of
    the main conditions) of every configuration and seed: ``hypers`` has a leading
    configuration axis, ``states`` and ``keys`` leading ``(config, seed)`` axes, and so have
    the outputs. From three compiled programs (training, recording, measures)."""
    lead = keys.shape
    info = TrainInfo(*(jnp.full(lead, jnp.nan),) * 3, jnp.zeros(lead))
    if session > 0:
        args = put((hypers, states, keys), placement, 3)
        states, info = train_configs(static, placement, *args, session)
    # Every argument passed positionally, as controls_step does: one compilation serves both.
    point, resampled, acc, ctx = record_and_measure(
        static, placement, hypers, states, keys, session, main_conditions(static), 0
    )
    params = jax.vmap(jax.vmap(_parameters))(states)
    return states, SessionOutput(point, resampled, acc, ctx, info, params)


def controls_step(
    static: Static, hypers: Hyper, states: SeedState, keys, session: int,
    placement: Placement = VECTORISED,
):  # fmt: skip
    """The control blocks of every configuration and seed after ``session``: ``(point,
    resampled)`` with axes ``(config, seed, control, ...)`` over :func:`controls` (same images
    as the main blocks)."""
    parts = [record_and_measure(static, placement, hypers, states, keys, session, c, i + 1)
             for i, c in enumerate(control_conditions(static))]  # fmt: skip
    # Joined on the host: the parts are split over the conditions' devices, and a jax
    # concatenate of them would be a program with an all-gather between those devices (seen
    # to abort a run on a loaded machine; see :func:`reference`).
    # Traced (a resumed run's shapes, jax.eval_shape): jnp, which is never compiled there.
    traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(parts))
    join = (
        (lambda *a: jnp.concatenate(a, axis=2))
        if traced
        else (lambda *a: np.concatenate([np.asarray(x) for x in a], axis=2))
    )
    return tuple(jax.tree.map(join, *[p[i] for p in parts]) for i in (0, 1))


@functools.partial(jax.jit, static_argnums=0)
def init_states(static: Static, hypers: Hyper, keys) -> SeedState:
    """Naive states of every configuration and seed (leading axes ``(config, seed)``)."""
    one = lambda hyper, ks: jax.vmap(lambda k: init_state(static.protocol, hyper, k))(ks)  # noqa: E731
    return jax.vmap(one)(hypers, keys)
