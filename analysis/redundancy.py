"""Redundancy of a population code, combined over coherences, on random neuron subsets.

- Redundancy ``I_red = I_shuffle - I`` and percent redundancy
  ``100 (I_shuffle - I) / I_shuffle`` (SCIENCE.md, "Measures"): how much of the information
  that the neurons carry one by one is shared rather than adding up.
- Combination over coherences: inverse-variance weighting with the weights
  ``w_c = 1 / var(I_c)`` from :func:`bayescortex.analysis.fisher.fisher_variance`. ``I`` and
  ``I_shuffle`` are averaged with the SAME weights, so ``I_red = I_shuffle - I`` also holds
  for the combined values; the combined variance is ``1 / sum_c w_c``. Coherences whose
  variance is not finite and positive get weight 0.
- Population-size control: every measure on many random equal-size neuron subsets (e.g.
  1000 of 32), vmapped, then the median over subsets. ``f'`` and ``S0`` are computed once for
  the whole population; each subset only gathers its rows and columns and factorises a
  ``k x k`` matrix. A subset whose ``S0`` is singular (it holds a duplicated or collinear set
  of neurons; ``I`` is NaN) is excluded from the medians, and counted.
- :func:`redundancy_summary`: the user-facing entry point on a recording (counts, signal per
  trial, optional choices), returning an ``xarray.Dataset``.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .bootstrap import bootstrap, percentile_interval
from .choice import roc_auc
from .correlations import fraction_variance_along_fprime
from .fisher import (
    VarianceForm,
    fisher_variance,
    linear_fisher_from_moments,
    shuffled_fisher_from_moments,
    singular_tolerance,
)
from .moments import (
    SignalMoments,
    covariance,
    fprime_from_moments,
    moments_from_trials,
)
from .recording import (
    SignalLayout,
    as_choices,
    as_counts,
    as_trial_vector,
    check_enough_zero_trials,
    check_variance,
    group_by_signal,
)


def absolute_redundancy(
    information: Float[ArrayLike, "*batch"], information_shuffled: Float[ArrayLike, "*batch"]
) -> Float[Array, "*batch"]:
    """``I_red = I_shuffle - I`` (same units as the informations).

    >>> round(float(absolute_redundancy(0.5, 0.8)), 6)
    0.3
    """
    return jnp.asarray(information_shuffled) - jnp.asarray(information)


def percent_redundancy(
    information: Float[ArrayLike, "*batch"], information_shuffled: Float[ArrayLike, "*batch"]
) -> Float[Array, "*batch"]:
    """``100 (I_shuffle - I) / I_shuffle``; meaningful only where ``I_shuffle > 0``.

    >>> float(percent_redundancy(0.5, 1.0))
    50.0
    """
    shuffled = jnp.asarray(information_shuffled)
    return 100.0 * (shuffled - jnp.asarray(information)) / shuffled


class RedundancyEstimate(NamedTuple):
    """Information, shuffled information, redundancy and the variance of ``I``.

    Every field has the same shape (e.g. one value per coherence, or a scalar when
    combined). Units: ``1/signal^2`` for informations, ``1/signal^4`` for ``variance``,
    percent for ``percent_redundancy``.
    """

    information: Float[Array, "*batch"]
    information_shuffled: Float[Array, "*batch"]
    redundancy: Float[Array, "*batch"]
    percent_redundancy: Float[Array, "*batch"]
    variance: Float[Array, "*batch"]

    @classmethod
    def from_information(cls, information, information_shuffled, variance):
        """Fill in the redundancy fields from ``I``, ``I_shuffle`` and ``var(I)``."""
        return cls(
            information,
            information_shuffled,
            absolute_redundancy(information, information_shuffled),
            percent_redundancy(information, information_shuffled),
            variance,
        )


@functools.partial(jax.jit, static_argnames=("variance_form",))
def redundancy_from_moments(
    fprime: Float[Array, "coherences neurons"],
    cov: Float[Array, "neurons neurons"],
    t0: int,
    t_plus: Float[ArrayLike, " coherences"],
    t_minus: Float[ArrayLike, " coherences"],
    ds: Float[ArrayLike, " coherences"],
    *,
    variance_form: VarianceForm = "authors",
) -> RedundancyEstimate:
    """Per-coherence ``I``, ``I_shuffle``, redundancy and ``var(I)`` from ``f'`` and ``S0``.

    Pure ``jax.numpy``; NaN where ``T0 < N + 4`` or ``S0`` is singular; ``variance`` infinite
    (or NaN) at ``T0 = N + 4``, so combined values need ``T0 >= N + 5``.

    Args:
        fprime: ``f'`` per coherence; ``cov``: ``S0`` from ``t0`` zero-signal trials.
        t_plus, t_minus: trials at ``+c`` and ``-c`` per coherence; ``ds``: ``2c``.
        variance_form: see :func:`bayescortex.analysis.fisher.fisher_variance`.

    >>> est = redundancy_from_moments(jnp.array([[1.0, 1.0]]), jnp.eye(2), 1001,
    ...                               jnp.array([500.0]), jnp.array([500.0]), jnp.array([1.0]))
    >>> round(float(est.percent_redundancy[0]), 2)  # independent neurons: I_shuffle ~ I
    0.1
    """
    n = fprime.shape[-1]
    t_plus, t_minus, ds = (jnp.asarray(v, dtype=fprime.dtype) for v in (t_plus, t_minus, ds))
    info = linear_fisher_from_moments(fprime, cov, t0, t_plus, t_minus, ds)
    shuffled = shuffled_fisher_from_moments(fprime, cov, t0, t_plus, t_minus, ds)
    var = fisher_variance(info, n, t0, t_plus, t_minus, ds, form=variance_form)
    return RedundancyEstimate.from_information(info, shuffled, var)


def inverse_variance_mean(
    values: Float[Array, "*batch coherences"],
    variances: Float[Array, "*batch coherences"],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """Inverse-variance weighted mean over the last axis and its variance ``1 / sum w``.

    Entries whose variance is not finite and positive get weight 0.

    >>> m, v = inverse_variance_mean(jnp.array([1.0, 3.0]), jnp.array([1.0, 3.0]))
    >>> float(m), float(v)
    (1.5, 0.75)
    """
    ok = jnp.isfinite(variances) & (variances > 0)
    w = jnp.where(ok, 1.0 / jnp.where(ok, variances, 1.0), 0.0)
    total = jnp.sum(w, axis=-1)
    return jnp.sum(w * values, axis=-1) / total, 1.0 / total


@jax.jit
def combine_coherences(estimate: RedundancyEstimate) -> RedundancyEstimate:
    """Combine per-coherence estimates (last axis) with inverse-variance weights on ``I``.

    ``I`` and ``I_shuffle`` share the weights ``1/var(I_c)``, so the combined redundancy is
    the combined ``I_shuffle - I``; percent redundancy is recomputed from the combined values.

    >>> est = RedundancyEstimate.from_information(
    ...     jnp.array([1.0, 2.0]), jnp.array([2.0, 2.0]), jnp.array([1.0, 1.0]))
    >>> c = combine_coherences(est)
    >>> float(c.information), float(c.redundancy), float(c.variance)
    (1.5, 0.5, 0.5)
    """
    info, var = inverse_variance_mean(estimate.information, estimate.variance)
    ok = jnp.isfinite(estimate.variance) & (estimate.variance > 0)
    w = jnp.where(ok, 1.0 / jnp.where(ok, estimate.variance, 1.0), 0.0)
    shuffled = jnp.sum(w * estimate.information_shuffled, axis=-1) / jnp.sum(w, axis=-1)
    return RedundancyEstimate.from_information(info, shuffled, var)


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
    # The k largest of iid uniforms are a uniformly random k-subset; top_k is several times
    # faster than a full argsort on CPU.
    u = jax.random.uniform(key, (n_subsets, n_neurons))
    return jax.lax.top_k(u, subset_size)[1]


@functools.partial(jax.jit, static_argnames=("variance_form",))
def subset_redundancy(
    fprime: Float[Array, "coherences neurons"],
    cov: Float[Array, "neurons neurons"],
    subsets: Int[Array, "subsets size"],
    t0: int,
    t_plus: Float[ArrayLike, " coherences"],
    t_minus: Float[ArrayLike, " coherences"],
    ds: Float[ArrayLike, " coherences"],
    *,
    variance_form: VarianceForm = "authors",
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
        est = redundancy_from_moments(
            fprime[:, idx],
            cov[idx[:, None], idx[None, :]],
            t0,
            t_plus,
            t_minus,
            ds,
            variance_form=variance_form,
        )
        return est, combine_coherences(est)

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
    ds: Float[ArrayLike, " coherences"],
    subset_size: int | None = None,
    n_subsets: int = 1,
    variance_form: VarianceForm = "authors",
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
    variance_form: VarianceForm = "authors",
) -> RedundancyResult:
    """Jitted redundancy estimate on counts already sorted into the blocks of ``layout``.

    The traceable core of :func:`redundancy_summary`, for use inside your own jitted code,
    vmaps over seeds, or :func:`bayescortex.analysis.bootstrap.bootstrap` (``keyed=True``).
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
        variance_form: see :func:`bayescortex.analysis.fisher.fisher_variance`.

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


_FIELDS = {
    "information": "bias-corrected linear Fisher information I (1/signal^2)",
    "information_shuffled": "bias-corrected shuffled information I_shuffle (1/signal^2)",
    "redundancy": "I_red = I_shuffle - I (1/signal^2)",
    "percent_redundancy": "100 (I_shuffle - I) / I_shuffle (percent)",
    "information_variance": "estimator variance of I (1/signal^4)",
}


def _estimate_vars(est: RedundancyEstimate, dims: tuple[str, ...], suffix: str, lead=()):
    values = dict(
        zip(
            _FIELDS,
            (
                est.information,
                est.information_shuffled,
                est.redundancy,
                est.percent_redundancy,
                est.variance,
            ),
            strict=True,
        )
    )
    return {
        name + suffix: ((*lead, *dims), np.asarray(v), {"description": _FIELDS[name]})
        for name, v in values.items()
    }


def redundancy_summary(
    counts: Float[ArrayLike, "trials *time neurons"] | xr.DataArray,
    signal: Float[ArrayLike, " trials"] | xr.DataArray,
    choices: ArrayLike | xr.DataArray | None = None,
    *,
    subset_size: int | None = None,
    n_subsets: int = 1000,
    key: PRNGKeyArray | None = None,
    n_bootstrap: int = 0,
    level: float = 0.95,
    variance_form: VarianceForm = "authors",
    positive_choice: int | None = None,
    batch_size: int = 8,
) -> xr.Dataset:
    """Redundancy summary of a recording: I, I_shuffle, I_red, percent redundancy, variances.

    Trials are grouped by ``signal``: ``signal == 0`` trials give the noise covariance
    ``S0``; each coherence ``c > 0`` with both ``+c`` and ``-c`` trials gives
    ``f' = (mean(X+) - mean(X-)) / 2c``. The measures (SCIENCE.md, "Measures") are computed
    per coherence and combined over coherences by inverse-variance weighting; with
    ``subset_size`` they are the median over ``n_subsets`` random neuron subsets; with a
    time axis, per time bin (within-trial analysis, the same subsets in every bin).

    Args:
        counts: spike counts, (trial, neuron) or (trial, time, neuron), or a DataArray with
            dims ``trial``, ``neuron`` and optionally ``time`` (any order).
        signal: signed signal level per trial (coherence, contrast, ...); information is in
            ``1/signal^2``.
        choices: optional 0/1 choice per trial; adds choice probabilities on the zero-signal
            trials.
        subset_size: neurons per random subset (e.g. 32); None uses all neurons at once.
        n_subsets: number of subsets (e.g. 1000).
        key: ``jax.random.key``; required for subsets or the bootstrap.
        n_bootstrap: bootstrap resamples of trials (within each signal level, with fresh
            subsets in every resample) for centred percentile intervals (see
            :mod:`bayescortex.analysis.bootstrap`); 0 for none.
        level: confidence level of the intervals.
        variance_form: ``"authors"`` (SCIENCE.md) or ``"gaussian"``, see
            :func:`bayescortex.analysis.fisher.fisher_variance`.
        positive_choice: the choice that positive signals call for; None infers it as the
            majority choice on positive-signal trials. Orients ``choice_probability_preferred``.
        batch_size: bootstrap resamples evaluated at once (memory bound).

    Returns:
        An ``xarray.Dataset`` with coordinates ``coherence`` (the ``c > 0`` levels, with
        ``trials_plus``/``trials_minus``), ``time`` if the counts had it, and ``neuron`` and
        ``bound`` (``low``, ``high``) where used. Variables, each per ``coherence`` and, with
        the suffix ``_combined``, combined over coherences: ``information``,
        ``information_shuffled``, ``redundancy``, ``percent_redundancy``,
        ``information_variance``; ``fraction_variance_along_fprime`` per coherence; with
        ``n_bootstrap``, the same five (and their ``_combined``) with the suffix ``_ci``
        (dim ``bound``); with ``choices``, ``choice_probability`` (``AUC`` of choice 1 vs 0)
        and ``choice_probability_preferred`` (oriented to each neuron's preferred choice,
        from the sign of its ``f'``) per ``neuron``. Attributes record ``t0``, the
        settings and ``n_subsets_excluded``: the subsets left out of the medians because
        their zero-signal covariance is singular (an int; with a time axis, one per bin).

    Subsets containing a duplicated or collinear set of neurons have a singular ``S0`` and
    no defined ``I``; they are excluded from the medians with a warning that names the
    neurons (a median over the remaining subsets is still a median over random subsets of
    the other neurons, while a NaN would poison it). The bootstrap drops such subsets from
    each resample the same way, silently.

    Raises:
        ValueError: naming ``counts``, ``signal``, ``choices``, ``key``, ``subset_size`` or
            ``n_subsets``: NaN counts, wrong shapes, no zero-signal trials or no ``+c/-c``
            pair, zero-variance neurons on zero-signal trials, ``T0 < N + 5`` for the
            ``N`` neurons used (use subsets; ``T0 >= N + 4`` gives ``I`` but its variance,
            and so every ``_combined`` value, needs ``T0 >= N + 5``), a singular zero-signal
            covariance of the whole population (no subsets; the message lists the
            duplicated or collinear neurons), every subset singular, a missing key.

    Example:
        >>> import jax, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> signal = np.repeat([-0.2, -0.1, 0.0, 0.1, 0.2], 200)
        >>> counts = rng.poisson(5.0 + 10.0 * signal[:, None] * np.linspace(-1, 1, 40))
        >>> ds = redundancy_summary(counts, signal, subset_size=16, n_subsets=200,
        ...                         key=jax.random.key(0))
        >>> ds["information"].dims, ds["information_combined"].shape
        (('coherence',), ())
    """
    c = as_counts(counts)
    n_trials, n_neurons = c.values.shape[0], c.values.shape[-1]
    sig = as_trial_vector(signal, "signal", n_trials).astype(float)
    grouped = group_by_signal(sig)
    layout = grouped.layout
    if subset_size is not None:
        if not (isinstance(subset_size, int | np.integer) and 1 <= subset_size <= n_neurons):
            raise ValueError(
                f"subset_size: expected an integer between 1 and {n_neurons}, got {subset_size}"
            )
        if not (isinstance(n_subsets, int | np.integer) and n_subsets >= 1):
            raise ValueError(f"n_subsets: expected a positive integer, got {n_subsets}")
        subset_size = int(subset_size)
    if (subset_size is not None or n_bootstrap) and key is None:
        raise ValueError("key: a jax.random.key is required for neuron subsets or bootstrap")
    if key is not None and not isinstance(key, jax.Array):
        raise ValueError(f"key: expected a jax.random.key(seed), got {type(key).__name__}")
    if variance_form not in ("authors", "gaussian"):
        raise ValueError(f"variance_form: expected 'authors' or 'gaussian', got {variance_form!r}")
    if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 0):
        raise ValueError(f"n_bootstrap: expected a non-negative integer, got {n_bootstrap}")
    n_used = n_neurons if subset_size is None else subset_size
    check_enough_zero_trials(layout.t0, n_used, "counts (zero-signal trials)", variance=True)
    x = c.values[jnp.asarray(grouped.order)]
    check_variance(x[: layout.t0], "counts (zero-signal trials)")

    k_est = k_boot = None
    if key is not None:
        k_est, k_boot = jax.random.split(key)
    static = dict(
        layout=layout,
        subset_size=subset_size,
        n_subsets=int(n_subsets) if subset_size is not None else 1,
        variance_form=variance_form,
    )
    result = estimate_redundancy(x, k_est, **static)
    n_excluded = np.asarray(result.n_excluded)
    whole = subset_size is None or subset_size >= n_neurons
    _report_singular(n_excluded, static["n_subsets"], whole, x[: layout.t0])

    time_dims = ("time",) if c.has_time else ()
    coh_dims = (*time_dims, "coherence")
    data_vars = {}
    data_vars.update(_estimate_vars(result.per_coherence, coh_dims, ""))
    data_vars.update(_estimate_vars(result.combined, time_dims, "_combined"))
    data_vars["fraction_variance_along_fprime"] = (
        coh_dims,
        np.asarray(result.fraction_along_fprime),
        {"description": "f'^T S0 f' / (|f'|^2 tr S0), all neurons"},
    )
    coords = {
        "coherence": ("coherence", np.asarray(layout.coherences)),
        "trials_plus": ("coherence", np.asarray(layout.t_plus)),
        "trials_minus": ("coherence", np.asarray(layout.t_minus)),
    }
    if c.has_time:
        coords["time"] = ("time", c.time)

    if n_bootstrap:
        samples = bootstrap(
            k_boot,
            _bootstrap_statistic(**static),
            x,
            n_resamples=int(n_bootstrap),
            strata=layout.block_ids,
            keyed=True,
            batch_size=batch_size,
        )
        center = (result.per_coherence, result.combined)
        low, high = percentile_interval(samples, level, center=center)
        for part, dims, suffix in ((0, coh_dims, "_ci"), (1, time_dims, "_combined_ci")):
            bounds = jax.tree.map(lambda a, b: jnp.stack([a, b]), low[part], high[part])
            data_vars.update(_estimate_vars(bounds, dims, suffix, lead=("bound",)))
        coords["bound"] = ("bound", ["low", "high"])

    if choices is not None:
        ch = as_choices(choices, n_trials)[grouped.order]
        data_vars.update(
            _choice_vars(
                x, ch, sig[grouped.order], result.fprime, layout, positive_choice, time_dims
            )
        )
        coords["neuron"] = ("neuron", c.neuron)

    attrs = {
        "t0": layout.t0,
        "n_neurons": n_neurons,
        "subset_size": n_used,
        "n_subsets": static["n_subsets"],
        "n_subsets_excluded": (
            np.asarray(n_excluded, dtype=np.int64) if c.has_time else int(n_excluded)
        ),
        "variance_form": variance_form,
        "n_bootstrap": int(n_bootstrap),
        "level": level,
        "description": "Redundancy summary (bayescortex.analysis.redundancy_summary); "
        "medians over neuron subsets when subset_size < n_neurons",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def collinear_neurons(x_zero: Float[ArrayLike, "trials *time neurons"]) -> np.ndarray:
    """Neurons in a (near-)exact linear dependence on the zero-signal trials, sorted.

    The near-null directions of the correlation matrix of ``x_zero`` (in float64, per time
    bin, union over bins): eigenvalues at most ``10 singular_tolerance(N, float32)``. The
    estimators flag a covariance as singular when a relative Cholesky pivot is at most
    ``singular_tolerance`` (:mod:`bayescortex.analysis.fisher`), which implies an eigenvalue
    of the correlation matrix at most that large; the factor 10 and the float32 tolerance
    absorb the estimators' rounding. A neuron is listed if its component in such a direction
    is at least 1e-3 of the largest one (a duplicated pair: both, with equal weight).

    >>> x = np.random.default_rng(0).normal(size=(50, 5))
    >>> x[:, 3] = x[:, 1]
    >>> collinear_neurons(x).tolist()
    [1, 3]
    """
    arr = np.asarray(x_zero, dtype=np.float64)
    n = arr.shape[-1]
    arr = arr.reshape(arr.shape[0], -1, n)
    threshold = 10 * singular_tolerance(n, jnp.float32)
    found: set[int] = set()
    for b in range(arr.shape[1]):
        centred = arr[:, b] - arr[:, b].mean(axis=0)
        cov = centred.T @ centred
        sd = np.sqrt(np.diag(cov))
        eigenvalues, vectors = np.linalg.eigh(cov / np.outer(sd, sd))
        for k in np.flatnonzero(eigenvalues <= threshold):
            v = np.abs(vectors[:, k])
            found.update(np.flatnonzero(v >= 1e-3 * v.max()).tolist())
    return np.array(sorted(found), dtype=np.int64)


def _report_singular(n_excluded, n_subsets, whole, x_zero):
    # Raise for a singular whole population or all subsets singular; warn for some subsets.
    worst = int(np.max(n_excluded))
    if worst == 0:
        return
    name = "counts (zero-signal trials)"
    idx = collinear_neurons(x_zero)
    which = (
        f"duplicated or collinear neurons, indices {idx.tolist()}"
        if idx.size
        else "duplicated or collinear neurons; no single set isolated"
    )
    advice = "drop all but one neuron of each such set"
    if whole:
        raise ValueError(
            f"{name}: the noise covariance of the {x_zero.shape[-1]} neurons is singular "
            f"({which}); their information is undefined, {advice}"
        )
    if worst == n_subsets:
        raise ValueError(
            f"{name}: all {n_subsets} neuron subsets have a singular noise covariance "
            f"({which}); {advice}"
        )
    warnings.warn(
        f"{name}: {worst} of {n_subsets} neuron subsets have a singular noise covariance "
        f"({which}); they are excluded from the medians (attrs['n_subsets_excluded'])",
        stacklevel=3,
    )


@functools.cache
def _bootstrap_statistic(**static):
    # One function object per setting, so the jitted bootstrap is reused across calls.
    def statistic(counts, key):
        result = estimate_redundancy(counts, key, **static)
        return result.per_coherence, result.combined

    return statistic


def _choice_vars(x, choices, signal, fprime, layout, positive_choice, time_dims):
    t0 = layout.t0
    zero_choices = choices[:t0]
    n1 = int(zero_choices.sum())
    if n1 == 0 or n1 == t0:
        raise ValueError(
            f"choices: both choices must occur on zero-signal trials; {n1} of {t0} chose 1"
        )
    if positive_choice is None:
        positive_choice = int(np.mean(choices[signal > 0]) > 0.5)
    elif positive_choice not in (0, 1):
        raise ValueError(f"positive_choice: expected 0, 1 or None, got {positive_choice}")
    cp = roc_auc(x[:t0], jnp.asarray(zero_choices == 1))
    # A neuron prefers the choice its f' points to: more spikes for positive signal means
    # it prefers positive_choice.
    favours_positive = jnp.sum(fprime, axis=-2) > 0
    prefers_one = favours_positive == (positive_choice == 1)
    oriented = jnp.where(prefers_one, cp, 1.0 - cp)
    dims = (*time_dims, "neuron")
    return {
        "choice_probability": (
            dims,
            np.asarray(cp),
            {"description": "ROC AUC of choice 1 vs 0, zero-signal trials"},
        ),
        "choice_probability_preferred": (
            dims,
            np.asarray(oriented),
            {
                "description": "choice probability for each neuron's preferred choice (sign "
                f"of f'; positive signals call for choice {positive_choice})"
            },
        ),
    }


__all__ = [
    "RedundancyEstimate",
    "RedundancyResult",
    "combine_coherences",
    "estimate_redundancy",
    "inverse_variance_mean",
    "median_over_subsets",
    "percent_redundancy",
    "random_subsets",
    "absolute_redundancy",
    "collinear_neurons",
    "redundancy_from_moments",
    "redundancy_from_stats",
    "redundancy_summary",
    "subset_redundancy",
]
