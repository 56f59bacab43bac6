"""Recorded blocks: one block per condition, recorded and streamed into statistics.

:func:`record` runs a block's trials (every condition the same trials and images) ``chunk``
at a time in one ``lax.scan``. Signal trials are never kept: they stream into level sums (per
time bin and for the whole trial), the number correct per level and the signal trials' pooled
second moment, for the data and ``resamples`` Poisson-bootstrap resamples at once. The
zero-signal trials, a fixed number per block and small (at paper scale 1,024 trials x 5
features x 256 neurons, 5 MB), are kept one by one with their bootstrap weights
(:class:`ZeroTrials`): each replicate's zero-signal covariance is computed from them when it is
measured (:func:`replicate_moments`), one replicate at a time. Memory is bounded by ``chunk``
trials in flight and the zero-signal trials, whatever the number of signal trials.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from bayescortex.analysis.moments import (
    HIGHEST,
    SignalMoments,
    add_means,
    empty_moments,
    moments_from_trials,
    poisson_weights,
)
from bayescortex.inference import InferenceMode, gibbs
from bayescortex.inference.trial import simulate_trial
from bayescortex.models import CONTEXTS, HierarchicalModel, Stimulus, is_correct

from .keys import FROZEN_IMAGES
from .protocol import (
    Hyper,
    Protocol,
    record_settings,
    trial_levels,
    trial_table,
    with_apical_gain,
)


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
    level = trial_levels(protocol)
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
    level, contrast = trial_table(protocol, hyper.coherences)
    settings = record_settings(protocol, hyper)
    stimulus = Stimulus(noise_sd=hyper.noise_sd, frame_every=protocol.frame_every)
    n_levels = protocol.n_levels
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


def accuracy(stats: BlockStats, replicate: int = 0) -> Float[Array, "... levels"]:
    """Fraction correct per level (zero signal: fraction choosing the first category)."""
    return stats.correct[..., replicate, :] / stats.moments.weight[..., replicate, :]


def context_posterior(stats: BlockStats) -> Float[Array, "... replicates bins contexts"]:
    """Mean posterior over the context ``p_t(K | q, y)`` per time bin, over a block's trials."""
    total = jnp.sum(stats.moments.weight, axis=-1)
    return stats.context / total[..., None, None]
