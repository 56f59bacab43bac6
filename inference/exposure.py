"""The fixation cue's context prior learned from passive exposure (issue 30, item 4).

A task trial cannot inform the fixation cue's prior ``p(K | q = fixation) =
softmax(Omega_fix)``: its outcome says nothing about it, and its chains run under the task cue.
Passive blocks are experience too, without an outcome: images seen under fixation. What they
can teach is the marginal likelihood of those images, ``log p(y | q = fixation)``, and this
module ascends it in the fixation cue's context logits only (an unsupervised, EM-like update).
By Fisher's identity, with ``l = log p(K | q) + ...`` the complete-data log joint (only its
first term depends on ``Omega_q``, through ``log softmax``),

    grad_{Omega_q} log p(y | q) = E[onehot(K) | y, q] - softmax(Omega_q),

the posterior over the context given the images minus the prior. Its fixed point is where the
prior equals the posterior averaged over the images seen (the EM fixed point of a mixture
weight).

**Estimator.** ``E[onehot(K) | y, q]`` comes from the package's exact Gibbs chains (those of
conditional learning's ``learning_inference="exact"``: ``odds_increment = 1``, no memory,
:data:`~bayescortex.inference.learning.EXACT_MODE`, on the current frame of a trial with the
recording's layout), Rao-Blackwellised: since ``K`` is independent of ``x, s, y`` given the
middle layer ``g``, ``E[onehot(K) | y, q] = E_{g | y, q}[p(K | g, q)]``, and ``p(K | g, q)
∝ p(K | q) sum_O p(O) p(g | K, O)`` is exact for every sampled ``g``. It is averaged over the
chain's read-out states (:func:`~bayescortex.inference.chains.sample_weights`, uniform after
``burn_in``), as conditional learning averages its gradient; with noise frames that change
during the trial, each state's posterior is that given its current frame (each frame counts as
an observation). ``rao_blackwell=False`` averages the sampled ``K``'s one-hot instead (the plain
estimate; same mean, a standard error 2.5 to 19 times higher on the 2-neuron models of the
tests).

**Update.** Plain gradient ascent on the minibatch mean, ``Omega_fix += rate * (mean posterior -
prior)``, not Adam: Adam normalises the step, so it would move the logits at a fixed speed
even where the gradient is only noise (posterior = prior); a plain step vanishes at the fixed
point. It is separate from the task optimiser: its state (Adam's moments and step count) is
never touched, so the task leaves learn exactly as without exposure. The Hessian of ``log p(y
| q)`` in ``Omega_q`` is a difference of two covariances of a one-hot vector, of norm at most
1, so steps ``rate < 2`` are stable.

Everything is a pure function of explicit keys; :func:`exposure_trial` is one trial (vmap it),
:func:`exposure_step` one minibatch step.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from bayescortex.models.hierarchical import HierarchicalModel
from bayescortex.models.stimuli import CUES, Stimulus

from . import gibbs
from .chains import chain_latents, sample_weights, sweep_projections
from .modes import SamplerSettings, inference_mode

FIXATION_CUE = CUES.index("fixation")
"""The cue whose context prior passive exposure learns."""


def context_given_units(
    cond: gibbs.Conditionals, units: Float[Array, "*states units"]
) -> Float[Array, "*states contexts"]:
    """``p(K | g, q) ∝ p(K | q) sum_O p(O) p(g | K, O)`` for every state's middle layer ``g``
    (``cond`` holds the cue's prior): the exact conditional of the context given the rest."""
    log_lik = jnp.einsum("...k,tck->...tc", units, cond.log_p_on, precision=gibbs.HIGHEST)
    log_lik = log_lik + jnp.einsum(
        "...k,tck->...tc", 1 - units, cond.log_p_off, precision=gibbs.HIGHEST
    )
    prior = jnp.broadcast_to(cond.log_prior, log_lik.shape)  # the same for every state
    joint = jax.nn.logsumexp(prior + log_lik, axis=-1)  # (..., contexts)
    return jax.nn.softmax(joint, axis=-1)


def context_posterior(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projections: Float[Array, "sweeps neurons"],
    evidence,
    settings: SamplerSettings,
    weights: Float[Array, " states"],
    *,
    memoryless=None,
    initial: bool = False,
    apical_gain=1.0,
    rao_blackwell: bool = True,
) -> Float[Array, " contexts"]:
    """Estimate ``E[onehot(K) | y, q]`` from one exact chain over per-sweep image projections.

    The chain is :func:`~bayescortex.inference.chains.chain_latents` under
    :data:`~bayescortex.inference.learning.EXACT_MODE` (memory 0) with ``settings``, whose
    ``odds_increment`` should be 1 for the chain to be exact Gibbs (:func:`exposure_step` sets
    it); ``cond`` holds the cue's prior. ``weights`` (over the chain's states, the initial one
    first when ``initial``; sum 1) average :func:`context_given_units` of every state
    (``rao_blackwell``) or the sampled context's one-hot."""
    mode = inference_mode("no_accumulation")
    mode = eqx.tree_at(lambda m: m.apical_gain, mode, jnp.asarray(apical_gain, float))
    latents, _ = chain_latents(
        key, cond, projections, evidence, settings, mode, memoryless=memoryless, initial=initial
    )
    if rao_blackwell:
        per_state = context_given_units(cond, latents.units)
    else:
        per_state = jax.nn.one_hot(latents.context, cond.log_prior.shape[0], dtype=weights.dtype)
    return jnp.asarray(weights, per_state.dtype) @ per_state


def exposure_gradient(
    posterior: Float[Array, "*trials contexts"], logits: Float[Array, " contexts"]
) -> Float[Array, " contexts"]:
    """``grad_{Omega_q} log p(y | q)`` (Fisher's identity): the posterior over ``K`` (mean over
    any leading trial axes) minus the prior ``softmax(Omega_q)``."""
    mean = jnp.mean(posterior.reshape(-1, posterior.shape[-1]), axis=0)
    return mean - jax.nn.softmax(logits)


def exposure_trial(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    task: Int[Array, ""],
    contrast: Float[Array, ""],
    settings: SamplerSettings,
    cond: gibbs.Conditionals | None = None,
    apical_gain=1.0,
    rao_blackwell: bool = True,
) -> Float[Array, " contexts"]:
    """One passive trial under the fixation cue: ``E[onehot(K) | y, q]`` estimated by
    :func:`context_posterior`.

    The images are a behaving trial's with key ``key`` (task ``task``, signed contrast
    ``contrast``, ``stimulus``' frames, ``settings``' layout: those a recorded passive trial of
    that key shows), projected once per sweep of the schedule; the chain uses the same key
    (:func:`~bayescortex.inference.trial.trial_keys`) and ``cond`` (default: the fixation cue's
    conditionals of ``model``)."""
    cond = gibbs.conditionals(model, FIXATION_CUE) if cond is None else cond
    sched, projections = sweep_projections(key, model, stimulus, task, contrast, settings)
    weights = jnp.asarray(sample_weights(settings, stimulus), projections.dtype)
    return context_posterior(
        key, cond, projections, sched.evidence, settings, weights,
        memoryless=sched.memoryless, initial=sched.initial_is_sample, apical_gain=apical_gain,
        rao_blackwell=rao_blackwell,
    )  # fmt: skip


class ExposureInfo(NamedTuple):
    """Diagnostics of one exposure step."""

    posterior: Float[Array, "trials contexts"]  # each trial's estimate of E[onehot(K) | y, q]
    gradient: Float[Array, " contexts"]  # mean posterior minus prior: the ascent direction


def exposure_step(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    tasks: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    settings: SamplerSettings,
    rate,
    apical_gain=1.0,
) -> tuple[HierarchicalModel, ExposureInfo]:
    """One step of passive exposure on a minibatch of fixation trials: ascend ``log p(y | q =
    fixation)`` in the fixation cue's context logits only.

    Trial ``n`` uses ``fold_in(key, n)`` (:func:`exposure_trial`, with ``settings``'
    ``odds_increment`` set to 1: exact Gibbs chains). The update is ``Omega_fix += rate *
    (mean posterior - softmax(Omega_fix))`` (plain gradient ascent; ``rate`` may be traced);
    every other leaf of ``model``, the task cue's logits included, is returned as it was.

    >>> from bayescortex.models import reference_model
    >>> model = reference_model(8, 4, delta=0.08, kappa_o=2.0)
    >>> new, info = exposure_step(jax.random.key(0), model, Stimulus(), jnp.zeros(4, int),
    ...     jnp.array([6.0, -6.0, 0.0, 3.0]), SamplerSettings(n_samples=10, burn_in=2), 1.0)
    >>> info.posterior.shape, bool(jnp.all(new.feedback.context_logits[0] == 0))
    ((4, 3), True)
    """
    exact = dataclasses.replace(settings, odds_increment=1.0)
    cond = jax.lax.stop_gradient(gibbs.conditionals(model, FIXATION_CUE))

    def trial(n, task, contrast):
        return exposure_trial(
            jax.random.fold_in(key, n), model, stimulus, task, contrast, exact, cond, apical_gain
        )

    posterior = jax.vmap(trial)(jnp.arange(tasks.shape[0]), tasks, contrasts)
    logits = model.feedback.context_logits
    gradient = exposure_gradient(posterior, logits[FIXATION_CUE])
    step = jnp.asarray(rate, logits.dtype) * gradient.astype(logits.dtype)
    new = eqx.tree_at(lambda m: m.feedback.context_logits, model, logits.at[FIXATION_CUE].add(step))
    return new, ExposureInfo(posterior, gradient)
