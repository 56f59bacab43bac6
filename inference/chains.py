"""The Gibbs chains that the learning objectives run on a training trial.

A training trial (:func:`training_trial`) shows a behaving trial's images and, after the
choice, reveals the category ``O*`` (:func:`revealed_category`). The objectives of
:mod:`bayescortex.inference.learning` estimate their gradients from chains on those images:

- :func:`chain_latents`: one chain of the sampler over a trial's per-sweep image projections,
  the latents and the belief after every sweep; with :func:`clamp_category` on its
  conditionals the category is fixed at ``O*`` (the *clamped* chain), without it the chain
  samples the category too (the *free* chain). :func:`sample_weights` weighs the recorded
  states as the read-out does (uniform after the burn-in).
- :func:`posterior_samples`: an exact clamped chain on one static image (the ``"joint"``
  objective); :func:`exact_settings` makes a sampler's belief update exact.

Every function is pure and traceable; keys are split as a trial's
(:func:`~bayescortex.inference.trial.trial_keys`), so with the same key and images a chain
repeats :func:`~bayescortex.inference.trial.simulate_trial`'s draws.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus, category_of

from . import gibbs
from .loop import draws_after_burn_in, sample_chain
from .modes import InferenceMode, SamplerSettings, inference_mode
from .trial import forgetting, trial_images, trial_keys, trial_schedule

_EXCLUDED = -1e9  # log prior of the category that the outcome ruled out (finite: 0 * it = 0)


def clamp_category(cond: gibbs.Conditionals, category: Int[Array, ""]) -> gibbs.Conditionals:
    """Conditionals whose category prior is a point mass on ``category`` (the revealed truth).

    The excluded category gets a log prior of -1e9 (not -inf, so that ``0 * log_prior`` stays
    0 inside the accumulator); its probability is exactly 0 in float32 and float64.
    """
    keep = jnp.arange(cond.log_prior.shape[1]) == category
    return cond._replace(log_prior=jnp.where(keep[None, :], cond.log_prior, _EXCLUDED))


def exact_settings(settings: SamplerSettings) -> SamplerSettings:
    """``settings`` with the belief update made exact (``odds_increment = 1``) for a plain
    chain: no pre-signal period, every sweep a sample (``layout="presignal"`` with
    ``n_presignal = 0``; ``n_sweeps = n_samples``)."""
    return dataclasses.replace(settings, odds_increment=1.0, n_presignal=0, layout="presignal")


def posterior_samples(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projection: Float[Array, " neurons"],
    category: Int[Array, ""],
    settings: SamplerSettings,
    apical_gain=1.0,
) -> Latents:
    """Draws of ``(K, g, x, s)`` from ``p(. | y, O = category)`` for one image (task cue).

    One chain: ancestral start with ``O`` clamped, ``settings.n_samples`` clamped Gibbs sweeps
    on the image whose field projection is ``projection``; the first ``settings.burn_in`` are
    dropped. The x sampler and the contrast prior are taken from ``settings``; ``apical_gain``
    (:class:`InferenceMode`; 1: exact Gibbs) is the sensory neurons' share of the top-down
    drive. Returns :class:`Latents` with a leading axis of ``n_samples - burn_in``.

    >>> from bayescortex.models import reference_model
    >>> model = reference_model(8, 4, delta=0.1)
    >>> draws = posterior_samples(jax.random.key(0), gibbs.conditionals(model),
    ...     jnp.ones(8), jnp.asarray(1), SamplerSettings(n_samples=20, burn_in=5))
    >>> draws.neurons.shape, bool(jnp.all(draws.category == 1))
    ((15, 8), True)
    """
    settings = exact_settings(settings)
    cond = clamp_category(cond, category)
    k_init, k_run = jax.random.split(key)
    exact = inference_mode("no_accumulation")
    exact = eqx.tree_at(lambda m: m.apical_gain, exact, jnp.asarray(apical_gain, float))
    state = gibbs.init(k_init, cond, settings, exact)
    evidence = jnp.asarray(True)

    def sweep(key, state):
        return gibbs.step(key, state, cond, projection, evidence, settings, exact)

    def latents(state, info):
        return _latents(state)

    return draws_after_burn_in(k_run, sweep, state, settings.n_samples, settings.burn_in, latents)


def _latents(state: gibbs.GibbsState) -> Latents:
    return Latents(state.context, state.category, state.units, state.neurons, state.contrast)


def chain_latents(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projections: Float[Array, "sweeps neurons"],
    evidence,
    settings: SamplerSettings,
    mode: InferenceMode,
    *,
    memoryless=None,
    initial: bool = False,
) -> tuple[Latents, Float[Array, "states contexts categories"]]:
    """One chain of the sampler over per-sweep image projections: the latents and the belief
    ``log p_t(K, O)`` after every sweep (leading axis: sweeps; with ``initial``, the initial
    state first). ``evidence[t]`` says whether sweep ``t`` accumulates evidence (False in the
    pre-signal period of the ``"presignal"`` layout); ``memoryless[t]`` (optional) whether its
    belief restarts from the prior (the pre-signal samples of the ``"reference"`` layout).
    ``key`` is split as a trial's (:func:`~bayescortex.inference.trial.trial_keys`): with the
    same key, the same images, schedule (:func:`~bayescortex.inference.trial.trial_schedule`)
    and ``cond`` a chain repeats :func:`~bayescortex.inference.trial.simulate_trial`'s."""
    _, k_init, k_run = trial_keys(key)
    state = gibbs.init(k_init, cond, settings, mode)
    n = projections.shape[0]
    forget = jnp.zeros(n, bool) if memoryless is None else jnp.asarray(memoryless)

    def sweep(key, state, inputs):
        projection, ev, reset = inputs
        m = mode if memoryless is None else forgetting(mode, reset)
        return gibbs.step(key, state, cond, projection, ev, settings, m)

    _, (latents, belief) = sample_chain(
        k_run, sweep, state, n, inputs=(projections, jnp.asarray(evidence), forget),
        transform=lambda state, info: (_latents(state), state.log_belief),
    )  # fmt: skip
    if initial:
        latents, belief = jax.tree.map(
            lambda a, b: jnp.concatenate([a[None], b]),
            (_latents(state), state.log_belief), (latents, belief),
        )  # fmt: skip
    return latents, belief


def sample_weights(settings: SamplerSettings, stimulus: Stimulus) -> np.ndarray:
    """Static weight of every state a trial's chain records (the initial state first when the
    layout makes it sample 1; :attr:`~bayescortex.inference.trial.Schedule.state_bins`) in the
    training expectations: uniform over the samples after ``burn_in`` (the samples whose
    neurons are read out), 0 elsewhere."""
    keep = (trial_schedule(settings, stimulus).state_bins >= 0).astype(float)
    return keep / keep.sum()


def revealed_category(key: PRNGKeyArray, contrast: Float[Array, ""]) -> Int[Array, ""]:
    """The category the outcome reveals: 0 for ``c > 0``, 1 for ``c < 0``, a coin flip at 0
    (zero-signal trials are rewarded at random)."""
    coin = jax.random.bernoulli(key).astype(jnp.int32)
    return jnp.where(contrast == 0, coin, category_of(contrast))


class TrainingTrial(NamedTuple):
    """What a behaving training trial shows, before any chain runs (:func:`training_trial`)."""

    category: Int[Array, ""]  # the category the outcome reveals
    key: PRNGKeyArray  # the behaving trial's key (its images', chains' and tie coin's)
    projections: Float[Array, "sweeps neurons"]  # the image projection of every sweep


def training_trial(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    task: Int[Array, ""],
    contrast: Float[Array, ""],
    settings: SamplerSettings,
) -> TrainingTrial:
    """The setup of the behaving training trial with key ``key``, shared by the
    ``"conditional"`` and ``"reward"`` objectives: ``key`` splits into the revealed category's
    key (:func:`revealed_category`) and the behaving trial's key, whose images
    (:func:`~bayescortex.inference.trial.trial_images`) are projected once per sweep of the
    schedule (:func:`~bayescortex.inference.trial.trial_schedule`)."""
    k_category, k_chain = jax.random.split(key)
    category = revealed_category(k_category, contrast)
    _, projections = sweep_projections(k_chain, model, stimulus, task, contrast, settings)
    return TrainingTrial(category, k_chain, projections)


def sweep_projections(key, model, stimulus, task, contrast, settings):
    """``(schedule, projections)``: the schedule of a behaving trial with key ``key``
    (:func:`~bayescortex.inference.trial.trial_schedule`) and its images
    (:func:`~bayescortex.inference.trial.trial_images`) projected once per sweep."""
    sched = trial_schedule(settings, stimulus)
    images, _ = trial_images(trial_keys(key)[0], model, stimulus, task, contrast, settings)
    return sched, images[jnp.asarray(sched.frame)]


__all__ = [
    "TrainingTrial",
    "chain_latents",
    "clamp_category",
    "exact_settings",
    "posterior_samples",
    "revealed_category",
    "sample_weights",
    "sweep_projections",
    "training_trial",
]
