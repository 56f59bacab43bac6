"""The Gibbs sampler of the hierarchical model, as pure ``init`` / ``step`` kernels.

One sweep updates, in order,

1. every sensory neuron ``x_i`` from its exact conditional, a Gaussian truncated at 0 with
   mean ``[s b_i - s^2 sum_{j != i} G_ij x_j - sigma^2 / tau_i] / (s^2 G_ii)`` and sd
   ``sigma / (s sqrt(G_ii))`` (``b = PF y``, ``G = PF PF^T``), sequentially, keeping ``G x``
   up to date incrementally (computed in blocks); or the whole block by MALA
   (``SamplerSettings.x_sampler``);
2. every middle-layer unit ``g_k`` from its Bernoulli conditional, sequentially, keeping
   ``tau = 1 + C g`` up to date incrementally;
3. the belief about context and category: the tempered evidence accumulator
   ``log p_t(K, O) = log p_{t-1}(K, O) + odds * log p(g | K, O)`` (normalised), starting from
   the prior ``p(K | q) p(O)`` of the trial's cue ``q``, then ``(K, O)`` sampled from it; the
   sampled ``(K, O)`` set the middle layer's prior for the next sweep;
4. the contrast ``s`` (unless clamped).

The kernels act on one trial; batch with ``jax.vmap``. Everything the sweep needs from the model
is precomputed once in :class:`Conditionals`, so training can change the model without
recompiling.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from bayescortex.models.hierarchical import PROB_CLIP, HierarchicalModel

from .mala import reflected_mala_step
from .modes import InferenceMode, SamplerSettings
from .truncnorm import positive_normal_from_uniform

HIGHEST = jax.lax.Precision.HIGHEST  # accelerators default to TF32/bf16 float32 products


class Conditionals(NamedTuple):
    """The model's quantities one sweep needs, computed once per model."""

    gram: Float[Array, "neurons neurons"]
    coupling: Float[Array, "neurons units"]
    log_p_on: Float[Array, "contexts categories units"]  # log p(g_k = 1 | K, O)
    log_p_off: Float[Array, "contexts categories units"]  # log p(g_k = 0 | K, O)
    log_prior: Float[Array, "contexts categories"]  # log p(K | q) + log p(O)
    noise_var: Float[Array, ""]


def conditionals(model: HierarchicalModel, cue=0) -> Conditionals:
    """Precompute what the Gibbs sweep needs from ``model`` for trials with cue ``cue``
    (0: task, 1: fixation; an array is fine)."""
    p = model.unit_probabilities()
    return Conditionals(
        gram=model.gram(),
        coupling=model.feedback.coupling(),
        log_p_on=jnp.log(p),
        log_p_off=jnp.log1p(-p),
        log_prior=model.log_prob_context_category(cue),
        noise_var=model.sigma_y**2,
    )


class GibbsState(NamedTuple):
    """State of one trial's chain. ``means`` caches ``tau = 1 + C g``."""

    neurons: Float[Array, " neurons"]
    units: Float[Array, " units"]
    contrast: Float[Array, ""]
    context: Int[Array, ""]
    category: Int[Array, ""]
    log_belief: Float[Array, "contexts categories"]
    means: Float[Array, " neurons"]


class GibbsInfo(NamedTuple):
    """Per-sweep diagnostics."""

    belief: Float[Array, ""]  # posterior probability of the first category, p_t(O = 0)
    context: Float[Array, " contexts"]  # posterior of the context, p_t(K)
    acceptance: Float[Array, ""]  # MALA acceptance rate of the x block (1 for exact Gibbs)


def _effective_coupling(cond: Conditionals, mode: InferenceMode):
    return mode.coupling_feedback * cond.coupling


def apical_means(means: Float[Array, " neurons"], mode: InferenceMode) -> Float[Array, " neurons"]:
    """The means the sensory neurons are drawn with: ``1 + g_a (tau - 1)`` (``tau`` exactly
    when ``g_a = 1``: the difference is added as ``(g_a - 1) (tau - 1)``, 0 there)."""
    return means + (mode.apical_gain - 1.0) * (means - 1.0)


def _unit_prior_logits(cond: Conditionals, mode: InferenceMode, context, category):
    """Logits of the middle layer's prior under the sampled belief and the feedback mode."""
    p_cond = jnp.exp(cond.log_p_on[context, category])
    weights = jnp.exp(cond.log_prior)
    p_mix = jnp.einsum("tc,tck->k", weights, jnp.exp(cond.log_p_on))
    p = mode.category_feedback * p_cond + (1 - mode.category_feedback) * p_mix
    p = jnp.clip(p, PROB_CLIP, 1 - PROB_CLIP)
    return jnp.log(p) - jnp.log1p(-p)


def init(
    key: PRNGKeyArray, cond: Conditionals, settings: SamplerSettings, mode: InferenceMode
) -> GibbsState:
    """Ancestral initial state: ``(K, O)`` from the prior, ``g | K, O``, ``x | g``."""
    k_to, k_g, k_x = jax.random.split(key, 3)
    flat = jax.random.categorical(k_to, cond.log_prior.reshape(-1))
    context, category = flat // 2, flat % 2
    logits = _unit_prior_logits(cond, mode, context, category)
    units = jax.random.bernoulli(k_g, jax.nn.sigmoid(logits)).astype(cond.gram.dtype)
    means = 1.0 + _effective_coupling(cond, mode) @ units
    neurons = apical_means(means, mode) * jax.random.exponential(k_x, means.shape, means.dtype)
    return GibbsState(
        neurons=neurons,
        units=units,
        contrast=jnp.asarray(settings.contrast_init, dtype=means.dtype),
        context=context,
        category=category,
        log_belief=cond.log_prior,
        means=means,
    )


def _block_size(n: int, largest: int = 32) -> int:
    return max(d for d in range(1, min(n, largest) + 1) if n % d == 0)


def update_neurons_gibbs(key, neurons, means, contrast, projection, cond: Conditionals):
    """Sequential exact updates of every ``x_i`` in index order; returns the new ``x``.

    Exactly the sequential Gibbs scan, computed in blocks of neurons for speed: at the start
    of a block, ``G x`` for the block's rows is one matrix product; within the block the
    changes of the already-updated members are added as they happen (an unrolled loop over a
    few neurons), so no full-length vector is touched per neuron.
    """
    n = neurons.shape[0]
    m = _block_size(n, 8)
    s = jnp.maximum(contrast, 1e-6)
    u = jax.random.uniform(
        key, neurons.shape, dtype=neurons.dtype, minval=jnp.finfo(neurons.dtype).tiny
    )
    gram_diag = jnp.diagonal(cond.gram)

    def block(b, x):
        start = b * m
        rows = jax.lax.dynamic_slice_in_dim(cond.gram, start, m, axis=0)
        inner = jax.lax.dynamic_slice_in_dim(rows, start, m, axis=1)
        drive = jnp.matmul(rows, x, precision=HIGHEST)
        old = jax.lax.dynamic_slice_in_dim(x, start, m)
        take = lambda a: jax.lax.dynamic_slice_in_dim(a, start, m)  # noqa: E731
        proj, tau, gii, ub = take(projection), take(means), take(gram_diag), take(u)
        new = old
        for j in range(m):
            others = drive[j] - gii[j] * old[j]
            mean = (s * proj[j] - s**2 * others - cond.noise_var / tau[j]) / (s**2 * gii[j])
            sd = jnp.sqrt(cond.noise_var / gii[j]) / s
            xj = positive_normal_from_uniform(mean, sd, ub[j])
            drive = drive + inner[:, j] * (xj - old[j])
            new = new.at[j].set(xj)
        return jax.lax.dynamic_update_slice_in_dim(x, new, start, axis=0)

    return jax.lax.fori_loop(0, n // m, block, neurons)


def neurons_log_density(neurons, means, contrast, projection, cond: Conditionals):
    """``log p(x | g, s, y)`` up to a constant, as a function of ``x`` (extended to all reals)."""
    gx = jnp.matmul(cond.gram, neurons, precision=HIGHEST)
    quad = contrast**2 * jnp.dot(neurons, gx, precision=HIGHEST) - 2 * contrast * jnp.dot(
        projection, neurons, precision=HIGHEST
    )
    return -jnp.sum(neurons / means) - 0.5 * quad / cond.noise_var


_LOG_GROUP = 4  # entries multiplied before one log in _sum_log


def _sum_log(v: Float[Array, " n"]) -> Float[Array, ""]:
    """``sum(log v)`` for ``v >= 1`` with one log per group of 4 entries (their product).

    The middle layer's sweep needs the sum of ``log tau`` over all neurons for every unit, and
    the logarithm dominates its cost; the product of 4 means stays far from overflow while every
    ``tau < 4e9`` (``tau = 1 + C g`` is a few units in every model here).
    """
    pad = (-v.shape[-1]) % _LOG_GROUP
    if pad:
        v = jnp.concatenate([v, jnp.ones((pad,), v.dtype)])
    return jnp.sum(jnp.log(jnp.prod(v.reshape(-1, _LOG_GROUP), axis=-1)))


def update_units(key, units, means, neurons, logits, coupling):
    """Sequential Bernoulli updates of every ``g_k``; returns the new ``g`` and ``tau``.

    The log-likelihood ratio of unit ``j`` compares ``log p(x | g)`` at the current ``tau`` with
    ``tau`` after flipping ``g_j`` (``tau +- C_j``). The current side's sums ``sum x / tau`` and
    ``sum log tau`` are carried along and replaced by the other side's when the unit flips, so
    each unit costs one pass over the neurons with one division per neuron and one logarithm
    per four (:func:`_sum_log`). ``tau`` is kept up to date incrementally; the loop is unrolled
    in blocks of units to keep per-iteration overhead small.
    """
    n = units.shape[0]
    m = _block_size(n, 8)
    u = jax.random.uniform(key, units.shape, dtype=units.dtype)
    current = (jnp.sum(neurons / means), _sum_log(means))

    def block(b, carry):
        g, tau, (rate, log_tau) = carry
        start = b * m
        cols = jax.lax.dynamic_slice_in_dim(coupling, start, m, axis=1)
        gb = jax.lax.dynamic_slice_in_dim(g, start, m)
        lb = jax.lax.dynamic_slice_in_dim(logits, start, m)
        ub = jax.lax.dynamic_slice_in_dim(u, start, m)
        for j in range(m):
            was_on = gb[j] > 0.5
            other = tau + jnp.where(was_on, -1.0, 1.0) * cols[:, j]
            other_rate, other_log = jnp.sum(neurons / other), _sum_log(other)
            # log p(x | g_j = 1) - log p(x | g_j = 0) for exponentials with means tau
            diff = (other_log + other_rate) - (log_tau + rate)  # log p(x | now) - log p(x | flip)
            llr = jnp.where(was_on, diff, -diff)
            on = ub[j] < jax.nn.sigmoid(lb[j] + llr)
            flip = on != was_on
            gb = gb.at[j].set(on.astype(g.dtype))
            tau = jnp.where(flip, other, tau)
            rate = jnp.where(flip, other_rate, rate)
            log_tau = jnp.where(flip, other_log, log_tau)
        g = jax.lax.dynamic_update_slice_in_dim(g, gb, start, axis=0)
        return g, tau, (rate, log_tau)

    g, tau, _ = jax.lax.fori_loop(0, n // m, block, (units, means, current))
    return g, tau


def unit_log_likelihood(units: Float[Array, " units"], cond: Conditionals):
    """``log p(g | K, O)`` for every ``(K, O)``: the evidence a middle-layer state carries."""
    return jnp.einsum("k,tck->tc", units, cond.log_p_on, precision=HIGHEST) + jnp.einsum(
        "k,tck->tc", 1 - units, cond.log_p_off, precision=HIGHEST
    )


def update_belief(log_belief, units, cond: Conditionals, mode: InferenceMode, odds, evidence):
    """One step of the tempered evidence accumulator (no change where ``evidence`` is 0).

    ``memory`` 1 and 0 select the carried belief or the prior outright, so an impossible
    ``(K, O)`` (log prior -inf, e.g. a one-hot context prior) stays -inf instead of
    0 * -inf = NaN.
    """
    log_lik = unit_log_likelihood(units, cond)
    m = mode.memory
    mixed = m * log_belief + (1 - m) * cond.log_prior  # -inf where either is, for 0 < m < 1
    carried = jnp.where(m == 1, log_belief, jnp.where(m == 0, cond.log_prior, mixed))
    updated = jax.nn.log_softmax((carried + odds * log_lik).reshape(-1)).reshape(log_lik.shape)
    return jnp.where(evidence, updated, log_belief)


def update_contrast(key, contrast, neurons, projection, cond: Conditionals, step_sd):
    """Exact draw of ``s`` under the slow random-walk prior truncated at 0."""
    gx = jnp.matmul(cond.gram, neurons, precision=HIGHEST)
    precision = 1.0 / step_sd**2 + jnp.dot(neurons, gx, precision=HIGHEST) / cond.noise_var
    var = 1.0 / precision
    drive = jnp.dot(projection, neurons, precision=HIGHEST)
    mean = var * (drive / cond.noise_var + contrast / step_sd**2)
    u = jax.random.uniform(key, dtype=neurons.dtype, minval=jnp.finfo(neurons.dtype).tiny)
    return positive_normal_from_uniform(mean, jnp.sqrt(var), u)


def step(
    key: PRNGKeyArray,
    state: GibbsState,
    cond: Conditionals,
    projection: Float[Array, " neurons"],
    evidence: Bool[ArrayLike, ""],
    settings: SamplerSettings,
    mode: InferenceMode,
) -> tuple[GibbsState, GibbsInfo]:
    """One Gibbs sweep on an image whose projection on the fields is ``projection``.

    ``evidence`` (bool) says whether the task belief accumulates evidence in this sweep
    (False in the pre-signal period).
    """
    k_x, k_g, k_to, k_s = jax.random.split(key, 4)
    coupling = _effective_coupling(cond, mode)
    top_down = apical_means(state.means, mode)  # what reaches the neurons from above

    if settings.x_sampler == "gibbs":
        neurons = update_neurons_gibbs(
            k_x, state.neurons, top_down, state.contrast, projection, cond
        )
        acceptance = jnp.ones((), dtype=neurons.dtype)
    else:

        def logdensity(x):
            return neurons_log_density(x, top_down, state.contrast, projection, cond)

        neurons, acceptance = reflected_mala_step(
            k_x, state.neurons, logdensity, settings.mala_step_size, settings.mala_steps
        )

    logits = _unit_prior_logits(cond, mode, state.context, state.category)
    units, means = update_units(k_g, state.units, state.means, neurons, logits, coupling)

    log_belief = update_belief(
        state.log_belief, units, cond, mode, settings.odds_increment, evidence
    )
    flat = jax.random.categorical(k_to, log_belief.reshape(-1))
    context, category = flat // 2, flat % 2

    contrast = state.contrast
    if settings.contrast_prior == "slow":
        contrast = update_contrast(k_s, contrast, neurons, projection, cond, settings.contrast_step)

    new = GibbsState(neurons, units, contrast, context, category, log_belief, means)
    p = jnp.exp(log_belief)
    return new, GibbsInfo(
        belief=jnp.sum(p[:, 0]), context=jnp.sum(p, axis=1), acceptance=acceptance
    )
