"""The experiment protocol as pure, compiled functions: train one session, record blocks.

Every experiment that trains the feedback over sessions and records responses is built from
the functions here, each a pure function of

- ``protocol``: a :class:`Protocol`, the hashable static part of a configuration (sizes, trial
  layout, which sampler and optimiser, the recorded signal levels). Changing it recompiles;
- ``hyper``: a :class:`Hyper`, an equinox Module whose leaves are arrays (learning rate,
  odds increment, contrast prior, initial feedback values, ...). Changing a value never
  recompiles, and a sweep can ``vmap`` over it;
- an explicit key.

One seed (an "animal") is a :class:`SeedState` (model, optimiser state, the parameters before
the last step); seeds are a leading array axis (``vmap``), as are the recorded conditions
(inference mode, task shown and cue; :class:`Conditions`). Signal trials are never kept:
they stream into level sums (per time bin and for the whole trial) and the number correct per
level, for the data and ``resamples`` Poisson-bootstrap resamples at once. The zero-signal
trials, a fixed number per block and small (at paper scale 1,024 trials x 5 features x 256
neurons, 5 MB), are kept one by one with their bootstrap weights: each replicate's zero-signal
covariance is computed from them when it is measured (:func:`replicate_moments`), one
replicate at a time, instead of streaming ``resamples + 1`` covariances through the
recording. Memory is bounded by ``chunk`` trials in flight and the zero-signal trials, whatever
the number of signal trials.

Keys: session ``s`` of a seed uses ``fold_in(seed key, s)``; within a session,

- 0: its training minibatch ``b``, ``fold_in(fold_in(session key, 0), b)``;
- 1: its recording (the same images in every condition);
- 2: its training contrasts;
- 3: the redundancy experiment's neuron subsets of the measures (``fold_in(fold_in(session
  key, 3), stream)``), and in session 0 the free-form feedback's initial noise
  (:func:`init_state`);
- 4: the redundancy experiment's held-out block that ranks the d' groups
  (:data:`~bayescortex.experiments.redundancy.selection.SELECTION_KEY`);
- 5: its passive exposure (:data:`EXPOSURE_KEY`, :func:`expose`).

Keys of a seed that no session uses (constants far above any session index):
``fold_in(seed key, BOOTSTRAP_KEY)``, ``BOOTSTRAP_KEY = 2**31 - 1``, draws the bootstrap
weights per trial id (the same resamples in every block of a seed), and
``fold_in(seed key, NETWORK_KEY)``, ``NETWORK_KEY = 2**31 - 2``, seeds the classic baselines.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from bayescortex.analysis.moments import (
    HIGHEST,
    SignalMoments,
    add_means,
    empty_moments,
    moments_from_trials,
    poisson_weights,
)
from bayescortex.analysis.recording import SignalLayout
from bayescortex.inference import InferenceMode, SamplerSettings, exposure, gibbs, learning
from bayescortex.inference.trial import simulate_trial
from bayescortex.models import (
    CONTEXTS,
    CUES,
    NONE_CONTEXT,
    TASKS,
    FreeFormFeedback,
    HierarchicalModel,
    ParametricFeedback,
    Stimulus,
    is_correct,
)

FROZEN_IMAGES = 2**30
"""Frozen-noise blocks draw the images of level ``l`` from ``fold_in(key, FROZEN_IMAGES + l)``
(trial ids stay below it)."""

BOOTSTRAP_KEY = 2**31 - 1
"""``fold_in(seed key, BOOTSTRAP_KEY)`` draws the Poisson bootstrap weights (never a session)."""

EXPOSURE_KEY = 5
"""``fold_in(session key, EXPOSURE_KEY)`` draws a session's passive-exposure trials (:func:`expose`;
the other keys of a session: 0 training minibatches, 1 the recording, 2 training contrasts, 3
the measures' subsets and the free-form start, 4 the held-out d' block)."""

NETWORK_KEY = 2**31 - 2
"""``fold_in(seed key, NETWORK_KEY)`` seeds the classic baselines (recording, training, measures;
never a session: sessions use ``fold_in(seed key, session)``)."""


def default_chunk(backend: str | None = None) -> int:
    """Trials in flight per seed and condition when a config leaves it open: 64 on CPU (the
    sampler's working set stays in cache), 4096 on an accelerator (which only a large batch
    fills: the coordinate scan is sequential, so the trials are its parallelism)."""
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
    train_contrasts: tuple[float, ...] = (3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    samples: int = 100
    presignal: int = 20
    burn_in: int = 3
    bins: int = 4
    trial_layout: Literal["reference", "presignal"] = "reference"
    frame_every: int = 8
    contrast_prior: Literal["slow", "clamped"] = "slow"
    x_sampler: Literal["gibbs", "mala"] = "gibbs"
    mala_steps: int = 5
    coherences: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    zero_trials: int = 192
    trials_per_level: int = 96
    chunk: int = 512
    resamples: int = 100
    passive_exposure: int = 0  # fixation trials per session that update p(K | fixation)

    @property
    def layout(self) -> SignalLayout:
        """Recorded levels in block order: zero signal, then ``+c``, ``-c`` per coherence."""
        n = len(self.coherences)
        return SignalLayout(
            tuple(self.coherences), self.zero_trials, (self.trials_per_level,) * n,
            (self.trials_per_level,) * n,
        )  # fmt: skip

    @property
    def levels(self) -> np.ndarray:
        """Signed contrast of every level, in block order."""
        signed = [s * c for c in self.coherences for s in (1.0, -1.0)]
        return np.asarray([0.0, *signed])

    @property
    def record_trials(self) -> int:
        """Trials of one recorded block."""
        return self.layout.n_trials


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
    ``learning_rate`` (:func:`expose`; unused unless ``Protocol.passive_exposure > 0``).
    ``network_*``: the
    classic baselines' Adam step size, the weight ``lambda_TC`` of the total-correlation
    penalty of the efficient-coding baseline, and the weight ``lambda_E`` of both baselines'
    energy (L1) penalty.
    """

    learning_rate: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.05)
    odds_increment: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0 / 20)
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


class Conditions(NamedTuple):
    """Recorded conditions, a leading axis: inference mode knobs, the task shown, the cue
    (0: task trial, 1: passive fixation), and frozen noise (1: every trial of a level sees the
    same noise images, so the block's covariance holds only variability generated inside the
    model; 0: fresh noise every trial)."""

    mode: InferenceMode
    task: Int[Array, " conditions"]
    cue: Int[Array, " conditions"]
    frozen: Int[Array, " conditions"]


def conditions(
    modes: list[InferenceMode], tasks: list[int], cues: list[int], frozen: list[int] | None = None
) -> Conditions:
    """Stack modes, tasks, cues and frozen-noise flags (default: fresh noise) into a
    :class:`Conditions` axis."""
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *modes)
    frozen = [0] * len(modes) if frozen is None else frozen
    return Conditions(stacked, *(jnp.asarray(v, dtype=jnp.int32) for v in (tasks, cues, frozen)))


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


class ZeroTrials(NamedTuple):
    """The zero-signal trials of a block, kept one by one: every replicate's zero-signal
    covariance comes from them (:func:`replicate_moments`), and so do the measures that are not
    moments (choice probability, psychophysical kernels)."""

    responses: Float[Array, "trials features neurons"]  # each time bin, then the whole trial
    choice: Int[Array, " trials"]  # 0: the first category
    energy: Float[Array, "trials frames"]  # each signal frame's energy along the task axis
    weights: Float[Array, "replicates trials"]  # row 0 the data, then the bootstrap resamples


class BlockStats(NamedTuple):
    """Streamed statistics of recorded blocks; leading axes ``(..., replicate)``.

    Replicate 0 is the data, ``1..resamples`` Poisson-bootstrap resamples. Responses have
    features ``(bins + 1, neurons)``: each time bin, then the whole trial. ``trials`` (no
    replicate axis: its weights carry the replicates) keeps the zero-signal trials. Where
    ``trials`` is kept, ``moments`` holds the level sums only (its zero-signal fields are
    ``None``); :func:`replicate_moments` completes one replicate's.
    """

    moments: SignalMoments
    correct: Float[Array, "*replicates levels"]  # weighted number of correct choices
    context: Float[Array, "*replicates bins contexts"] | None = None
    """Weighted sum of ``p_t(K | q, y)`` (sampling model only)."""
    trials: ZeroTrials | None = None
    signal_second: Float[Array, "*replicates neurons neurons"] | None = None
    """Weighted sum of ``x x^T`` of the signal trials' whole-trial responses: with the level
    totals and the zero-signal scatter it gives the covariance pooled over all levels."""


APICAL_BLOCKS = ("none", "learning", "recording", "both")
"""Values of ``apical_block``: where the sensory neurons' apical gain is 0."""


@dataclasses.dataclass(frozen=True)
class LearningOptions:
    """How the feedback learns and how passive viewing is modelled: the fields every experiment
    config that trains the model shares (inherit them)."""

    objective: Literal["conditional", "joint", "reward", "trial"] = "reward"
    """What learning ascends (default 'reward'): 'conditional', log p(O* | y) of the revealed
    category (clamped minus free chain; no finite optimum in kappa_o, so it overshoots);
    'joint', log p(y, O*) (stochastic EM, the first version's objective, which overshoots);
    'reward', the expected reward (accuracy) of the behaving decision, by SPSA with common
    random numbers (its optimum is where behaving accuracy peaks); 'trial', the trial-level
    likelihood log p(O* | y_1..F) with one (K, O) for the whole trial and every signal frame's
    evidence combined (exact chains of train_sweeps sweeps over all frames at once)."""
    learning_inference: Literal["behaving", "exact"] = "exact"
    """The chains of conditional learning: 'exact', Gibbs sampling of the posterior given the
    current frame (odds 1, no memory), whose clamped-minus-free estimate is the gradient;
    'behaving', the decision's tempered evidence accumulator (one inference for learning and
    behaviour, but the estimate is then biased: measured, its sign can be wrong). The 'reward'
    objective always runs the behaving inference (what it optimises is that decision)."""
    passive: Literal["fixation", "cut"] = "fixation"
    """How passive viewing is modelled: 'fixation', the fixation cue with the same sampler
    (engagement is inferred); 'cut', the authors' top-down path cut (alpha = 0)."""
    delta: float = 0.08
    """Sensory coupling delta_0 of the adult sensory model, in [0, 100] (the authors' trained
    value 0.08)."""
    sensory_rate: float = 0.0
    """Learning rate of the sensory coupling relative to learning_rate, in [0, 100], from the
    marginal likelihood of the images (0: fixed; the 'joint' objective learns it from the
    outcome)."""
    kappa_o: float = 0.0
    """Category kernel of both tasks before training, in [0, 100] (parametric; 0: a task-free
    middle layer)."""
    none_logit: float = 0.0
    """Initial logit of the 'none' context against the tasks' 0, for both cues, in [-50, 50]
    (0: uniform)."""
    perturbation: float = 0.2
    """Reward objective: SPSA perturbation size c (theta +- c Delta, Delta = +-1 per
    parameter), in (0, 10]; ignored by the other objectives."""
    apical_gain: float = 1.0
    """Apical gain g_a of the sensory neurons, in [0, 1]: the share of the top-down drive
    (tau - 1) that reaches them, the BCI model's parameter of the same name (the layers above
    still read the neurons in full). Applies where apical_block does not block it."""
    apical_block: Literal["none", "learning", "recording", "both"] = "none"
    """Where g_a is 0: 'learning', the training chains (the learning sessions); 'recording',
    the recorded blocks; 'both'; 'none'."""
    passive_exposure: int = 0
    """Fixation-cue trials per training session, after the task training, whose images (no
    outcome) update the fixation cue's context prior p(K | fixation) by ascending the marginal
    likelihood log p(y | fixation): posterior over K (exact Gibbs chains) minus prior, in
    minibatches of batch trials (a multiple of batch; 0: the prior stays as set). The images
    are the passive block's: the trained task's stimuli at the recorded contrasts (with
    passive='cut' the passive block does not read this prior)."""
    exposure_rate: float = 1.0
    """Step size of passive exposure's gradient ascent, relative to learning_rate, in [0, 100]
    (plain gradient steps, not Adam: the step vanishes where the prior equals the mean
    posterior; stable while exposure_rate * learning_rate < 2). Ignored when passive_exposure
    is 0."""

    def check_learning(self) -> None:
        """ValueError naming the first learning field out of range."""
        if self.objective not in learning.OBJECTIVES:
            raise ValueError(f"objective: one of {learning.OBJECTIVES}, got {self.objective!r}")
        if self.apical_block not in APICAL_BLOCKS:
            raise ValueError(f"apical_block: one of {APICAL_BLOCKS}, got {self.apical_block!r}")
        if not 0 <= self.apical_gain <= 1:
            raise ValueError(f"apical_gain: must lie in [0, 1], got {self.apical_gain}")
        exposure = self.passive_exposure
        if isinstance(exposure, bool) or not isinstance(exposure, int) or exposure < 0:
            raise ValueError(f"passive_exposure: a number of trials >= 0, got {exposure!r}")
        batch = getattr(self, "batch", 1)  # the experiment config's minibatch size
        if exposure % batch:
            raise ValueError(
                f"passive_exposure: must be a multiple of batch ({batch}), got {exposure}"
            )
        names = ("delta", "sensory_rate", "kappa_o", "none_logit", "perturbation", "exposure_rate")
        for name in names:
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value}")
            if name != "none_logit" and value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        if not self.perturbation > 0:
            raise ValueError(f"perturbation: must be positive, got {self.perturbation}")

    def learning_hyper(self) -> dict:
        """The :class:`Hyper` fields these options set."""
        return dict(
            init_delta=self.delta, sensory_rate=self.sensory_rate, init_kappa_o=self.kappa_o,
            init_none_logit=self.none_logit, perturbation=self.perturbation,
            exposure_rate=self.exposure_rate,
            apical_learning=self.apical_gain * (self.apical_block not in ("learning", "both")),
            apical_recording=self.apical_gain * (self.apical_block not in ("recording", "both")),
        )  # fmt: skip


# -- configuration -> sampler settings, model, optimiser ----------------------------------------


def _settings(protocol: Protocol, hyper: Hyper, **layout) -> SamplerSettings:
    return SamplerSettings(
        contrast_prior=protocol.contrast_prior,
        x_sampler=protocol.x_sampler,
        mala_steps=protocol.mala_steps,
        odds_increment=hyper.odds_increment,
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
    sample; :func:`~bayescortex.inference.learning.exact_settings`)."""
    return _settings(
        protocol, hyper, n_samples=protocol.train_sweeps, n_presignal=0,
        burn_in=protocol.train_burn_in, n_bins=1, layout="presignal",
    )  # fmt: skip


DEFAULT_LEARNING_RATE = {
    ("conditional", "parametric"): 0.05,
    ("conditional", "free_form"): 0.05,
    ("joint", "parametric"): 0.005,
    ("joint", "free_form"): 0.02,
    ("reward", "parametric"): 0.05,
    ("reward", "free_form"): 0.05,
    ("trial", "parametric"): 0.05,
    ("trial", "free_form"): 0.05,
}
"""Adam step sizes by objective and feedback family. Joint EM: parametric accuracy peaks after
2-5 sessions at N_x = 256, the free-form feedback learns more slowly. Conditional: the kernels
start at 0 and the gradient vanishes as the choices become certain, so larger steps are safe."""


def learning_rate(feedback: str, given: float | None, objective: str = "conditional") -> float:
    """``given``, or the default step size of the objective and feedback family."""
    return DEFAULT_LEARNING_RATE[objective, feedback] if given is None else given


PARAMETER_NAMES = (
    ("delta",)
    + tuple(f"kappa_o_{t}" for t in TASKS)
    + ("kappa_g",)
    + tuple(f"p_{k}_given_{q}" for q in CUES for k in CONTEXTS)
)
"""What :func:`feedback_parameters` returns: the parametric feedback's scalars (free-form: only
the context probabilities) and the context prior ``p(K | q)`` of each cue."""


def feedback_parameters(feedback) -> Float[Array, " parameters"]:
    """The learned quantities as a flat vector named by :func:`parameter_names`."""
    contexts = jax.nn.softmax(feedback.context_logits, axis=-1).reshape(-1)
    if not isinstance(feedback, ParametricFeedback):
        return contexts
    scalars = jnp.concatenate([feedback.delta[None], feedback.kappa_o, feedback.kappa_g[None]])
    return jnp.concatenate([scalars, contexts])


def parameter_names(feedback: str) -> list[str]:
    """Names of :func:`feedback_parameters` for a feedback family."""
    n_ctx = len(CUES) * len(CONTEXTS)
    return list(PARAMETER_NAMES if feedback == "parametric" else PARAMETER_NAMES[-n_ctx:])


def optimizer(protocol: Protocol, hyper: Hyper) -> optax.GradientTransformation:
    """The optax optimiser; its step size is the traced ``hyper.learning_rate``."""
    make = {"adam": optax.adam, "sgd": optax.sgd}[protocol.optimizer]
    return make(hyper.learning_rate)


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
    model = initial_model(protocol, hyper, jax.random.fold_in(jax.random.fold_in(key, 0), 3))
    opt_state = optimizer(protocol, hyper).init(eqx.filter(model, learning.learnable(model)))
    return SeedState(model, opt_state, model)


# -- training -----------------------------------------------------------------------------------


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
    contrasts = jnp.asarray(protocol.train_contrasts)
    picks = jax.random.randint(
        jax.random.fold_in(key, 2), (steps, protocol.batch), 0, contrasts.shape[0]
    )
    keys = jax.vmap(lambda b: jax.random.fold_in(jax.random.fold_in(key, 0), b))(jnp.arange(steps))
    tasks = jnp.full((protocol.batch,), task, dtype=jnp.int32)
    opt = optimizer(protocol, hyper)
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
    _, table = trial_table(protocol)
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


def trial_table(protocol: Protocol):
    """Static level index and signed contrast of every trial of a block, in block order."""
    level = np.repeat(np.arange(len(protocol.levels)), protocol.layout.sizes)
    return level, protocol.levels[level]


def correct_per_level(weights, choice, contrast, level, n_levels: int):
    """Weighted number of correct choices per level, ``(replicates, levels)``, for trial
    weights ``(replicates, trials)``."""
    correct = is_correct(choice, contrast).astype(weights.dtype)
    onehot = (level[:, None] == jnp.arange(n_levels)[None, :]).astype(weights.dtype)
    return weights @ (correct[:, None] * onehot)


def _chunk_plan(protocol: Protocol):
    """Static chunk plan of a block: trial ids ``(chunks, size)``, which are real, and which
    chunks hold zero-signal trials (zero-signal and signal trials never share a chunk, so only
    the former pay for the covariance)."""
    level, _ = trial_table(protocol)
    zero, signal = np.flatnonzero(level == 0), np.flatnonzero(level != 0)
    first = zero if zero.size else signal
    n_first_chunks = -(-first.size // protocol.chunk)
    size = -(-first.size // n_first_chunks)  # equal chunks: little padding
    ids, valid, is_zero = [], [], []
    for group, flag in ((zero, True), (signal, False)):
        if not group.size:
            continue
        n = -(-group.size // size)
        padded = np.full(n * size, group[-1])
        padded[: group.size] = group
        ids.append(padded.reshape(n, size))
        valid.append((np.arange(n * size) < group.size).reshape(n, size))
        is_zero.append(np.full(n, flag))
    return np.concatenate(ids), np.concatenate(valid), np.concatenate(is_zero)


def record(
    protocol: Protocol,
    hyper: Hyper,
    model: HierarchicalModel,
    key: PRNGKeyArray,
    boot_key: PRNGKeyArray,
    conds: Conditions,
) -> BlockStats:
    """Record one block per condition and stream it into statistics.

    Every condition sees the same trials (trial ``n`` uses ``fold_in(key, n)``: the same image
    sequence in every mode); conditions are a ``vmap`` axis. Trials run ``chunk`` at a time
    in one ``lax.scan`` (the sampler is compiled once): every chunk adds to the level sums;
    zero-signal chunks write their trials into the kept block, signal chunks add to the pooled
    second moment. Returns :class:`BlockStats` with leading axes ``(conditions, resamples +
    1)``, and the zero-signal trials themselves (``trials``, leading axis ``conditions``);
    :func:`replicate_moments` gives a replicate's complete statistics. A condition with ``frozen``
    shows every trial of a level the same images (the chains' randomness stays per trial).
    """
    level, contrast = trial_table(protocol)
    settings = record_settings(protocol, hyper)
    stimulus = Stimulus(noise_sd=hyper.noise_sd, frame_every=protocol.frame_every)
    n_levels = len(protocol.levels)
    n_rep = protocol.resamples + 1
    shape = (protocol.bins + 1, protocol.neurons)
    dtype = model.fields.dtype
    plan = _chunk_plan(protocol)

    def one_condition(c: Conditions) -> BlockStats:
        cond = gibbs.conditionals(model, c.cue)

        def simulate(ids, valid):
            lv, ct = jnp.asarray(level)[ids], jnp.asarray(contrast, dtype)[ids]

            def trial(n, lv, cc):
                # Frozen noise: the images of a level come from one key (a level's id above
                # every trial id), the chain's randomness from the trial's.
                image = jnp.where(c.frozen > 0, FROZEN_IMAGES + lv, n)
                k, k_image = jax.random.fold_in(key, n), jax.random.fold_in(key, image)
                mode = with_apical_gain(c.mode, c.mode.apical_gain * hyper.apical_recording)
                return simulate_trial(
                    k, model, stimulus, c.task, cc, settings, mode, cond, image_key=k_image
                )

            rec = jax.vmap(trial)(ids, lv, ct)
            features = jnp.concatenate([rec.counts, rec.counts.sum(1, keepdims=True)], axis=1)
            weights = poisson_weights(boot_key, ids, protocol.resamples).astype(dtype)
            weights = weights * valid[None, :]
            hits = correct_per_level(weights, rec.choice, ct, lv, n_levels)
            context = jnp.einsum("rn,nbk->rbk", weights, rec.context, precision=HIGHEST)
            kept = ZeroTrials(features, rec.choice, rec.energy, weights)
            return features, lv, weights, hits, context, kept

        def chunk(carry, inputs):
            stats, buffer = carry
            index, ids, valid, is_zero = inputs
            features, lv, weights, hits, context, kept = simulate(ids, valid)
            moments = jax.vmap(lambda m, w: add_means(m, features, lv, w))(stats.moments, weights)

            def keep(parts):  # a zero-signal chunk: its trials go into their slots
                second, buffer = parts
                at = index * size
                put = functools.partial(jax.lax.dynamic_update_slice_in_dim, start_index=at)
                return second, ZeroTrials(
                    *(put(b, k, axis=0) for b, k in zip(buffer[:3], kept[:3], strict=True)),
                    put(buffer.weights, kept.weights, axis=1),
                )

            def pool(parts):  # a signal chunk: the pooled covariance's second moment
                second, buffer = parts
                whole = features[:, -1]
                second = second + jnp.einsum(
                    "rt,ti,tj->rij", weights, whole, whole, precision=HIGHEST
                )
                return second, buffer

            second, buffer = jax.lax.cond(is_zero, keep, pool, (stats.signal_second, buffer))
            new = BlockStats(
                moments, stats.correct + hits, stats.context + context, signal_second=second
            )
            return (new, buffer), None

        sums = empty_moments(n_levels, shape, dtype)._replace(
            zero_weight=None, zero_mean=None, zero_scatter=None
        )
        n_ctx = len(CONTEXTS)
        stats = BlockStats(
            jax.tree.map(lambda a: jnp.broadcast_to(a, (n_rep, *a.shape)), sums),
            jnp.zeros((n_rep, n_levels), dtype),
            jnp.zeros((n_rep, protocol.bins, n_ctx), dtype),
            signal_second=jnp.zeros((n_rep, protocol.neurons, protocol.neurons), dtype),
        )
        # The zero-signal chunks come first; their padding is at the end of the last one.
        ids, valid, is_zero = plan
        size = ids.shape[1]
        # At least one chunk's slots: the zero-signal branch is traced even where a block has
        # no zero-signal trial (it never runs there, and the kept block is empty).
        slots = max(int(is_zero.sum()), 1) * size
        one = jax.eval_shape(simulate, jnp.asarray(ids[0]), jnp.asarray(valid[0]))[-1]
        buffer = ZeroTrials(
            *(jnp.zeros((slots, *a.shape[1:]), a.dtype) for a in one[:3]),
            jnp.zeros((n_rep, slots), one.weights.dtype),
        )
        inputs = (jnp.arange(len(ids)), *(jnp.asarray(a) for a in plan))
        (stats, buffer), _ = jax.lax.scan(chunk, (stats, buffer), inputs)
        t0 = protocol.zero_trials
        trials = ZeroTrials(*(a[:t0] for a in buffer[:3]), buffer.weights[:, :t0])
        return stats._replace(trials=trials)

    return jax.vmap(one_condition)(conds)


def replicate_moments(stats: BlockStats, replicate) -> SignalMoments:
    """Replicate ``replicate``'s statistics of one block (``stats`` without a condition axis):
    the streamed level sums, and the zero-signal moments of the kept trials under that
    replicate's weights (equal to streaming them, to float rounding). Statistics that carry
    their zero-signal moments already (no kept trials) are indexed as they are."""
    m = jax.tree.map(lambda a: a[replicate], stats.moments)
    if m.zero_scatter is not None:
        return m
    x = stats.trials.responses
    zero = moments_from_trials(
        x, jnp.zeros(x.shape[0], int), stats.trials.weights[replicate], n_levels=1
    )
    return m._replace(
        zero_weight=zero.zero_weight, zero_mean=zero.zero_mean, zero_scatter=zero.zero_scatter
    )


def session_key(seed_key: PRNGKeyArray, session) -> PRNGKeyArray:
    """``fold_in(seed key, session)``: every random choice of a session derives from it."""
    return jax.random.fold_in(seed_key, session)


def bootstrap_key(seed_key: PRNGKeyArray) -> PRNGKeyArray:
    """The key of a seed's Poisson bootstrap weights (shared by all its blocks)."""
    return jax.random.fold_in(seed_key, BOOTSTRAP_KEY)


def accuracy(stats: BlockStats, replicate: int = 0) -> Float[Array, "... levels"]:
    """Fraction correct per level (zero signal: fraction choosing the first category)."""
    return stats.correct[..., replicate, :] / stats.moments.weight[..., replicate, :]


def context_posterior(stats: BlockStats) -> Float[Array, "... replicates bins contexts"]:
    """Mean posterior over the context ``p_t(K | q, y)`` per time bin, over a block's trials."""
    total = jnp.sum(stats.moments.weight, axis=-1)
    return stats.context / total[..., None, None]
