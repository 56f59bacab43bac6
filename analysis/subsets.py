"""Redundancy on random neuron subsets, from a recording's streamed statistics or counts.

- Population-size control: every measure of :mod:`bayescortex.analysis.redundancy` on many
  random equal-size neuron subsets (e.g. 1000 of 32), vmapped, then the median over subsets.
  ``f'`` and ``S0`` are computed once for the whole population; each subset only gathers its
  rows and columns and factorises a ``k x k`` matrix. A subset whose ``S0`` is singular (it
  holds a duplicated or collinear set of neurons; ``I`` is NaN) is excluded from the medians,
  and counted.
- The estimators that run it (the whole population is one subset):
  :func:`redundancy_from_stats` on streamed statistics (:mod:`bayescortex.analysis.moments`)
  and :func:`estimate_redundancy` on counts sorted by signal, the traceable core of
  :func:`bayescortex.analysis.summary.redundancy_summary`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, Real

from .correlations import fraction_variance_along_fprime
from .moments import (
    SignalMoments,
    covariance,
    fprime_from_moments,
    moments_from_trials,
)
from .recording import (
    SignalLayout,
)
from .redundancy import RedundancyEstimate, _estimate_and_matrix, combine_coherences
from .variance import VarianceForm, fisher_covariance


def random_subsets(
    key: PRNGKeyArray, n_neurons: int, subset_size: int, n_subsets: int
) -> Int[Array, "subsets size"]:
    """``n_subsets`` random subsets of ``subset_size`` distinct neurons (rows of indices).

    >>> s = random_subsets(jax.random.key(0), 10, 4, 3)
    >>> s.shape, all(len(set(row.tolist())) == 4 for row in s)
    ((3, 4), True)
    """
    if not 1 <= subset_size <= n_neurons:
        raise ValueError(
            f"subset_size: expected between 1 and the {n_neurons} neurons, got {subset_size}"
        )
    if n_subsets < 1:
        raise ValueError(f"n_subsets: expected a positive number, got {n_subsets}")
    # The k largest of iid uniforms: a uniform k-subset. A sort, not TopK (a CPU library kernel,
    # which hung on host devices); argsort(-u) gives top_k's indices in top_k's order.
    u = jax.random.uniform(key, (n_subsets, n_neurons))
    return jnp.argsort(-u, axis=-1)[:, :subset_size]


@functools.partial(jax.jit, static_argnames=("variance_form",))
def subset_redundancy(
    fprime: Float[Array, "coherences neurons"],
    cov: Float[Array, "neurons neurons"],
    subsets: Int[Array, "subsets size"],
    t0: Real[ArrayLike, ""],
    t_plus: Real[ArrayLike, " coherences"],
    t_minus: Real[ArrayLike, " coherences"],
    ds: Real[ArrayLike, " coherences"],
    *,
    variance_form: VarianceForm = "gaussian",
) -> tuple[RedundancyEstimate, RedundancyEstimate]:
    """Per-subset estimates, per coherence and combined over coherences (vmapped).

    Returns:
        ``(per_coherence, combined)``: fields of shape (subsets, coherences) and (subsets,).

    >>> subsets = random_subsets(jax.random.key(0), 20, 5, 100)
    >>> per, comb = subset_redundancy(jnp.ones((2, 20)), jnp.eye(20), subsets, 200,
    ...                               jnp.array([100.0, 100.0]), jnp.array([100.0, 100.0]),
    ...                               jnp.array([1.0, 2.0]))
    >>> per.information.shape, comb.information.shape
    ((100, 2), (100,))
    """

    def one(idx):
        args = (fprime[:, idx], cov[idx[:, None], idx[None, :]], t0, t_plus, t_minus, ds)
        est, matrix = _estimate_and_matrix(*args, variance_form)
        if variance_form == "authors":
            return est, combine_coherences(est)
        c = fisher_covariance(matrix, idx.shape[0], t0, *args[3:])
        return est, combine_coherences(est, c)

    return jax.vmap(one)(subsets)


def median_over_subsets(estimate: RedundancyEstimate) -> RedundancyEstimate:
    """The median over the leading (subset) axis of every field, ignoring NaN entries.

    NaN marks excluded subsets (:func:`estimate_redundancy` sets every field of a subset
    with a singular ``S0`` to NaN, so all fields use the same subsets); all NaN: NaN. The
    median of ``variance`` is the typical single-subset sampling variance, not the variance
    of the median; use the bootstrap for intervals on the median.

    >>> est = RedundancyEstimate.from_information(
    ...     jnp.array([1.0, 2.0, 9.0]), jnp.array([2.0, 3.0, 9.0]), jnp.ones(3))
    >>> float(median_over_subsets(est).information)
    2.0
    """
    return jax.tree.map(lambda v: jnp.nanmedian(v, axis=0), estimate)


class RedundancyResult(NamedTuple):
    """What :func:`estimate_redundancy` returns (leading time axis with time bins).

    Attributes:
        per_coherence: fields of shape (coherences,) (median over subsets if any).
        combined: scalar fields, combined over coherences per subset, then the median.
        fraction_along_fprime: share of noise variance along ``f'`` per coherence (whole
            population).
        fprime: ``f'`` per coherence, (coherences, neurons), whole population.
        n_excluded: subsets left out of the medians because their ``I`` is NaN at some
            coherence (singular ``S0`` on the subset: duplicated or collinear neurons; or
            ``T0 < N + 4``); with the whole population, 1 if its ``I`` is NaN.
    """

    per_coherence: RedundancyEstimate
    combined: RedundancyEstimate
    fraction_along_fprime: Float[Array, "*time coherences"]
    fprime: Float[Array, "*time coherences neurons"]
    n_excluded: Int[Array, "*time"]


def _from_moments(m: SignalMoments, key, ds, subset_size, n_subsets, variance_form):
    # One set of statistics without feature axes: (levels, neurons) totals.
    n = m.total.shape[-1]
    fp = fprime_from_moments(m, ds)
    cov = covariance(m)
    if subset_size is None or subset_size >= n:
        subsets = jnp.arange(n)[None, :]
    else:
        subsets = random_subsets(key, n, subset_size, n_subsets)
    per_coh, combined = subset_redundancy(
        fp, cov, subsets, m.zero_weight, m.weight[1::2], m.weight[2::2], ds,
        variance_form=variance_form,
    )  # fmt: skip
    # Exclude a subset from every field's median at once where its I is undefined.
    excluded = jnp.any(jnp.isnan(per_coh.information), axis=-1)
    per_coh = jax.tree.map(lambda v: jnp.where(excluded[:, None], jnp.nan, v), per_coh)
    combined = jax.tree.map(lambda v: jnp.where(excluded, jnp.nan, v), combined)
    return RedundancyResult(
        median_over_subsets(per_coh),
        median_over_subsets(combined),
        fraction_variance_along_fprime(fp, cov),
        fp,
        jnp.sum(excluded),
    )


def redundancy_from_stats(
    moments: SignalMoments,
    key: PRNGKeyArray | None,
    *,
    ds: Real[ArrayLike, " coherences"] | Sequence[float],
    subset_size: int | None = None,
    n_subsets: int = 1,
    variance_form: VarianceForm = "gaussian",
) -> RedundancyResult:
    """Redundancy estimate from streamed statistics (:mod:`bayescortex.analysis.moments`).

    The same estimate as :func:`estimate_redundancy` on the trials the statistics summarise
    (levels in :class:`SignalLayout` block order; trial counts are the weights, so weighted
    statistics of a Poisson bootstrap resample give that resample's estimate). Feature axes of
    the statistics (e.g. time bins) are mapped over with the same neuron subsets. Traceable;
    ``ds`` (``2c`` per coherence) may be concrete or traced.
    """
    ds = jnp.asarray(ds, moments.total.dtype)

    def run(m):
        return _from_moments(m, key, ds, subset_size, n_subsets, variance_form)

    n_features = moments.total.ndim - 2
    for _ in range(n_features):
        run = jax.vmap(run, in_axes=(SignalMoments(None, 1, None, 0, 0),))
    return run(moments)


@functools.partial(jax.jit, static_argnames=("layout", "subset_size", "n_subsets", "variance_form"))
def estimate_redundancy(
    counts: Float[Array, "trials *time neurons"],
    key: PRNGKeyArray | None,
    *,
    layout: SignalLayout,
    subset_size: int | None = None,
    n_subsets: int = 1,
    variance_form: VarianceForm = "gaussian",
) -> RedundancyResult:
    """Jitted redundancy estimate on counts already sorted into the blocks of ``layout``.

    The traceable core of :func:`bayescortex.analysis.summary.redundancy_summary`, for use
    inside your own jitted code, vmaps over seeds, or
    :func:`bayescortex.analysis.bootstrap.bootstrap` (``keyed=True``).
    No input checks: NaN where the estimator is undefined (``T0 < N + 4``; combined values
    also at ``T0 = N + 4``, where the variance is infinite). Subsets with a singular ``S0``
    are left out of the medians and counted in ``n_excluded`` (all excluded: NaN).

    Args:
        counts: (trial, neuron) or (trial, time, neuron), trials ordered as
            ``group_by_signal(signal).order`` (zero-signal block, then ``+c``/``-c`` blocks).
        key: draws the neuron subsets (the same subsets for every time bin); None without
            subsets.
        layout: the static :class:`~bayescortex.analysis.recording.SignalLayout`.
        subset_size: neurons per subset; None for the whole population.
        n_subsets: number of random subsets (ignored without ``subset_size``).
        variance_form: see :func:`bayescortex.analysis.variance.fisher_variance`.

    >>> import numpy as np
    >>> from bayescortex.analysis.recording import group_by_signal
    >>> signal = np.repeat([-0.5, 0.0, 0.5], 100)
    >>> counts = np.random.default_rng(0).normal(size=(300, 12)) + signal[:, None]
    >>> g = group_by_signal(signal)
    >>> out = estimate_redundancy(jnp.asarray(counts[g.order]), jax.random.key(0),
    ...                           layout=g.layout, subset_size=6, n_subsets=50)
    >>> out.per_coherence.information.shape, out.combined.information.shape
    ((1,), ())
    """
    level = jnp.asarray(layout.block_ids)
    moments = moments_from_trials(
        counts, level, jnp.ones(level.shape, counts.dtype), n_levels=len(layout.sizes)
    )
    return redundancy_from_stats(
        moments, key, ds=layout.ds, subset_size=subset_size, n_subsets=n_subsets,
        variance_form=variance_form,
    )  # fmt: skip


__all__ = [
    "RedundancyResult",
    "estimate_redundancy",
    "median_over_subsets",
    "random_subsets",
    "redundancy_from_stats",
    "subset_redundancy",
]
