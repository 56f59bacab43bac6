"""The experiment protocol as pure, compiled functions: train one session, record blocks.

Every experiment that trains the feedback over sessions and records responses is built from
the functions here, each a pure function of

- ``protocol``: a :class:`Protocol`, the hashable static part of a configuration (sizes, trial
  layout, which sampler and optimiser, how many signal levels). Changing it recompiles;
- ``hyper``: a :class:`Hyper`, an equinox Module whose leaves are arrays (learning rate,
  odds increment, contrast prior, initial feedback values, the contrasts shown, ...).
  Changing a value never recompiles, and a sweep can ``vmap`` over it;
- an explicit key.

One seed (an "animal") is a :class:`SeedState` (model, optimiser state, the parameters before
the last step); seeds are a leading array axis (``vmap``). Recording a block (its conditions a
leading axis too) and its streamed statistics are :mod:`.blocks`; every key constant is
:mod:`.keys`; default step sizes, the optimiser and the learned values as a named vector are
:mod:`.learning_setup`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from bayescortex.inference import InferenceMode, SamplerSettings, exposure, learning
from bayescortex.models import (
    CONTEXTS,
    CUES,
    NONE_CONTEXT,
    TASKS,
    FreeFormFeedback,
    HierarchicalModel,
    ParametricFeedback,
    Stimulus,
)

from .keys import EXPOSURE_KEY, SUBSET_KEY, TRAIN_BATCH_KEY, TRAIN_CONTRAST_KEY, session_key
from .learning_setup import optimizer


def default_chunk(backend: str | None = None) -> int:
    """Trials in flight per seed and condition when a config leaves it open: 64 on CPU (the
    working set stays in cache), 4096 on an accelerator (the trials are its parallelism)."""
    return 64 if (backend or jax.default_backend()) == "cpu" else 4096


class Protocol(NamedTuple):
    """The static part of a configuration: shapes, layout and algorithm choices (hashable)."""

    neurons: int = 64
    units: int = 64
    feedback: Literal["parametric", "free_form"] = "parametric"
    objective: Literal["conditional", "joint", "reward", "trial"] = "reward"
    learning_inference: Literal["behaving", "exact"] = "exact"
    optimizer: Literal["adam", "sgd"] = "adam"
    trials_per_session: int = 256
    batch: int = 32
    train_sweeps: int = 40
    train_burn_in: int = 10
    samples: int = 100
    presignal: int = 20
    burn_in: int = 3
    bins: int = 4
    trial_layout: Literal["reference", "presignal"] = "reference"
    frame_every: int = 8
    contrast_prior: Literal["slow", "clamped"] = "slow"
    x_sampler: Literal["gibbs", "mala"] = "gibbs"
    mala_steps: int = 5
    n_coherences: int = 4  # recorded coherences (their values: Hyper.coherences)
    zero_trials: int = 192
    trials_per_level: int = 96
    chunk: int = 512
    resamples: int = 100
    passive_exposure: int = 0  # fixation trials per session that update p(K | fixation)

    @classmethod
    def of(cls, config, **derived) -> Protocol:
        """The protocol of an experiment config: its fields of the same names, then ``derived``
        (what the config computes, e.g. ``n_coherences``); the others keep the defaults."""
        named = {f: getattr(config, f) for f in cls._fields if hasattr(config, f)}
        return cls(**(named | derived))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Trials of every recorded level in block order: zero signal, then ``+c``, ``-c`` per
        coherence (ascending)."""
        return (self.zero_trials,) + (self.trials_per_level,) * (2 * self.n_coherences)

    @property
    def n_levels(self) -> int:
        """Recorded signal levels: zero signal and ``+c``, ``-c`` per coherence."""
        return 2 * self.n_coherences + 1

    @property
    def record_trials(self) -> int:
        """Trials of one recorded block."""
        return sum(self.sizes)


class Hyper(eqx.Module):
    """Continuous hyperparameters: every leaf an array (vmappable, never recompiles).

    ``init_delta`` is the adult sensory coupling (the authors' 0.08), learned from the images at
    ``sensory_rate`` times the learning rate (0: fixed); ``init_kappa_o`` the category kernel of
    both tasks before training (0: a task-free middle layer); ``init_none_logit`` the initial
    logit of the ``none`` context against the tasks' 0, for both cues; ``perturbation`` the
    SPSA step ``c`` of the ``"reward"`` objective
    (:func:`bayescortex.inference.reward.spsa_trial`); ``apical_learning`` and
    ``apical_recording`` the apical gain ``g_a`` of the sensory neurons in the training chains
    (passive exposure's included) and in the recorded blocks
    (:class:`~bayescortex.inference.InferenceMode`; 0: blocked); ``exposure_rate`` the step of
    passive exposure's gradient ascent on the fixation cue's context logits, relative to
    ``learning_rate`` (:func:`expose`; unused unless ``Protocol.passive_exposure > 0``);
    ``choice_temperature`` how a behaving trial's choice follows its final belief
    (:func:`~bayescortex.inference.trial.decide`; 1: a sample from the belief, 0: the
    deterministic observer). ``coherences`` are the recorded blocks' unsigned contrasts,
    ascending (each shown at ``+c`` and ``-c``; as many as ``Protocol.n_coherences``),
    ``train_contrasts`` the signed contrasts training trials draw from (uniformly); their
    values are leaves like every other knob (a sweep over them compiles once), their counts
    are shapes.
    ``network_*``: the
    classic baselines' Adam step size, the weight ``lambda_TC`` of the total-correlation
    penalty of the efficient-coding baseline, and the weight ``lambda_E`` of both baselines'
    energy (L1) penalty.
    """

    learning_rate: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.05)
    odds_increment: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0 / 20)
    choice_temperature: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    contrast_init: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.1)
    contrast_step: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.1)
    mala_step_size: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.01)
    init_delta: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.08)
    init_kappa_o: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.0)
    sensory_rate: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.0)
    init_none_logit: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.0)
    perturbation: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.2)
    apical_learning: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    apical_recording: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    exposure_rate: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    kappa_g: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=3.0)
    init_scale: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.01)
    init_logit_scale: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.3)
    noise_sd: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    network_learning_rate: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=3e-4)
    network_tc: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0)
    network_energy: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1e-3)
    coherences: Float[Array, " coherences"] = eqx.field(
        converter=jnp.asarray, default=(3.0, 6.0, 9.0, 12.0)
    )
    train_contrasts: Float[Array, " train_contrasts"] = eqx.field(
        converter=jnp.asarray, default=(3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    )


def with_apical_gain(mode: InferenceMode, gain) -> InferenceMode:
    """``mode`` with its apical gain ``g_a`` set to ``gain`` (a traced hyperparameter)."""
    return eqx.tree_at(lambda m: m.apical_gain, mode, jnp.asarray(gain, mode.apical_gain.dtype))


class SeedState(NamedTuple):
    """Everything one seed carries from session to session."""

    model: HierarchicalModel
    opt_state: optax.OptState
    previous: HierarchicalModel  # parameters before the last optimiser step


class TrainInfo(NamedTuple):
    """Diagnostics of one training session (means over its trials)."""

    objective: Float[Array, ""]  # log p(O* | y) (conditional), EM Q (joint), reward (reward)
    context_match: Float[Array, ""]  # fraction of samples whose context is the trained task
    correct: Float[Array, ""]  # training accuracy of the free (reward: both) chains; joint NaN
    log_likelihood_change: Float[Array, ""]  # path integral of the gradient


# -- configuration -> sampler settings, model, optimiser ----------------------------------------


def _settings(protocol: Protocol, hyper: Hyper, **layout) -> SamplerSettings:
    return SamplerSettings(
        contrast_prior=protocol.contrast_prior,
        x_sampler=protocol.x_sampler,
        mala_steps=protocol.mala_steps,
        odds_increment=hyper.odds_increment,
        choice_temperature=hyper.choice_temperature,
        contrast_init=hyper.contrast_init,
        contrast_step=hyper.contrast_step,
        mala_step_size=hyper.mala_step_size,
        **layout,
    )


def record_settings(protocol: Protocol, hyper: Hyper) -> SamplerSettings:
    """Sampler settings of recorded trials (and of the conditional objective's training
    trials): ``protocol.trial_layout`` (see :class:`~bayescortex.inference.SamplerSettings`)."""
    return _settings(
        protocol, hyper, n_samples=protocol.samples, n_presignal=protocol.presignal,
        burn_in=protocol.burn_in, n_bins=protocol.bins, layout=protocol.trial_layout,
    )  # fmt: skip


def train_settings(protocol: Protocol, hyper: Hyper) -> SamplerSettings:
    """Sampler settings of the joint objective's clamped training chains: a plain chain of
    ``train_sweeps`` sweeps, each a sample (no pre-signal period, the initial draw not a
    sample; :func:`~bayescortex.inference.chains.exact_settings`)."""
    return _settings(
        protocol, hyper, n_samples=protocol.train_sweeps, n_presignal=0,
        burn_in=protocol.train_burn_in, n_bins=1, layout="presignal",
    )  # fmt: skip


def initial_model(protocol: Protocol, hyper: Hyper, key: PRNGKeyArray) -> HierarchicalModel:
    """The model before task training.

    Both families start from the adult sensory model: the coupling of strength
    ``init_delta`` (parametric; free-form: that matrix plus ``init_scale |N(0, 1)|``), and the
    context prior ``p(K | q)`` uniform over the tasks with logit ``init_none_logit`` for
    ``none``. Parametric: category kernels ``kappa_o = init_kappa_o`` for both tasks (0: the
    middle layer is task-free and the choice is at chance; the conditional gradient in
    ``kappa_o`` is informative there as long as ``delta > 0``). Free-form: task rows
    ``logit(1 / units) + init_logit_scale N(0, 1)`` (noise that breaks the symmetry between
    units). ``key`` is used by the free-form start.
    """
    n_x, n_g = protocol.neurons, protocol.units
    logits = jnp.zeros((len(CUES), len(CONTEXTS))).at[:, NONE_CONTEXT].set(hyper.init_none_logit)
    parametric = ParametricFeedback(
        n_x, n_g, delta=hyper.init_delta, kappa_o=hyper.init_kappa_o, kappa_g=hyper.kappa_g,
        context_logits=logits,
    )  # fmt: skip
    if protocol.feedback == "parametric":
        feedback = parametric
    else:
        k_c, k_u = jax.random.split(key)
        coupling = parametric.coupling() + hyper.init_scale * jnp.abs(
            jax.random.normal(k_c, (n_x, n_g))
        )
        base = math.log(1.0 / n_g) - math.log1p(-1.0 / n_g) if n_g > 1 else 0.0
        noise = jax.random.normal(k_u, (len(TASKS), 2, n_g))
        feedback = FreeFormFeedback(coupling, base + hyper.init_logit_scale * noise, logits)
    return HierarchicalModel(feedback)


def init_state(protocol: Protocol, hyper: Hyper, key: PRNGKeyArray) -> SeedState:
    """A naive seed: initial model and a fresh optimiser state."""
    # The free-form start: session 0's measures-subset salt (no measure of session 0 needs it).
    model = initial_model(protocol, hyper, jax.random.fold_in(session_key(key, 0), SUBSET_KEY))
    opt_state = optimizer(protocol, hyper).init(eqx.filter(model, learning.learnable(model)))
    return SeedState(model, opt_state, model)


# -- training -----------------------------------------------------------------------------------


def training_trials(protocol: Protocol, hyper: Hyper):
    """``(stimulus, settings, mode, chain)`` of a session's training trials under
    ``protocol.objective`` (:func:`train_session`; ``chain``: the trial objective's, else None)."""
    if protocol.objective == "joint":
        stimulus = Stimulus(noise_sd=hyper.noise_sd, frame_every=0)
        settings = train_settings(protocol, hyper)
    else:
        stimulus = Stimulus(noise_sd=hyper.noise_sd, frame_every=protocol.frame_every)
        settings = record_settings(protocol, hyper)
    # The trial objective's chains: train_sweeps sweeps over all of a trial's signal frames.
    chain = train_settings(protocol, hyper) if protocol.objective == "trial" else None
    mode = learning.BEHAVING_MODE
    # The reward objective is defined on the behaving decision: it never swaps the inference.
    if protocol.learning_inference == "exact" and protocol.objective != "reward":
        settings, mode = dataclasses.replace(settings, odds_increment=1.0), learning.EXACT_MODE
    mode = with_apical_gain(mode, hyper.apical_learning)
    return stimulus, settings, mode, chain


def train_session(
    protocol: Protocol, hyper: Hyper, state: SeedState, key: PRNGKeyArray, task
) -> tuple[SeedState, TrainInfo]:
    """One session of training trials (``lax.scan`` over minibatches).

    Each trial shows a training contrast in ``task`` with the task cue; the outcome reveals the
    category and the feedback takes one optax step per minibatch
    (:func:`bayescortex.inference.learning.fisher_step` with ``protocol.objective``).
    Conditional and reward objectives: the trials are behaving trials (the recording's trial
    layout, samples, pre-signal period and noise frames; the reward objective always with the
    behaving inference, whatever ``learning_inference`` says); joint: one static image and
    ``train_sweeps`` exact sweeps. ``key`` is the session key. With
    ``protocol.passive_exposure > 0`` the session ends with passive exposure (:func:`expose`,
    key ``fold_in(key, EXPOSURE_KEY)``), which moves the fixation cue's context prior only;
    the diagnostics are the task training's.
    """
    steps = protocol.trials_per_session // protocol.batch
    contrasts = hyper.train_contrasts
    picks = jax.random.randint(
        jax.random.fold_in(key, TRAIN_CONTRAST_KEY), (steps, protocol.batch), 0, contrasts.shape[0]
    )
    keys = jax.vmap(lambda b: jax.random.fold_in(jax.random.fold_in(key, TRAIN_BATCH_KEY), b))(
        jnp.arange(steps)
    )
    tasks = jnp.full((protocol.batch,), task, dtype=jnp.int32)
    opt = optimizer(protocol, hyper)
    stimulus, settings, mode, chain = training_trials(protocol, hyper)
    params, static = eqx.partition(state, eqx.is_array)

    def step(carry, inputs):
        model, opt_state, previous = eqx.combine(carry, static)
        k, picked = inputs
        before = model
        model, opt_state, info = learning.fisher_step(
            k, model, opt_state, opt, stimulus, tasks, contrasts[picked], settings,
            protocol.objective, hyper.sensory_rate, mode, hyper.perturbation, chain,
        )  # fmt: skip
        # The gradient at `before` from this minibatch times the step that led to `before`.
        gain = learning.path_increment(info.gradient, before, previous)
        new = SeedState(model, opt_state, before)
        means = (jnp.mean(info.objective), jnp.mean(info.context_match), jnp.mean(info.correct))
        return eqx.filter(new, eqx.is_array), (*means, gain)

    carry, (objective, match, correct, gain) = jax.lax.scan(step, params, (keys, picks))
    info = TrainInfo(jnp.mean(objective), jnp.mean(match), jnp.mean(correct), jnp.sum(gain))
    state = eqx.combine(carry, static)
    if protocol.passive_exposure:  # static: without exposure the session is as it always was
        model = expose(protocol, hyper, state.model, jax.random.fold_in(key, EXPOSURE_KEY), task)
        state = state._replace(model=model)
    return state, info


def expose(
    protocol: Protocol, hyper: Hyper, model: HierarchicalModel, key: PRNGKeyArray, task
) -> HierarchicalModel:
    """Passive exposure: ``protocol.passive_exposure`` fixation-cue trials, in minibatches of
    ``protocol.batch``, each minibatch one step of
    :func:`bayescortex.inference.exposure.exposure_step` (gradient ascent on ``log p(y | q =
    fixation)`` in the fixation cue's context logits, step ``exposure_rate * learning_rate``;
    exact Gibbs chains with the training chains' apical gain). Every other leaf of ``model``
    is left as it is, and no optimiser state is touched.

    The trials are the passive block's: the recording's layout, noise frames and task ``task``,
    and each trial's contrast drawn uniformly from the recorded block's trials
    (:func:`trial_table`: zero signal and the signed coherences in the block's proportions).
    ``key`` (``fold_in(session key, EXPOSURE_KEY)`` in :func:`train_session`) splits into the
    contrast draws and the trials; minibatch ``b``'s trial ``n`` uses ``fold_in(fold_in(trial
    key, b), n)``."""
    steps = protocol.passive_exposure // protocol.batch
    _, table = trial_table(protocol, hyper.coherences)
    k_pick, k_trials = jax.random.split(key)
    picks = jax.random.randint(k_pick, (steps, protocol.batch), 0, table.shape[0])
    contrasts = jnp.asarray(table, model.fields.dtype)[picks]
    keys = jax.vmap(lambda b: jax.random.fold_in(k_trials, b))(jnp.arange(steps))
    tasks = jnp.full((protocol.batch,), task, dtype=jnp.int32)
    stimulus = Stimulus(noise_sd=hyper.noise_sd, frame_every=protocol.frame_every)
    settings = record_settings(protocol, hyper)
    rate = hyper.exposure_rate * hyper.learning_rate
    params, static = eqx.partition(model, eqx.is_array)

    def step(carry, inputs):
        k, c = inputs
        new, _ = exposure.exposure_step(
            k, eqx.combine(carry, static), stimulus, tasks, c, settings, rate,
            hyper.apical_learning,
        )  # fmt: skip
        return eqx.filter(new, eqx.is_array), None

    params, _ = jax.lax.scan(step, params, (keys, contrasts))
    return eqx.combine(params, static)


# -- recording ----------------------------------------------------------------------------------


def signed_levels(coherences, xp=jnp) -> Float[Array, " levels"]:
    """Signed contrast of every recorded level in block order: 0, then ``+c``, ``-c`` per
    coherence (``coherences`` ascending); ``xp=numpy`` for a concrete (float64) array.

    >>> signed_levels(np.array([3.0, 6.0]), np).tolist()
    [0.0, 3.0, -3.0, 6.0, -6.0]
    """
    c = xp.asarray(coherences)
    return xp.concatenate([xp.zeros(1, c.dtype), xp.stack([c, -c], axis=1).reshape(-1)])


def trial_levels(protocol: Protocol) -> np.ndarray:
    """Static level index of every trial of a block, in block order."""
    return np.repeat(np.arange(protocol.n_levels), protocol.sizes)


def trial_table(protocol: Protocol, coherences) -> tuple[np.ndarray, Float[Array, " trials"]]:
    """Level index (static) and signed contrast (from the traced ``coherences``) of every trial
    of a block, in block order."""
    coherences, level = jnp.asarray(coherences), trial_levels(protocol)
    if coherences.shape != (protocol.n_coherences,):
        raise ValueError(f"coherences: need {protocol.n_coherences} values, got {coherences}")
    return level, signed_levels(coherences)[level]
