"""Simulate trials of the orientation-discrimination task with the Gibbs sampler.

A trial follows the layout of its :class:`~bayescortex.inference.modes.SamplerSettings`:
``"reference"`` (the authors' schedule, the default): ``n_samples`` samples on the stimulus,
the first the ancestral initial draw, the rest Gibbs sweeps, the belief restarting from the
prior in the first ``n_presignal`` samples; ``"presignal"``: ``n_presignal`` sweeps on
signal-free noise (belief frozen), then ``n_samples`` sweeps on the stimulus. The stimulus
shows a new noise frame every ``stimulus.frame_every`` samples, or one static frame. The
readout is per trial: spike counts (neurons' samples summed in ``n_bins`` time bins after
``burn_in``), the belief in the first category at every sample, the choice (the category with
posterior > 0.5 at the last sample; a coin flip when undecided), the posterior over the
context ``K`` (its mean over each time bin's samples), and each signal frame's energy along
the task axis. The trial's cue (task or fixation) selects the context prior ``p(K | q)``:
pass ``cue`` or conditionals built for it.

Each trial's key is ``fold_in(key, trial_id)``, so a block split into chunks gives the same
trials as one batch.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from bayescortex.models.hierarchical import HierarchicalModel
from bayescortex.models.stimuli import TASKS, Stimulus

from . import gibbs
from .loop import sample_chain
from .modes import InferenceMode, SamplerSettings


class TrialRecord(NamedTuple):
    """What one trial leaves behind (leading trial axis when batched)."""

    counts: Float[Array, "bins neurons"]
    belief: Float[Array, " samples"]
    choice: Int[Array, ""]
    context: Float[Array, "bins contexts"]  # p_t(K | q, y), mean over each bin's samples
    energy: Float[Array, " frames"]
    acceptance: Float[Array, ""]


class Schedule(NamedTuple):
    """Static schedule of a trial's chain (numpy): one entry per Gibbs sweep, plus whether the
    initial state is the first sample. The chain's states are the initial state (if it is a
    sample) followed by the state after every sweep; the last ``n_samples`` are the samples."""

    n_pre_frames: int  # signal-free frames before the signal frames
    frame: np.ndarray  # per sweep: index into the trial's frames (pre-signal frames first)
    evidence: np.ndarray  # per sweep: the belief takes this sweep's evidence
    memoryless: np.ndarray  # per sweep: the belief restarts from the prior first
    bins: np.ndarray  # per sweep: time bin of the sample it produces (-1: not read out)
    initial_is_sample: bool  # the initial draw is sample 1
    initial_bin: int  # time bin of the initial draw (-1: not read out)

    @property
    def state_bins(self) -> np.ndarray:
        """Time bin of every state the chain records (initial state first when it is a
        sample)."""
        head = [self.initial_bin] if self.initial_is_sample else []
        return np.concatenate([np.asarray(head, dtype=self.bins.dtype), self.bins])


def trial_schedule(settings: SamplerSettings, stimulus: Stimulus) -> Schedule:
    """The static schedule of a trial under ``settings.layout`` (see
    :class:`~bayescortex.inference.modes.SamplerSettings`).

    Sample ``i`` (0-based) of the ``n_samples`` lies in time bin
    ``(i - burn_in) * n_bins // (n_samples - burn_in)`` (-1 for ``i < burn_in``) and sees
    signal frame ``i // frame_every`` (0 for a static frame).

    >>> sched = trial_schedule(SamplerSettings(n_samples=6, n_presignal=3, burn_in=0,
    ...     n_bins=2), Stimulus())
    >>> sched.memoryless.tolist(), sched.state_bins.tolist()
    ([True, True, False, False, False], [0, 0, 0, 1, 1, 1])
    """
    k = stimulus.frame_every
    n_read = settings.n_samples - settings.burn_in
    i = np.arange(settings.n_samples)
    sample_bins = np.where(
        i >= settings.burn_in, (i - settings.burn_in) * settings.n_bins // n_read, -1
    )
    sample_frame = i // k if k else np.zeros_like(i)
    if settings.layout == "reference":
        # Sweep t produces sample t + 1 (0-based); the initial draw is sample 0.
        sweeps = i[1:]
        return Schedule(
            n_pre_frames=0,
            frame=sample_frame[1:],
            evidence=np.ones_like(sweeps, bool),
            memoryless=sweeps < settings.n_presignal,
            bins=sample_bins[1:],
            initial_is_sample=True,
            initial_bin=int(sample_bins[0]),
        )
    pre = stimulus.n_frames(settings.n_presignal) if settings.n_presignal else 0
    t_pre = np.arange(settings.n_presignal)
    return Schedule(
        n_pre_frames=pre,
        frame=np.concatenate([t_pre // k if k else np.zeros_like(t_pre), pre + sample_frame]),
        evidence=np.concatenate([np.zeros_like(t_pre, bool), np.ones_like(i, bool)]),
        memoryless=np.zeros(settings.n_presignal + settings.n_samples, bool),
        bins=np.concatenate([np.full_like(t_pre, -1), sample_bins]),
        initial_is_sample=False,
        initial_bin=-1,
    )


def forgetting(mode: InferenceMode, memoryless) -> InferenceMode:
    """``mode`` with ``memory = 0`` where ``memoryless`` (a traced bool) is set: the belief
    update then starts from the prior (:func:`gibbs.update_belief`)."""
    return eqx.tree_at(lambda m: m.memory, mode, jnp.where(memoryless, 0.0, mode.memory))


CHOICE_KEY = 2**31 - 2
"""``fold_in(trial key, CHOICE_KEY)`` flips the coin of an undecided trial."""


UNDECIDED = 1e-5
"""A belief within this of one half is a tie (rounding of an exact 1/2 is not evidence)."""


def decide(
    key: PRNGKeyArray, belief: Float[Array, ""], temperature: Float[ArrayLike, ""] = 0.0
) -> Int[Array, ""]:
    """The choice from the final belief ``b`` in the first category: 0 (the first category)
    or 1.

    ``temperature`` ``T`` (>= 0) sets how the choice follows the belief: the second category
    is chosen with probability ``sigmoid(logit(1 - b) / T)``. ``T = 0`` (the default) is the
    deterministic observer: 0 above one half, 1 below, a fair coin within :data:`UNDECIDED` of
    one half (an observer with no evidence either way, e.g. a naive model whose category
    kernels are 0, guesses); ``T = 1`` reports a sample of the category from the belief
    (probability matching); in between, a softened threshold. One uniform draw from ``key``
    decides at every ``T`` (the same draw as the tie coin), so trials that share a key share
    their randomness across temperatures and parameters (common random numbers).

    >>> [int(decide(jax.random.key(0), jnp.asarray(b))) for b in (0.9, 0.1)]
    [0, 1]
    >>> keys = jax.random.split(jax.random.key(1), 4000)
    >>> second = jax.vmap(lambda k: decide(k, jnp.asarray(0.8), 1.0))(keys)
    >>> abs(float(jnp.mean(second)) - 0.2) < 4 * 0.0063  # 4 binomial SEs of 4000 draws
    True
    """
    u = jax.random.uniform(key, (), jnp.float32)  # jax.random.bernoulli(key)'s own draw
    sharp = jnp.where(jnp.abs(belief - 0.5) < UNDECIDED, 0.5, (belief < 0.5).astype(u.dtype))
    t = jnp.asarray(temperature, belief.dtype)
    soft = jax.nn.sigmoid((jnp.log1p(-belief) - jnp.log(belief)) / jnp.where(t > 0, t, 1.0))
    second = jnp.where(t > 0, soft.astype(u.dtype), sharp)
    return (u < second).astype(jnp.int32)


def trial_keys(key: PRNGKeyArray):
    """The keys of a trial's images, the chain's initial state and its sweeps."""
    k_pre, k_sig, k_init, k_run = jax.random.split(key, 4)
    return (k_pre, k_sig), k_init, k_run


def trial_images(keys, model, stimulus: Stimulus, task, contrast, settings: SamplerSettings):
    """A trial's frames: their projections on the fields (pre-signal frames first) and the
    signal frames themselves. ``keys`` is the first of :func:`trial_keys`."""
    k_pre, k_sig = keys
    n_pre_frames = trial_schedule(settings, stimulus).n_pre_frames
    images_sig = stimulus.frames(k_sig, task, contrast, stimulus.n_frames(settings.n_samples))
    images = images_sig
    if n_pre_frames:
        images_pre = stimulus.frames(k_pre, task, jnp.zeros_like(contrast), n_pre_frames)
        images = jnp.concatenate([images_pre, images_sig])
    return model.project(images), images_sig


def simulate_trial(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    task: Int[Array, ""],
    contrast: Float[Array, ""],
    settings: SamplerSettings,
    mode: InferenceMode,
    cond: gibbs.Conditionals | None = None,
    cue=0,
    image_key: PRNGKeyArray | None = None,
) -> TrialRecord:
    """Simulate one trial (see the module docstring). ``cond`` (precomputed
    :func:`gibbs.conditionals` of the trial's cue) overrides ``cue``. ``image_key``, when
    given, draws the images in place of ``key`` (the chain still uses ``key``): trials that
    share it see the same noise (frozen noise); ``image_key = key`` is the default trial."""
    if cond is None:
        cond = gibbs.conditionals(model, cue)
    sched = trial_schedule(settings, stimulus)
    k_images, k_init, k_run = trial_keys(key)
    if image_key is not None:
        k_images = trial_keys(image_key)[0]
    projections, images_sig = trial_images(k_images, model, stimulus, task, contrast, settings)

    state = gibbs.init(k_init, cond, settings, mode)
    per_bin = np.bincount(sched.state_bins[sched.state_bins >= 0], minlength=settings.n_bins)

    def record(counts, context, neurons, p_context, b):
        onehot = (jnp.arange(settings.n_bins) == b).astype(counts.dtype)
        counts = counts + onehot[:, None] * neurons[None, :]
        context = context + (onehot / per_bin)[:, None] * p_context[None, :]
        return counts, context

    counts = jnp.zeros((settings.n_bins, model.n_neurons), dtype=projections.dtype)
    context = jnp.zeros((settings.n_bins, cond.log_prior.shape[0]), dtype=projections.dtype)
    forgets = bool(sched.memoryless.any())

    def sweep(key, carry, inputs):
        state, counts, context = carry
        f, ev, forget, b = inputs
        m = forgetting(mode, forget) if forgets else mode
        state, info = gibbs.step(key, state, cond, projections[f], ev, settings, m)
        counts, context = record(counts, context, state.neurons, info.context, b)
        return (state, counts, context), info

    initial_belief = []
    if sched.initial_is_sample:
        p = jnp.exp(state.log_belief)
        counts, context = record(
            counts, context, state.neurons, jnp.sum(p, axis=1), sched.initial_bin
        )
        initial_belief = [jnp.sum(p[:, 0])[None]]
    xs = tuple(jnp.asarray(a) for a in (sched.frame, sched.evidence, sched.memoryless, sched.bins))
    (state, counts, context), (belief, acceptance) = sample_chain(
        k_run, sweep, (state, counts, context), settings.n_sweeps, inputs=xs,
        transform=lambda carry, info: (info.belief, info.acceptance),
    )  # fmt: skip
    belief = jnp.concatenate([*initial_belief, belief])[-settings.n_samples :]
    return TrialRecord(
        counts=counts,
        belief=belief,
        choice=decide(jax.random.fold_in(key, CHOICE_KEY), belief[-1], settings.choice_temperature),
        context=context,
        energy=stimulus.energy(task, images_sig),
        acceptance=jnp.mean(acceptance),
    )


def simulate_trials(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    tasks: ArrayLike,  # (trials,), checked below
    contrasts: ArrayLike,  # (trials,), checked below
    settings: SamplerSettings,
    mode: InferenceMode,
    trial_ids: Int[Array, " trials"] | None = None,
    cue=0,
) -> TrialRecord:
    """Simulate a batch of trials (vmapped); trial ``n`` uses ``fold_in(key, trial_ids[n])``.
    ``cue``: 0 for task trials, 1 for passive fixation (:data:`~bayescortex.models.CUES`).

    >>> from bayescortex.models import reference_model, Stimulus
    >>> from bayescortex.inference import SamplerSettings, inference_mode
    >>> rec = simulate_trials(jax.random.key(0), reference_model(32, 8), Stimulus(),
    ...     jnp.zeros(4, int), jnp.array([-6.0, 0.0, 3.0, 6.0]),
    ...     SamplerSettings(n_samples=20, n_presignal=5), inference_mode("engaged"))
    >>> rec.counts.shape, rec.choice.shape
    ((4, 4, 32), (4,))
    """
    contrasts = jnp.asarray(contrasts, dtype=model.fields.dtype)
    tasks = jnp.asarray(tasks)
    if contrasts.ndim != 1:
        raise ValueError(
            f"contrasts: expected one signed contrast per trial, got {contrasts.shape}"
        )
    if tasks.shape != contrasts.shape:
        raise ValueError(
            f"tasks: expected shape {contrasts.shape} (one per trial), got {tasks.shape}"
        )
    if not bool(jnp.all(jnp.isfinite(contrasts))):
        raise ValueError("contrasts: contain NaN or infinite values")
    if not bool(jnp.all((tasks >= 0) & (tasks < len(TASKS)))):
        raise ValueError(f"tasks: task indices must lie in 0..{len(TASKS) - 1}")
    if stimulus.size**2 != model.n_pixels:
        raise ValueError(
            f"stimulus: {stimulus.size}x{stimulus.size} images do not match the model's "
            f"{model.n_pixels} pixels"
        )
    if trial_ids is None:
        trial_ids = jnp.arange(contrasts.shape[0])
    if cue not in (0, 1):
        raise ValueError(f"cue: 0 (task) or 1 (fixation), got {cue!r}")
    return _simulate_batch(
        key, model, stimulus, tasks, contrasts, settings, mode, trial_ids, jnp.asarray(cue)
    )


@eqx.filter_jit
def _simulate_batch(key, model, stimulus, tasks, contrasts, settings, mode, trial_ids, cue):
    cond = gibbs.conditionals(model, cue)

    def one(trial_id, task, contrast):
        return simulate_trial(
            jax.random.fold_in(key, trial_id), model, stimulus, task, contrast, settings, mode, cond
        )

    return jax.vmap(one)(trial_ids, tasks, contrasts)


def simulate_chunked(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    tasks,
    contrasts,
    settings: SamplerSettings,
    mode: InferenceMode,
    *,
    chunk_size: int = 512,
    on_chunk=None,
    cue: int = 0,
) -> TrialRecord:
    """:func:`simulate_trials` in fixed-size chunks (one compilation, bounded memory).

    Results equal one big batch: trial ``n`` always uses ``fold_in(key, n)``. The last chunk is
    padded to ``chunk_size`` and trimmed. ``on_chunk(n_done)`` is called after each chunk (for
    progress displays). Returns numpy arrays.
    """
    contrasts = np.asarray(contrasts, dtype=float).reshape(-1)
    tasks = np.broadcast_to(np.asarray(tasks), contrasts.shape)
    if chunk_size <= 0:
        raise ValueError(f"chunk_size: must be positive, got {chunk_size}")
    n = contrasts.shape[0]
    chunk_size = min(chunk_size, n)
    pieces = []
    for start in range(0, n, chunk_size):
        ids = np.arange(start, start + chunk_size)
        valid = ids < n
        safe = np.where(valid, ids, n - 1)
        rec = simulate_trials(
            key,
            model,
            stimulus,
            jnp.asarray(tasks[safe]),
            jnp.asarray(contrasts[safe]),
            settings,
            mode,
            trial_ids=jnp.asarray(ids),
            cue=cue,
        )
        pieces.append(jax.tree.map(lambda a, keep=valid: np.asarray(a)[keep], rec))
        if on_chunk is not None:
            on_chunk(int(valid.sum()))
    return jax.tree.map(lambda *a: np.concatenate(a), *pieces)
