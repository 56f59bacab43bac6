"""Streaming sufficient statistics of a recording: what the information estimators need.

Linear Fisher information, shuffled information and redundancy depend on the trials only
through the mean response at every signal level and the covariance of the zero-signal trials
(:mod:`bayescortex.analysis.fisher`). :class:`SignalMoments` holds exactly these, accumulated
batch by batch, so a recording of any length is summarised in memory that does not grow with
its number of trials:

- ``weight[l]``: the (weighted) number of trials at level ``l``;
- ``total[l]``: the (weighted) sum of their responses;
- ``zero_weight``, ``zero_mean``, ``zero_scatter``: weight, mean and scatter matrix
  ``sum_t w_t (x_t - mean)(x_t - mean)^T`` of the zero-signal trials, merged batch by batch with
  the pairwise update of Chan, Golub & LeVeque (1979), which stays accurate where the textbook
  ``sum x x^T - W mean mean^T`` loses digits in float32.

Levels follow :class:`~bayescortex.analysis.recording.SignalLayout`'s block order (0: zero
signal; ``2k + 1``, ``2k + 2``: ``+c_k`` and ``-c_k``). Responses may carry feature axes between
the trial and neuron axes (e.g. time bins): ``x`` of shape ``(trials, *features, neurons)``.

Weights make the bootstrap streamable: with independent Poisson(1) weights per trial (one set
per resample, :func:`poisson_weights`) the weighted statistics are those of a bootstrap resample
(the Poisson bootstrap), with no need to keep the trials. Unit weights give the plain sample
statistics; :func:`moments_from_trials` and a stream of batches agree to float rounding.

>>> import numpy as np
>>> x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)))
>>> level = jnp.array([0, 0, 0, 1, 2, 0])
>>> whole = moments_from_trials(x, level, jnp.ones(6), n_levels=3)
>>> parts = merge(moments_from_trials(x[:2], level[:2], jnp.ones(2), n_levels=3),
...               moments_from_trials(x[2:], level[2:], jnp.ones(4), n_levels=3))
>>> bool(jnp.allclose(whole.zero_scatter, parts.zero_scatter, atol=1e-5))
True
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

HIGHEST = jax.lax.Precision.HIGHEST
"""Matmul precision of every quadratic form and covariance: accelerators default to TF32/bf16
for float32 products, which would change the estimates."""


class SignalMoments(NamedTuple):
    """Weighted per-level sums and zero-signal moments (see the module docstring)."""

    weight: Float[Array, " levels"]
    total: Float[Array, "levels *features neurons"]
    zero_weight: Float[Array, ""]
    zero_mean: Float[Array, "*features neurons"]
    zero_scatter: Float[Array, "*features neurons neurons"]


def empty_moments(n_levels: int, shape: tuple[int, ...], dtype=jnp.float32) -> SignalMoments:
    """Statistics of no trials, for responses of shape ``(*features, neurons)``."""
    return SignalMoments(
        weight=jnp.zeros((n_levels,), dtype),
        total=jnp.zeros((n_levels, *shape), dtype),
        zero_weight=jnp.zeros((), dtype),
        zero_mean=jnp.zeros(shape, dtype),
        zero_scatter=jnp.zeros((*shape, shape[-1]), dtype),
    )


def moments_from_trials(
    x: Float[Array, "trials *features neurons"],
    level: Int[Array, " trials"],
    weight: Float[Array, " trials"],
    *,
    n_levels: int,
    zero_level: int = 0,
) -> SignalMoments:
    """Statistics of one batch of trials (``weight`` 0 drops a trial, e.g. padding)."""
    w = weight.astype(x.dtype)
    onehot = (level[:, None] == jnp.arange(n_levels)[None, :]).astype(x.dtype) * w[:, None]
    total = jnp.einsum("tl,t...->l...", onehot, x, precision=HIGHEST)
    w0 = onehot[:, zero_level]
    zero_weight = jnp.sum(w0)
    safe = jnp.where(zero_weight > 0, zero_weight, 1.0)
    zero_mean = jnp.einsum("t,t...->...", w0, x, precision=HIGHEST) / safe
    centred = x - zero_mean[None]
    scatter = jnp.einsum("t,t...i,t...j->...ij", w0, centred, centred, precision=HIGHEST)
    return SignalMoments(jnp.sum(onehot, axis=0), total, zero_weight, zero_mean, scatter)


def merge(a: SignalMoments, b: SignalMoments) -> SignalMoments:
    """Statistics of the union of two sets of trials (exact; Chan et al.'s pairwise update)."""
    w = a.zero_weight + b.zero_weight
    frac = jnp.where(w > 0, b.zero_weight / jnp.where(w > 0, w, 1.0), 0.0)
    delta = b.zero_mean - a.zero_mean
    mean = a.zero_mean + frac * delta
    cross = a.zero_weight * frac  # W_a W_b / W
    outer = delta[..., :, None] * delta[..., None, :]
    return SignalMoments(
        weight=a.weight + b.weight,
        total=a.total + b.total,
        zero_weight=w,
        zero_mean=mean,
        zero_scatter=a.zero_scatter + b.zero_scatter + cross * outer,
    )


def accumulate(
    m: SignalMoments,
    x: Float[Array, "trials *features neurons"],
    level: Int[Array, " trials"],
    weight: Float[Array, " trials"],
    *,
    zero_level: int = 0,
) -> SignalMoments:
    """``m`` updated with one more batch of trials."""
    batch = moments_from_trials(x, level, weight, n_levels=m.weight.shape[0], zero_level=zero_level)
    return merge(m, batch)


def add_means(
    m: SignalMoments,
    x: Float[Array, "trials *features neurons"],
    level: Int[Array, " trials"],
    weight: Float[Array, " trials"],
) -> SignalMoments:
    """``m`` updated with a batch of signal trials: level sums only, zero-signal moments kept.

    For batches known to hold no zero-signal trials; it skips the scatter matrix, the
    dominant cost of :func:`accumulate`.
    """
    onehot = (level[:, None] == jnp.arange(m.weight.shape[0])[None, :]).astype(x.dtype)
    onehot = onehot * weight.astype(x.dtype)[:, None]
    total = jnp.einsum("tl,t...->l...", onehot, x, precision=HIGHEST)
    return m._replace(weight=m.weight + jnp.sum(onehot, axis=0), total=m.total + total)


def poisson_weights(key: PRNGKeyArray, trial_ids: Int[Array, " trials"], n_resamples: int):
    """Poisson(1) bootstrap weights, ``(n_resamples + 1, trials)``; row 0 is all ones (the data).

    Trial ``n``'s weights come from ``fold_in(key, n)``, so they do not depend on how the
    trials are batched, and blocks that share trial ids (the same stimuli recorded in several
    modes) share their resamples.
    """

    def one(n):
        return jax.random.poisson(jax.random.fold_in(key, n), 1.0, (n_resamples,))

    draws = jax.vmap(one)(trial_ids).T.astype(jnp.float32)
    return jnp.concatenate([jnp.ones((1, trial_ids.shape[0]), jnp.float32), draws])


def covariance(m: SignalMoments) -> Float[Array, "*features neurons neurons"]:
    """Zero-signal covariance with divisor ``W - 1`` (the sample covariance at unit weights)."""
    return m.zero_scatter / (m.zero_weight - 1.0)


def level_means(m: SignalMoments) -> Float[Array, "levels *features neurons"]:
    """Mean response at every level (NaN where a level has no weight)."""
    w = m.weight.reshape(m.weight.shape + (1,) * (m.total.ndim - 1))
    return m.total / w


def fprime_from_moments(m: SignalMoments, ds) -> Float[Array, "coherences *features neurons"]:
    """``f' = (mean(+c) - mean(-c)) / ds`` for every coherence (levels in layout order)."""
    means = level_means(m)
    ds = jnp.asarray(ds, means.dtype).reshape((-1,) + (1,) * (means.ndim - 1))
    return (means[1::2] - means[2::2]) / ds


def select(m: SignalMoments, feature, neurons=None) -> SignalMoments:
    """The moments of one feature (or a slice of features) of a subset of neurons, for
    moments with one leading feature axis (a recording's time bins and whole trial).

    >>> x, level = jnp.arange(24.0).reshape(4, 2, 3), jnp.array([0, 0, 1, 1])
    >>> m = moments_from_trials(x, level, jnp.ones(4), n_levels=2)
    >>> select(m, -1, [0, 2]).zero_scatter.shape
    (2, 2)
    """
    total, mean, scatter = m.total[:, feature], m.zero_mean[feature], m.zero_scatter[feature]
    if neurons is not None:
        idx = jnp.asarray(neurons)
        total, mean = total[..., idx], mean[..., idx]
        scatter = scatter[..., idx[:, None], idx[None, :]]
    return SignalMoments(m.weight, total, m.zero_weight, mean, scatter)


__all__ = [
    "HIGHEST",
    "SignalMoments",
    "accumulate",
    "add_means",
    "covariance",
    "empty_moments",
    "fprime_from_moments",
    "level_means",
    "merge",
    "moments_from_trials",
    "poisson_weights",
    "select",
]
