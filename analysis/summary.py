"""The user-facing redundancy summary of a recording, as an ``xarray.Dataset``.

:func:`redundancy_summary` takes spike counts (trials x [time bins x] neurons, arrays or
labelled DataArrays), the signal of each trial and optionally the choices, groups the trials
by signal level, and reports ``I``, ``I_shuffle``, ``I_red`` and percent redundancy per level
and combined over levels, with 95% intervals: analytic
(:mod:`bayescortex.analysis.intervals`) for the whole population, a trial bootstrap for
medians over neuron subsets. Collinear neurons are found and reported
(:func:`collinear_neurons`); with choices, choice probabilities and the choice-related
measures are added.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import ArrayLike, Real

from .bootstrap import bootstrap, percentile_interval
from .choice import roc_auc
from .intervals import UNDEFINED_PERCENT, intervals_from_stats, undefined_percent
from .linalg import singular_tolerance
from .moments import moments_from_trials
from .recording import (
    ArrayInput,
    align_trials,
    as_choices,
    as_counts,
    as_trial_vector,
    check_enough_zero_trials,
    check_variance,
    group_by_signal,
)
from .redundancy import RedundancyEstimate
from .subsets import estimate_redundancy

_FIELDS = {
    "information": "bias-corrected linear Fisher information I (1/signal^2)",
    "information_shuffled": "bias-corrected shuffled information I_shuffle (1/signal^2)",
    "redundancy": "I_red = I_shuffle - I (1/signal^2)",
    "percent_redundancy": "100 (I_shuffle - I) / I_shuffle (percent)",
    "information_variance": "estimator variance of I (1/signal^4)",
}


def _estimate_vars(est: RedundancyEstimate, dims: tuple[str, ...], suffix: str, lead=()):
    # _FIELDS is in the order of RedundancyEstimate's fields.
    return {
        name + suffix: ((*lead, *dims), np.asarray(v), {"description": description})
        for (name, description), v in zip(_FIELDS.items(), est, strict=True)
    }


def redundancy_summary(
    counts: ArrayInput,
    signal: ArrayInput,
    choices: ArrayInput | None = None,
    *,
    subset_size: int | np.integer | None = None,
    n_subsets: int | np.integer = 1000,
    key: ArrayLike | None = None,
    n_bootstrap: int | np.integer = 0,
    level: float = 0.95,
    variance_form: str = "gaussian",
    positive_choice: int | None = None,
    batch_size: int = 8,
    interval: str = "auto",
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
        subset_size: neurons per random subset (e.g. 32; at least 2); None uses all neurons
            at once.
        n_subsets: number of subsets (e.g. 1000).
        key: ``jax.random.key``; required for subsets or the bootstrap.
        n_bootstrap: bootstrap resamples of trials (within each signal level, with fresh
            subsets in every resample) for centred percentile intervals (see
            :mod:`bayescortex.analysis.bootstrap`); 0 for none. Used for the intervals with
            neuron subsets (or ``interval="bootstrap"``).
        level: confidence level of the intervals.
        variance_form: ``"authors"`` (SCIENCE.md) or ``"gaussian"``, see
            :func:`bayescortex.analysis.variance.fisher_variance`.
        positive_choice: the choice that positive signals call for; None infers it as the
            majority choice on positive-signal trials. Orients ``choice_probability_preferred``.
        batch_size: bootstrap resamples evaluated at once (memory bound).
        interval: ``"analytic"``
            (:func:`bayescortex.analysis.intervals.redundancy_intervals`; coverage measured
            in that module's docstring), ``"bootstrap"`` (needs ``n_bootstrap``;
            over-covers when ``T0`` is not much larger than ``N``), or
            ``"auto"``: analytic for the whole population, bootstrap with neuron subsets
            (a median over subsets has no analytic variance).

    Returns:
        An ``xarray.Dataset`` with coordinates ``coherence`` (the ``c > 0`` levels, with
        ``trials_plus``/``trials_minus``), ``time`` if the counts had it, and ``neuron`` and
        ``bound`` (``low``, ``high``) where used. Variables, each per ``coherence`` and, with
        the suffix ``_combined``, combined over coherences: ``information``,
        ``information_shuffled``, ``redundancy``, ``percent_redundancy``,
        ``information_variance``; ``fraction_variance_along_fprime`` per coherence; with
        intervals, the same with the suffix ``_ci`` (dim ``bound``; the analytic ones have
        none for ``information_variance``); with ``choices``, ``choice_probability`` (``AUC``
        of choice 1 vs 0) and ``choice_probability_preferred`` (oriented to each neuron's
        preferred choice, from the sign of its ``f'``) per ``neuron``. Attributes record ``t0``, the
        settings and ``n_subsets_excluded``: the subsets left out of the medians because
        their zero-signal covariance is singular (an int; with a time axis, one per bin).

    Subsets containing a duplicated or collinear set of neurons have a singular ``S0`` and
    no defined ``I``; they are excluded from the medians with a warning that names the
    neurons (a median over the remaining subsets is still a median over random subsets of
    the other neurons, while a NaN would poison it). The bootstrap drops such subsets from
    each resample the same way, silently.

    Without a detectable signal the unbiased ``I`` and ``I_shuffle`` are negative about half
    the time (reported as they are); ``information_variance`` is the variance at
    ``max(I, 0)`` (the true ``I`` is not negative), so the combination stays defined.
    Percent redundancy divides by ``I_shuffle``: where that is not significantly above 0 no
    finite interval exists (Fieller's is unbounded), so the analytic ``_ci`` is NaN there,
    with a warning counting such values (and the variable's ``undefined`` attribute); the
    point estimate is still reported but means nothing there.

    Raises:
        ValueError: naming ``counts``, ``signal``, ``choices``, ``key``, ``subset_size`` or
            ``n_subsets``: NaN counts, fewer than 2 neurons (one neuron's ``I_shuffle`` is
            its ``I``: no redundancy), wrong shapes, no zero-signal trials or no ``+c/-c``
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
    signal = align_trials(counts, signal, "signal")
    choices = align_trials(counts, choices, "choices")
    c = as_counts(counts)
    n_trials, n_neurons = c.values.shape[0], c.values.shape[-1]
    if n_neurons < 2:
        raise ValueError(
            f"counts: redundancy needs at least 2 neurons, got {n_neurons}; with one neuron "
            "I_shuffle = I by definition (use linear_fisher for its information)"
        )
    sig = as_trial_vector(signal, "signal", n_trials).astype(float)
    grouped = group_by_signal(sig)
    layout = grouped.layout
    if subset_size is not None:
        if not (isinstance(subset_size, int | np.integer) and 2 <= subset_size <= n_neurons):
            raise ValueError(
                f"subset_size: expected an integer between 2 and {n_neurons}, got {subset_size} "
                "(a single neuron's I_shuffle is its I: no redundancy)"
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
    if interval not in ("auto", "analytic", "bootstrap"):
        raise ValueError(f"interval: expected 'auto', 'analytic' or 'bootstrap', got {interval!r}")
    whole = subset_size is None or subset_size >= n_neurons
    if interval == "analytic" and not whole:
        raise ValueError(
            "interval: 'analytic' needs the whole population (subset_size None); a median over "
            "neuron subsets has no analytic variance, use interval='bootstrap' with n_bootstrap"
        )
    analytic = whole and interval != "bootstrap"
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

    bounds_found = None
    if analytic:
        level_ids = jnp.asarray(layout.block_ids)
        moments = moments_from_trials(
            x, level_ids, jnp.ones(level_ids.shape, x.dtype), n_levels=len(layout.sizes)
        )
        found = intervals_from_stats(moments, layout.ds, level, variance_form)
        bounds_found = undefined_percent(found, level)  # NaN for +-inf, with a warning
    elif n_bootstrap:
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
        bounds_found = percentile_interval(samples, level, center=center)
    if bounds_found is not None:
        low, high = bounds_found
        for part, dims, suffix in ((0, coh_dims, "_ci"), (1, time_dims, "_combined_ci")):
            bounds = jax.tree.map(lambda a, b: jnp.stack([a, b]), low[part], high[part])
            data_vars.update(_estimate_vars(bounds, dims, suffix, lead=("bound",)))
            if analytic:  # no interval of the variance; the percentage's may be undefined
                del data_vars[f"information_variance{suffix}"]
                data_vars[f"percent_redundancy{suffix}"][2]["undefined"] = UNDEFINED_PERCENT
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
        "interval": ("analytic" if analytic else ("bootstrap" if n_bootstrap else "none")),
        "level": level,
        "description": "Redundancy summary (bayescortex.analysis.redundancy_summary); "
        "medians over neuron subsets when subset_size < n_neurons",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def collinear_neurons(x_zero: Real[ArrayLike, "trials *time neurons"]) -> np.ndarray:
    """Neurons in a (near-)exact linear dependence on the zero-signal trials, sorted.

    The near-null directions of the correlation matrix of ``x_zero`` (in float64, per time
    bin, union over bins): eigenvalues at most ``10 singular_tolerance(N, float32)``. The
    estimators flag a covariance as singular when a relative Cholesky pivot is at most
    ``singular_tolerance`` (:mod:`bayescortex.analysis.linalg`), which implies an eigenvalue
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


__all__ = ["collinear_neurons", "redundancy_summary"]
