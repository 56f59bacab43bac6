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

Both terms are sampled per category, so no chain ever has to switch the category. Each trial
runs two trial-level Gibbs chains (:func:`trial_chain`), one with ``O`` clamped to the revealed
``O*`` and one clamped to the other category (common random numbers); each sweep updates every
frame's ``x_f``, ``g_f`` and ``s_f`` (the sampler's own sweep,
:func:`~bayescortex.inference.gibbs.step`, vmapped over frames with ``(K, O)`` set to the
trial's), then draws ``K`` from the product above. Writing ``pi = p(O* | y_1..F)`` and ``E_O``
for the expectation under the chain clamped to ``O``, the free posterior's expectation is
``pi E_O* + (1 - pi) E_not-O*``, so Fisher's identity becomes

    grad log p(O* | y_1..F) = (1 - pi) (E_O*[grad l] - E_not-O*[grad l]),

and ``pi`` comes from the two chains by bridge sampling (:func:`bridge_log_odds`): the two
clamped posteriors' unnormalised densities ``p(h, y, O)`` differ only in the top level, so
their ratio at a draw is ``p(O* | g_1..F) / p(not-O* | g_1..F)`` (with ``K`` summed out),
exact and cheap, and the optimal bridge of Meng & Wong (1996) turns the ratios at both
chains' draws into ``log p(y, O*) - log p(y, not-O*)``, the trial's log odds.

An earlier version sampled the free posterior with one chain that had to switch the category
itself; with the evidence of 13 frames combined it stopped switching at strong kernels (64
neurons: 0.19 category flips per sweep at ``kappa_o`` 0.4, 0.015 at 1.3; 77% of chains never
flipped there), so its steps were not the gradient beyond about ``kappa_o = 1``
(docs/results.md, "Four objectives side by side"). The bridge needs the two clamped
posteriors of the middle layer to overlap: where no draw of either chain is plausible under
the other category, the log odds are only bracketed by the two samples' ratios, not
estimated, and the estimate understates them (measured at 64 neurons: no overlap in 27% of
trials at ``kappa_o`` 1.3, 98% at 3.0; docs/results.md). The gradient's sign does not depend
on it (``1 - pi > 0``), only its size.
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

from . import chains, gibbs, learning
from .loop import draws_after_burn_in
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
    :func:`~bayescortex.inference.chains.clamp_category` on ``cond``.
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
    return draws_after_burn_in(k_run, sweep, carry, settings.n_samples, settings.burn_in, keep)


def trial_log_joint(model: HierarchicalModel, latents: Latents, cue=0) -> Float[Array, ""]:
    """``l``: the feedback-dependent complete-data log joint of one trial-level draw
    (``units`` and ``neurons`` with a leading frame axis, one ``(K, O)``)."""
    k, o = latents.context, latents.category
    frames = jax.vmap(lambda g, x: model.log_prob_units(g, k, o) + model.log_prob_neurons(x, g))(
        latents.units, latents.neurons
    )
    return model.log_prob_context_category(cue)[k, o] + jnp.sum(frames)


def category_log_ratio(
    units: Float[Array, "*draws frames units"], cond: gibbs.Conditionals, category
) -> Float[Array, "*draws"]:
    """``log p(O = category | g_1..F) - log p(O = other | g_1..F)`` under ``cond`` (unclamped),
    with ``K`` summed out: the ratio of the two category-clamped posteriors' unnormalised
    densities at a trial-level draw whose middle layers are ``units``."""
    lead = units.shape[:-2]
    flat = units.reshape((-1,) + units.shape[-2:])
    log_post = jax.vmap(lambda g: frame_evidence(g, cond))(flat)  # (draws, K, O)
    per_category = jax.nn.logsumexp(log_post, axis=1)
    ratio = per_category[:, category] - per_category[:, 1 - category]
    return ratio.reshape(lead)


BRIDGE_STEPS = 60
"""Bisection steps of :func:`bridge_log_odds` (the bracket halves each step, from its log-ratio
range plus 40 on either side: float32 resolution long before 60 steps)."""


def bridge_log_odds(
    log_ratio_a: Float[Array, " draws_a"], log_ratio_b: Float[Array, " draws_b"]
) -> Float[Array, ""]:
    """``log (Z_a / Z_b)`` by the optimal bridge sampler of Meng & Wong (1996).

    ``log_ratio_a`` and ``log_ratio_b`` are ``log q_a(h) - log q_b(h)`` at draws ``h`` from
    ``p_a = q_a / Z_a`` and from ``p_b = q_b / Z_b``. The estimate is the root ``l`` of

        sum_i sigmoid(l + log s_b - log s_a - log_ratio_a[i])
            = sum_j sigmoid(log_ratio_b[j] + log s_a - log s_b - l),

    with ``s_a, s_b`` the two draw counts' shares (Bennett's acceptance ratio; the fixed point
    of Meng & Wong's iteration). The left side rises and the right side falls in ``l``, so the
    root is unique and is found by bisection (:data:`BRIDGE_STEPS`), which converges whether or
    not the two samples overlap. Traceable; no gradient flows through it.

    >>> a = jnp.array([2.0, 2.0])  # every draw the same ratio: the ratio is exact
    >>> round(float(bridge_log_odds(a, a)), 4)
    2.0
    """
    ra, rb = jax.lax.stop_gradient((log_ratio_a, log_ratio_b))
    shift = jnp.log(ra.shape[0]) - jnp.log(rb.shape[0])  # log s_a - log s_b

    def excess(l):
        return jnp.sum(jax.nn.sigmoid(l - shift - ra)) - jnp.sum(jax.nn.sigmoid(rb + shift - l))

    both = jnp.concatenate([ra, rb])
    bracket = (jnp.min(both) - 40.0, jnp.max(both) + 40.0)

    def bisect(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        up = excess(mid) < 0
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    lo, hi = jax.lax.fori_loop(0, BRIDGE_STEPS, bisect, bracket)
    return 0.5 * (lo + hi)


def trial_log_odds(
    clamped: Latents, other: Latents, cond: gibbs.Conditionals, category
) -> Float[Array, ""]:
    """``log p(O* | y_1..F) - log p(not-O* | y_1..F)`` of one trial from its two
    category-clamped chains' draws (leading axis: kept sweeps), by :func:`bridge_log_odds`;
    ``cond`` unclamped."""
    return bridge_log_odds(
        category_log_ratio(clamped.units, cond, category),
        category_log_ratio(other.units, cond, category),
    )


def _per_trial_joint(model: HierarchicalModel, latents: Latents, lead, cue):
    """:func:`trial_log_joint` averaged over the kept sweeps, per trial (shape ``lead``)."""
    n = latents.context.size  # every draw of every trial, one vmap
    flat = jax.tree.map(lambda a: a.reshape((n,) + a.shape[len(lead) + 1 :]), latents)
    joint = jax.vmap(lambda d: trial_log_joint(model, d, cue))(flat)
    return jnp.mean(joint.reshape(latents.context.shape), axis=-1)


def trial_gradient(
    model: HierarchicalModel, clamped: Latents, other: Latents, log_odds, spec, cue=0
) -> HierarchicalModel:
    """Fisher's identity for ``grad log p(O* | y_1..F)``, averaged over trials:
    ``(1 - pi) (E_O*[grad l] - E_not-O*[grad l])`` per trial, ``pi = sigmoid(log_odds)``.

    ``clamped`` and ``other``: the draws of the chains clamped to the revealed and to the other
    category, leading axes ``log_odds.shape`` (trials, any number) then kept sweeps;
    ``log_odds``: each trial's :func:`trial_log_odds`. Model-shaped, ``None`` where ``spec``
    is False."""
    params, static = eqx.partition(model, spec)
    lead = jnp.shape(log_odds)
    clamped, other, weight = jax.lax.stop_gradient((clamped, other, jax.nn.sigmoid(-log_odds)))

    def objective(params):
        m = eqx.combine(params, static)
        gap = _per_trial_joint(m, clamped, lead, cue) - _per_trial_joint(m, other, lead, cue)
        return jnp.mean(weight * gap)

    return eqx.filter_grad(objective)(params)


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

    Trial ``n`` (key ``fold_in(key, n)``, split as :func:`chains.training_trial` splits it,
    so the revealed category and the images are those the other objectives see) shows the
    signal frames of the behaving trial of ``settings`` and ``stimulus``; two trial-level chains
    clamped to either category (:func:`trial_chain`, common random numbers) run on them with
    ``chain``'s sweeps and burn-in (default :data:`CHAIN`; its x sampler and contrast prior
    are ``settings``') and exact inference with ``mode``'s apical gain. Diagnostics: the
    objective is ``log p(O* | y_1..F)`` from the bridge estimate of the trial's log odds
    (:func:`trial_log_odds`); the choice is the category of larger estimated posterior; the
    context match is each chain's share of sweeps in the cued context, weighted by the
    estimated posterior of its category.
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
        category = chains.revealed_category(k_category, contrast)
        image_keys, _, k_run = trial_keys(k_trial)
        projections, _ = trial_images(image_keys, model, stimulus, task, contrast, settings)
        signal = projections[n_pre:]

        def run(o):
            return trial_chain(k_run, chains.clamp_category(cond, o), signal, chain, exact)

        clamped, other = run(category).latents, run(1 - category).latents
        return clamped, other, trial_log_odds(clamped, other, cond, category), category

    clamped, other, log_odds, categories = jax.vmap(trial)(
        jnp.arange(tasks.shape[0]), tasks, contrasts
    )
    grads = trial_gradient(model, clamped, other, log_odds, spec)
    sensory_spec = learning.sensory(model)
    if any(jax.tree.leaves(sensory_spec)):
        marginal = _marginal_gradient(model, clamped, other, log_odds, sensory_spec)
        grads = learning.with_sensory(model, grads, marginal)
    model, opt_state = learning.ascend(model, grads, opt_state, optimizer, sensory_rate)
    choice = jnp.where(log_odds >= 0, categories, 1 - categories)
    correct = (choice == category_of(contrasts)).astype(contrasts.dtype)
    pi = jax.nn.sigmoid(log_odds)
    cued = lambda draws: jnp.mean((draws.context == tasks[:, None]).astype(pi.dtype), axis=1)  # noqa: E731
    info = learning.StepInfo(
        objective=jax.nn.log_sigmoid(log_odds),
        context_match=pi * cued(clamped) + (1 - pi) * cued(other),
        correct=correct, category=categories, gradient=grads,
    )  # fmt: skip
    return model, opt_state, info


def _marginal_gradient(model: HierarchicalModel, clamped: Latents, other: Latents, log_odds,
                       spec):  # fmt: skip
    """Fisher's identity for the frames' marginal likelihood ``grad log p(y_1..F)``, averaged
    over trials: ``pi E_O*[grad l] + (1 - pi) E_not-O*[grad l]``, at the leaves of ``spec``."""
    params, static = eqx.partition(model, spec)
    lead = jnp.shape(log_odds)
    clamped, other, pi = jax.lax.stop_gradient((clamped, other, jax.nn.sigmoid(log_odds)))

    def objective(params):
        m = eqx.combine(params, static)
        both = pi * _per_trial_joint(m, clamped, lead, 0)
        return jnp.mean(both + (1 - pi) * _per_trial_joint(m, other, lead, 0))

    return eqx.filter_grad(objective)(params)
