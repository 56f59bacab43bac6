"""Bootstrap confidence intervals over trials, and over an optional seed/animal axis.

Resamples are index arrays drawn from explicit keys (one ``fold_in`` per resample, so a
resample's draw does not depend on how many resamples are made) and the statistic is
vmapped over them (in batches of ``batch_size`` through ``jax.lax.map`` to bound memory).
Resampling is stratified: each trial is replaced by a random trial of the same stratum
(signal level), so every resample keeps the design's trial counts (``T0``, ``T1``, ``T2``).

With ``seeds=True`` the data carry a leading seed (or animal) axis: each resample draws
seeds with replacement, then trials within every drawn seed, applies the statistic per seed
and averages over seeds, so the interval reflects both sources of variability.

Intervals are percentile intervals of the resampled statistic, optionally centred: shifted so
that the resamples' mean equals the point estimate. Centre them for the bias-corrected
information estimators. A resample's own "true" value is the uncorrected plug-in value of the
data, and trials drawn twice inflate the inverse covariance, so the resampled estimates sit
above the (unbiased) estimate; in Gaussian checks (16 neurons, 200 trials per level) plain
percentile intervals of ``I`` covered the truth 87% of the time at a nominal 95%, centred ones
97% (their width is slightly conservative for ``I``, about right for ``I_shuffle``). For the
combined values of :func:`~bayescortex.analysis.summary.redundancy_summary` (8 neurons,
120 trials per level, 400 synthetic recordings) centred 95% intervals covered the true
``I``, ``I_shuffle``, ``I_red`` and percent redundancy 96%, 95%, 98% and 95% of the time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .recording import ArrayInput


def block_resample_indices(key: PRNGKeyArray, sizes: tuple[int, ...]) -> Int[Array, " trials"]:
    """Resample trials with replacement within contiguous blocks of static ``sizes``.

    Trial ``i`` of block ``b`` (rows ``start_b .. start_b + sizes[b] - 1``) is replaced by a
    uniformly drawn row of the same block.

    >>> idx = block_resample_indices(jax.random.key(0), (3, 2))
    >>> bool(jnp.all(idx[:3] < 3)) and bool(jnp.all(idx[3:] >= 3))
    True
    """
    sizes_np = np.asarray(sizes, dtype=np.int64)
    if sizes_np.ndim != 1 or np.any(sizes_np < 1):
        raise ValueError(f"sizes: expected positive block sizes, got {sizes}")
    starts = np.repeat(np.concatenate([[0], np.cumsum(sizes_np)[:-1]]), sizes_np)
    width = np.repeat(sizes_np, sizes_np)
    u = jax.random.uniform(key, (int(sizes_np.sum()),))
    # min() guards against u * width rounding up to width in float32.
    offset = jnp.minimum(jnp.floor(u * width).astype(jnp.int32), width - 1)
    return jnp.asarray(starts, dtype=jnp.int32) + offset


def _strata_layout(strata: ArrayInput | None, n_trials: int):
    """Permutation that sorts trials by stratum, and the stratum sizes in that order."""
    if strata is None:
        return np.arange(n_trials), (n_trials,)
    labels = np.asarray(strata)
    if labels.shape != (n_trials,):
        raise ValueError(
            f"strata: expected one label per trial ({n_trials}), got shape {labels.shape}"
        )
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    return order, tuple(int(c) for c in counts)


def _sorted_by_stratum(data, strata, seeds: bool):
    """The data with trials sorted (stably) by stratum, and the stratum sizes."""
    order, sizes = _strata_layout(strata, _n_trials(data, seeds))
    order = jnp.asarray(order)
    axis = 1 if seeds else 0
    return jax.tree.map(lambda a: jnp.take(jnp.asarray(a), order, axis=axis), data), sizes


def _n_trials(data, seeds: bool) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data: expected at least one array")
    axis = 1 if seeds else 0
    lengths = {np.shape(leaf)[axis] if np.ndim(leaf) > axis else -1 for leaf in leaves}
    if len(lengths) != 1 or -1 in lengths:
        what = "(seed, trial, ...)" if seeds else "(trial, ...)"
        raise ValueError(f"data: every array needs the layout {what} with equal trial counts")
    if seeds:
        n_seeds = {np.shape(leaf)[0] for leaf in leaves}
        if len(n_seeds) != 1:
            raise ValueError("data: arrays disagree on the number of seeds (axis 0)")
    return lengths.pop()


def bootstrap(
    key: PRNGKeyArray,
    statistic: Callable[..., PyTree],
    data: PyTree,
    *,
    n_resamples: int,
    strata: ArrayInput | None = None,
    seeds: bool = False,
    keyed: bool = False,
    batch_size: int | None = None,
) -> PyTree:
    """The statistic on ``n_resamples`` bootstrap resamples of the trials (and seeds).

    Args:
        key: a ``jax.random.key``; resample ``b`` uses ``fold_in(key, b)``.
        statistic: a jax-traceable function of ``data`` (or of ``(data, key)`` when
            ``keyed``) returning a pytree of arrays. Trials arrive sorted by stratum.
        data: a pytree of arrays sharing the trial axis: ``(trial, ...)``, or
            ``(seed, trial, ...)`` with ``seeds=True`` (every seed has the same design).
        n_resamples: number of resamples.
        strata: optional label per trial (e.g. the signal level); resampling stays within
            each label so the design's trial counts are kept.
        seeds: resample the leading seed/animal axis too; the statistic is applied per seed
            and averaged over seeds.
        keyed: pass a fresh key to the statistic in every resample (for statistics that are
            random themselves, such as medians over random neuron subsets).
        batch_size: resamples evaluated at once (None: all, one vmap); smaller bounds memory.

    Returns:
        The statistic's pytree with a leading ``n_resamples`` axis.

    >>> x = jnp.arange(10.0)
    >>> s = bootstrap(jax.random.key(0), jnp.mean, x, n_resamples=200)
    >>> s.shape
    (200,)
    """
    if not (isinstance(n_resamples, int) and n_resamples >= 1):
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples}")
    data, sizes = _sorted_by_stratum(data, strata, seeds)
    return _resampled(
        key,
        data,
        statistic=statistic,
        sizes=sizes,
        n_resamples=n_resamples,
        seeds=seeds,
        keyed=keyed,
        batch_size=batch_size or n_resamples,
    )


@functools.partial(
    jax.jit,
    static_argnames=("statistic", "sizes", "n_resamples", "seeds", "keyed", "batch_size"),
)
def _resampled(key, data, *, statistic, sizes, n_resamples, seeds, keyed, batch_size):
    # Module-level and jitted with the statistic as a static argument, so repeated calls
    # with the same statistic object and shapes reuse one compilation.
    def call(d, k):
        return statistic(d, k) if keyed else statistic(d)

    def one_seed(seed, k):
        # One gather per leaf (seed and trials together): no intermediate copy of the data.
        k_idx, k_stat = jax.random.split(k)
        idx = block_resample_indices(k_idx, sizes)
        if seed is None:
            return call(jax.tree.map(lambda a: a[idx], data), k_stat)
        return call(jax.tree.map(lambda a: a[seed, idx], data), k_stat)

    def resample(b):
        k = jax.random.fold_in(key, b)
        if not seeds:
            return one_seed(None, k)
        n_seeds = jax.tree.leaves(data)[0].shape[0]
        k_seed, k_trials = jax.random.split(k)
        pick = block_resample_indices(k_seed, (n_seeds,))
        per_seed = jax.vmap(one_seed)(pick, jax.random.split(k_trials, n_seeds))
        return jax.tree.map(lambda v: jnp.mean(v, axis=0), per_seed)

    if batch_size >= n_resamples:
        return jax.vmap(resample)(jnp.arange(n_resamples))
    return jax.lax.map(resample, jnp.arange(n_resamples), batch_size=batch_size)


def percentile_interval(
    samples: PyTree, level: float = 0.95, *, center: PyTree | None = None
) -> tuple[PyTree, PyTree]:
    """Lower and upper percentile bounds (``(1 - level)/2`` and ``(1 + level)/2``) over axis 0.

    Args:
        samples: resampled statistics, leading resample axis (from :func:`bootstrap`).
        level: confidence level.
        center: optional point estimates (same pytree without the resample axis); the
            resamples are first shifted so that their mean equals it (a centred interval,
            see the module docstring).

    NaN resamples propagate (a NaN bound says some resample was undefined).

    >>> lo, hi = percentile_interval(jnp.arange(101.0), 0.9)
    >>> round(float(lo), 6), round(float(hi), 6)
    (5.0, 95.0)
    """
    if not 0 < level < 1:
        raise ValueError(f"level: expected a confidence level in (0, 1), got {level}")
    q = jnp.array([(1 - level) / 2, (1 + level) / 2])
    if center is not None:
        samples = jax.tree.map(
            lambda s, c: s - jnp.mean(s, axis=0, keepdims=True) + jnp.asarray(c)[None],
            samples,
            center,
        )
    bounds = jax.tree.map(lambda s: jnp.quantile(s, q, axis=0), samples)
    low = jax.tree.map(lambda b: b[0], bounds)
    high = jax.tree.map(lambda b: b[1], bounds)
    return low, high


class ConfidenceInterval(NamedTuple):
    """A point estimate with its bootstrap interval; each field has the statistic's pytree."""

    estimate: Any
    low: Any
    high: Any
    standard_error: Any


def bootstrap_ci(
    key: PRNGKeyArray,
    statistic: Callable[..., PyTree],
    data: PyTree,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    strata: ArrayInput | None = None,
    seeds: bool = False,
    keyed: bool = False,
    batch_size: int | None = None,
    centered: bool = False,
) -> ConfidenceInterval:
    """Point estimate, percentile interval and bootstrap standard error of a statistic.

    Arguments as :func:`bootstrap`; ``centered`` shifts the resamples onto the point estimate
    before taking percentiles (see the module docstring). The point estimate is the statistic
    on the data as given (trials sorted by stratum as in the resamples; averaged over seeds
    with ``seeds=True``); a keyed statistic gets a key split off ``key`` for it.

    >>> x = jax.random.normal(jax.random.key(1), (400,))
    >>> ci = bootstrap_ci(jax.random.key(2), jnp.mean, x, n_resamples=500)
    >>> bool(ci.low < ci.estimate < ci.high), round(float(ci.standard_error), 2)
    (True, 0.05)
    """
    k_point, k_boot = jax.random.split(key)
    samples = bootstrap(
        k_boot,
        statistic,
        data,
        n_resamples=n_resamples,
        strata=strata,
        seeds=seeds,
        keyed=keyed,
        batch_size=batch_size,
    )

    def point(d):
        return statistic(d, k_point) if keyed else statistic(d)

    data, _ = _sorted_by_stratum(data, strata, seeds)
    if seeds:
        per_seed = jax.vmap(point)(data)
        estimate = jax.tree.map(lambda v: jnp.mean(v, axis=0), per_seed)
    else:
        estimate = point(data)
    low, high = percentile_interval(samples, level, center=estimate if centered else None)
    se = jax.tree.map(lambda s: jnp.std(s, axis=0, ddof=1), samples)
    return ConfidenceInterval(estimate, low, high, se)


__all__ = [
    "ConfidenceInterval",
    "block_resample_indices",
    "bootstrap",
    "bootstrap_ci",
    "percentile_interval",
]
