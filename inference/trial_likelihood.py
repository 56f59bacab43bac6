"""The trial-level likelihood: one category and context for the whole trial, every frame's
evidence combined exactly (the ``"trial"`` learning objective).

The ``"conditional"`` objective scores ``log p(O* | y)`` under the learning chain, a single
chain that walks through the trial's noise frames while its belief is rebuilt from each
sample (memoryless and frame-pooled). Here the generative model is taken at its word for a
whole trial: the context ``K`` and the category ``O`` are drawn once, and each signal frame
``f`` of the trial has its own middle layer ``g_f``, neurons ``x_f`` and contrast ``s_f``,
independent across frames given ``(K, O)``, with its image ``y_f``. Then

    p(K, O | g_1, ..., g_F) ∝ p(K | q) p(O) prod_f p(g_f | K, O),

exact and cheap (the middle-layer log-likelihood is affine in ``g``), and

    log p(O* | y_1..F) = log p(y_1..F, O*) - log p(y_1..F)

is the conditional likelihood of the revealed category given everything the trial showed.
By Fisher's identity its gradient is the expectation of ``grad l`` under the clamped
posterior ``p(h | y_1..F, O*)`` minus that under the free posterior ``p(h, O | y_1..F)``, with
the complete-data term

    l = log p(K | q) + log p(O) + sum_f [log p(g_f | K, O) + log p(x_f | g_f)].

Both posteriors are sampled by one Gibbs chain per trial (:func:`trial_chain`): each sweep
updates every frame's ``x_f``, ``g_f`` and ``s_f`` (the sampler's own sweep,
:func:`~bayescortex.inference.gibbs.step`, vmapped over frames with ``(K, O)`` set to the
trial's), then draws ``(K, O)`` from the product above. The clamped chain fixes ``O = O*``;
the two chains share their random numbers. Unlike the memoryless chain, the evidence of F
frames adds up, so the model's confidence grows with the frames and can overshoot: where the
objective's optimum in the feedback lies is measured (docs/results.md), not assumed.

``log p(O* | y)`` itself is reported by its Rao-Blackwellised estimate from the free chain,
``log mean_t p(O* | g_1..F^(t))`` over the kept sweeps.

Limitation, measured (docs/results.md, "Four objectives side by side"): to switch the category
the chain must move every frame's middle layer at once, and with the evidence of 13 frames
combined it stops switching at strong kernels (64 neurons: 0.19 category flips per sweep at
``kappa_o`` 0.4, 0.015 at 1.3; 77% of chains never flip there), so beyond about ``kappa_o = 1``
the estimate is not the gradient. Per-category chains combined by bridge sampling would not
need to switch; not built.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus, category_of

from . import gibbs, learning
from .loop import sample_chain
from .modes import InferenceMode, SamplerSettings, inference_mode
from .trial import trial_images, trial_keys, trial_schedule

CHAIN = SamplerSettings(n_samples=40, burn_in=10, n_presignal=0, layout="presignal")
"""The trial-level chains' default sweeps and burn-in when :func:`trial_step` is given none
(the experiments pass their ``train_sweeps`` and ``train_burn_in``)."""


class TrialDraws(NamedTuple):
    """Kept draws of a trial-level chain (leading axis: kept sweeps)."""

    latents: Latents  # context, category (sweeps,); units, neurons (sweeps, frames, ...)
    log_posterior: Float[Array, "sweeps contexts categories"]  # log p(K, O | g_1..F)


def frame_evidence(units: Float[Array, "frames units"], cond: gibbs.Conditionals):
    """``log p(K, O) + sum_f log p(g_f | K, O)``, normalised: ``log p(K, O | g_1..F)``."""
    log_lik = jnp.sum(jax.vmap(lambda g: gibbs.unit_log_likelihood(g, cond))(units), axis=0)
    joint = cond.log_prior + log_lik
    return joint - jax.nn.logsumexp(joint)


def trial_chain(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projections: Float[Array, "frames neurons"],
    settings: SamplerSettings,
    mode: InferenceMode,
) -> TrialDraws:
    """One trial-level Gibbs chain on the frames whose field projections are ``projections``.

    ``settings.n_samples`` sweeps, the first ``settings.burn_in`` dropped; the x sampler and
    the contrast prior from ``settings``; ``mode``'s feedback and apical gain act on every
    frame's sweep as in :func:`~bayescortex.inference.gibbs.step` (its belief update is
    replaced by the exact draw of ``(K, O)`` given all frames). Clamp the category with
    :func:`~bayescortex.inference.learning.clamp_category` on ``cond``.
    """
    n_frames = projections.shape[0]
    k_init, k_top, k_run = jax.random.split(key, 3)
    frames = jax.vmap(lambda k: gibbs.init(k, cond, settings, mode))(
        jax.random.split(k_init, n_frames)
    )
    flat = jax.random.categorical(k_top, cond.log_prior.reshape(-1))
    evidence = jnp.asarray(True)

    def sweep(key, carry):
        frames, context, category = carry
        k_frames, k_top = jax.random.split(key)
        shared = frames._replace(
            context=jnp.broadcast_to(context, (n_frames,)),
            category=jnp.broadcast_to(category, (n_frames,)),
        )
        frames, _ = jax.vmap(lambda k, s, p: gibbs.step(k, s, cond, p, evidence, settings, mode))(
            jax.random.split(k_frames, n_frames), shared, projections
        )
        log_post = frame_evidence(frames.units, cond)
        flat = jax.random.categorical(k_top, log_post.reshape(-1))
        return (frames, flat // 2, flat % 2), log_post

    def keep(carry, log_post):
        frames, context, category = carry
        latents = Latents(context, category, frames.units, frames.neurons, frames.contrast)
        return TrialDraws(latents, log_post)

    carry = (frames, flat // 2, flat % 2)
    if settings.burn_in:
        carry, _ = sample_chain(k_run, sweep, carry, settings.burn_in, transform=lambda s, i: None)
    _, draws = sample_chain(
        k_run, sweep, carry, settings.n_samples - settings.burn_in, start=settings.burn_in,
        transform=keep,
    )  # fmt: skip
    return draws


def trial_log_joint(model: HierarchicalModel, latents: Latents, cue=0) -> Float[Array, ""]:
    """``l``: the feedback-dependent complete-data log joint of one trial-level draw
    (``units`` and ``neurons`` with a leading frame axis, one ``(K, O)``)."""
    k, o = latents.context, latents.category
    frames = jax.vmap(lambda g, x: model.log_prob_units(g, k, o) + model.log_prob_neurons(x, g))(
        latents.units, latents.neurons
    )
    return model.log_prob_context_category(cue)[k, o] + jnp.sum(frames)


def mean_trial_log_joint(model: HierarchicalModel, latents: Latents, cue=0) -> Float[Array, ""]:
    """:func:`trial_log_joint` averaged over draws with any leading axes (trials, sweeps)."""
    lead = latents.context.shape
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[len(lead) :]), latents)
    return jnp.mean(jax.vmap(lambda d: trial_log_joint(model, d, cue))(flat))


def trial_gradient(
    model: HierarchicalModel, clamped: Latents, free: Latents, spec, cue=0
) -> HierarchicalModel:
    """Fisher's identity for ``grad log p(O* | y_1..F)``: the gradient of
    :func:`mean_trial_log_joint` over the clamped draws minus over the free draws (each a
    mean over trials and kept sweeps). Model-shaped, ``None`` where ``spec`` is False."""
    params, static = eqx.partition(model, spec)
    clamped, free = jax.lax.stop_gradient((clamped, free))

    def objective(params):
        m = eqx.combine(params, static)
        return mean_trial_log_joint(m, clamped, cue) - mean_trial_log_joint(m, free, cue)

    return eqx.filter_grad(objective)(params)


def log_conditional_estimate(
    log_posterior: Float[Array, "sweeps contexts categories"], category: Int[Array, ""]
) -> Float[Array, ""]:
    """``log p(O* | y_1..F)`` estimated from the free chain's kept sweeps:
    ``log mean_t p(O* | g_1..F^(t))`` (Rao-Blackwellised over ``K``)."""
    per_sweep = jax.nn.logsumexp(log_posterior[:, :, category], axis=1)
    return jax.nn.logsumexp(per_sweep) - jnp.log(per_sweep.shape[0])


def trial_step(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    opt_state: optax.OptState,
    optimizer: optax.GradientTransformation,
    stimulus: Stimulus,
    tasks: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    settings: SamplerSettings,
    sensory_rate=0.0,
    mode: InferenceMode | None = None,
    chain: SamplerSettings | None = None,
) -> tuple[HierarchicalModel, optax.OptState, learning.StepInfo]:
    """One step of the ``"trial"`` objective on a minibatch (task cue): ascend
    ``log p(O* | y_1..F)`` by :func:`trial_gradient`, the sensory leaves the marginal
    likelihood of the frames.

    Trial ``n`` (key ``fold_in(key, n)``, split as :func:`learning.training_trial` splits it,
    so the revealed category and the images are those the other objectives see) shows the
    signal frames of the behaving trial of ``settings`` and ``stimulus``; a clamped and a free
    trial-level chain (:func:`trial_chain`, common random numbers) run on them with
    ``chain``'s sweeps and burn-in (default :data:`CHAIN`; its x sampler and contrast prior
    are ``settings``') and exact inference with ``mode``'s apical gain. Diagnostics: the
    objective is the Rao-Blackwellised ``log p(O* | y_1..F)``; the choice is the category of
    larger estimated posterior.
    """
    chain = CHAIN if chain is None else chain
    chain = dataclasses.replace(
        settings, n_samples=chain.n_samples, burn_in=chain.burn_in, n_presignal=0,
        layout="presignal", odds_increment=1.0,
    )  # fmt: skip
    exact = inference_mode("no_accumulation")
    if mode is not None:
        exact = eqx.tree_at(lambda m: m.apical_gain, exact, mode.apical_gain)
    cond = jax.lax.stop_gradient(gibbs.conditionals(model, 0))
    spec = learning.learnable(model)
    n_pre = trial_schedule(settings, stimulus).n_pre_frames

    def trial(n, task, contrast):
        k_category, k_trial = jax.random.split(jax.random.fold_in(key, n))
        category = learning.revealed_category(k_category, contrast)
        image_keys, _, k_run = trial_keys(k_trial)
        projections, _ = trial_images(image_keys, model, stimulus, task, contrast, settings)
        signal = projections[n_pre:]
        clamped = trial_chain(k_run, learning.clamp_category(cond, category), signal, chain, exact)
        free = trial_chain(k_run, cond, signal, chain, exact)
        return clamped.latents, free, category

    clamped, free, categories = jax.vmap(trial)(jnp.arange(tasks.shape[0]), tasks, contrasts)
    grads = trial_gradient(model, clamped, free.latents, spec)
    sensory_spec = learning.sensory(model)
    if any(jax.tree.leaves(sensory_spec)):
        marginal = _marginal_gradient(model, free.latents, sensory_spec)
        grads = learning.with_sensory(model, grads, marginal)
    model, opt_state = learning.ascend(model, grads, opt_state, optimizer, sensory_rate)
    value = jax.vmap(log_conditional_estimate)(free.log_posterior, categories)
    other = jax.vmap(log_conditional_estimate)(free.log_posterior, 1 - categories)
    choice = jnp.where(value >= other, categories, 1 - categories)
    correct = (choice == category_of(contrasts)).astype(contrasts.dtype)
    match = jnp.mean((free.latents.context == tasks[:, None]).astype(contrasts.dtype), axis=1)
    info = learning.StepInfo(
        objective=value, context_match=match, correct=correct, category=categories,
        gradient=grads,
    )  # fmt: skip
    return model, opt_state, info


def _marginal_gradient(model: HierarchicalModel, free: Latents, spec):
    """Fisher's identity for the frames' marginal likelihood ``grad log p(y_1..F)``: the
    gradient of :func:`mean_trial_log_joint` over the free draws, at the leaves of ``spec``."""
    params, static = eqx.partition(model, spec)
    free = jax.lax.stop_gradient(free)
    return eqx.filter_grad(lambda p: mean_trial_log_joint(eqx.combine(p, static), free))(params)
