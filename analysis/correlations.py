"""Noise correlations and the share of noise variance along the signal direction ``f'``.

- Noise covariance/correlations: the covariance of counts after removing the mean of each
  signal level (so the stimulus does not count as "noise"), with divisor
  ``trials - levels``.
- Correlation matrices ordered by each neuron's preferred orientation relative to the task
  axis, ``(preferred - task_axis) mod pi`` in radians: for the cardinal task (axis 0) the
  category orientations sit at 0 and pi/2 of that coordinate; learning-induced structure
  (neurons preferring the same category correlating more) shows up as blocks.
- Fraction of noise variance along ``f'``: ``f'^T S f' / (|f'|^2 tr S)``, the variance of the
  projection on the unit vector along ``f'`` over the total variance; ``1/N`` on average for
  isotropic noise, towards 1 for differential (information-limiting) correlations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .recording import (
    ArrayInput,
    as_counts,
    as_float_array,
    as_trial_vector,
    check_same_neurons,
    is_concrete,
)


@jax.jit
def _residual_covariance(x: Float[Array, "trials neurons"], level, sizes):
    n_levels = sizes.shape[0]
    sums = jax.ops.segment_sum(x, level, num_segments=n_levels)
    resid = x - (sums / sizes[:, None])[level]
    return resid.T @ resid / (x.shape[0] - n_levels)


def noise_covariance(
    counts: ArrayInput,
    signal: ArrayInput | None = None,
) -> Float[Array, "*time neurons neurons"]:
    """Noise covariance: covariance of counts around the mean of their signal level.

    Args:
        counts: (trial, neuron) or (trial, time, neuron) counts, or a DataArray with dims
            ``trial``, ``neuron`` (optionally ``time``).
        signal: optional signal level per trial; without it all trials are one condition.

    Returns:
        (neurons, neurons), or (time, neurons, neurons), in counts^2.

    >>> cov = noise_covariance(jnp.array([[0.0, 1.0], [2.0, 3.0], [5.0, 5.0], [7.0, 9.0]]),
    ...                        jnp.array([0, 0, 1, 1]))
    >>> cov.tolist()
    [[2.0, 3.0], [3.0, 5.0]]
    """
    c = as_counts(counts)
    n_trials = c.values.shape[0]
    if signal is None:
        level = np.zeros(n_trials, dtype=np.int64)
    else:
        _, level = np.unique(as_trial_vector(signal, "signal", n_trials), return_inverse=True)
    n_levels = int(level.max()) + 1
    if n_trials - n_levels < 1:
        raise ValueError(
            f"counts: {n_trials} trials in {n_levels} signal levels leave no degrees of freedom"
        )
    sizes = jnp.asarray(np.bincount(level, minlength=n_levels), dtype=c.values.dtype)
    if c.has_time:
        return jax.vmap(_residual_covariance, in_axes=(1, None, None))(c.values, level, sizes)
    return _residual_covariance(c.values, level, sizes)


def correlation_from_covariance(
    cov: Float[ArrayLike, "*batch neurons neurons"],
) -> Float[Array, "*batch neurons neurons"]:
    """Correlation matrix from a covariance; NaN rows/columns for zero-variance neurons.

    >>> correlation_from_covariance(jnp.array([[4.0, 2.0], [2.0, 4.0]])).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    sd = jnp.sqrt(jnp.diagonal(cov, axis1=-2, axis2=-1))
    return cov / (sd[..., :, None] * sd[..., None, :])


def noise_correlations(
    counts: ArrayInput,
    signal: ArrayInput | None = None,
) -> Float[Array, "*time neurons neurons"]:
    """Noise correlation matrix (Pearson, around each signal level's mean).

    Arguments as :func:`noise_covariance`.

    >>> r = noise_correlations(jnp.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 3.0]]))
    >>> round(float(r[0, 1]), 3)
    0.8
    """
    return correlation_from_covariance(noise_covariance(counts, signal))


def relative_orientation(preferred: ArrayInput, task_axis: float = 0.0) -> Float[Array, " neurons"]:
    """Preferred orientation relative to the task axis, in ``[0, pi)`` radians.

    ``preferred``: one orientation per neuron, radians. Orientation is axial (period pi).
    ``task_axis`` is the first category's orientation: 0 for the cardinal task, pi/4 for the
    oblique task.

    >>> [round(v, 3) for v in relative_orientation(jnp.array([0.1, 3.0]), 0.2).tolist()]
    [3.042, 2.8]
    """
    pref = as_float_array(preferred, "preferred")
    if pref.ndim != 1:
        raise ValueError(f"preferred: expected one orientation per neuron, got {pref.shape}")
    return jnp.mod(pref - task_axis, jnp.pi)


class OrderedCorrelations(NamedTuple):
    """Noise correlations with neurons sorted by preferred orientation relative to the task.

    Attributes:
        correlations: (neurons, neurons) or (time, neurons, neurons), rows and columns in
            ``order``.
        relative_orientation: sorted relative orientations, radians in ``[0, pi)``.
        order: the permutation applied (indices into the original neurons).
    """

    correlations: Float[Array, "*time neurons neurons"]
    relative_orientation: Float[Array, " neurons"]
    order: Int[Array, " neurons"]


def noise_correlations_by_orientation(
    counts: ArrayInput,
    preferred: ArrayInput,
    *,
    signal: ArrayInput | None = None,
    task_axis: float = 0.0,
) -> OrderedCorrelations:
    """Noise correlations ordered by preferred orientation relative to the task axis.

    Args:
        counts: as :func:`noise_covariance`.
        preferred: each neuron's preferred orientation, radians.
        signal: optional signal level per trial (its means are removed).
        task_axis: the first category's orientation, radians (0 cardinal, pi/4 oblique).

    >>> x = jax.random.normal(jax.random.key(0), (50, 3))
    >>> out = noise_correlations_by_orientation(x, jnp.array([2.0, 0.5, 1.0]))
    >>> out.order.tolist()
    [1, 2, 0]
    """
    corr = noise_correlations(counts, signal)
    rel = relative_orientation(preferred, task_axis)
    check_same_neurons(counts=corr, preferred=rel)
    order = jnp.argsort(rel)
    ordered = jnp.take(jnp.take(corr, order, axis=-1), order, axis=-2)
    return OrderedCorrelations(ordered, rel[order], order)


def fraction_variance_along_fprime(
    fprime: ArrayInput,
    cov: ArrayInput,
) -> Float[Array, "*batch"]:
    """Share of the total noise variance along ``f'``: ``f'^T S f' / (|f'|^2 tr S)``.

    Args:
        fprime: ``f'`` (see :func:`bayescortex.analysis.fisher.fprime`), (neurons,) or a
            batch (*batch, neurons).
        cov: noise covariance ``S`` (e.g. of the zero-signal trials), (neurons, neurons).

    Returns:
        A number in ``[0, 1]``: ``1/N`` for isotropic noise, 1 when all noise lies along f'.

    >>> fp, cov = jnp.array([1.0, 0.0]), jnp.diag(jnp.array([3.0, 1.0]))
    >>> float(fraction_variance_along_fprime(fp, cov))
    0.75
    """
    fp = as_float_array(fprime, "fprime")
    s = as_float_array(cov, "cov")
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"cov: expected a square (neurons, neurons) matrix, got {s.shape}")
    check_same_neurons(fprime=fp, cov=s)
    along = jnp.sum(fp * (fp @ s), axis=-1)
    return along / (jnp.sum(fp**2, axis=-1) * jnp.trace(s))


def total_correlation(cov: ArrayInput) -> Float[Array, "*batch"]:
    """Gaussian total correlation (multi-information) of a covariance, in nats:
    ``1/2 [sum_k log S_kk - log det S]``; ``cov`` is (*batch, neurons, neurons).

    Barlow's redundancy: 0 exactly when ``S`` is diagonal (independent Gaussian units), and
    growing with shared variability; ``-1/2 log(1 - rho^2)`` for two units with correlation
    ``rho``. Traceable and differentiable (it is the penalty of the efficient-coding baseline).
    Infinite when ``S`` is singular.

    >>> cov = jnp.array([[1.0, 0.6], [0.6, 1.0]])
    >>> round(float(total_correlation(cov)), 6), round(-0.5 * float(jnp.log(1 - 0.36)), 6)
    (0.223144, 0.223144)
    """
    s = as_float_array(cov, "cov") if not isinstance(cov, jax.Array) else cov
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"cov: expected square (neurons, neurons) matrices, got {s.shape}")
    diag = jnp.diagonal(s, axis1=-2, axis2=-1)
    _, logdet = jnp.linalg.slogdet(s)
    return 0.5 * (jnp.sum(jnp.log(diag), axis=-1) - logdet)


# Category structure of noise correlations (traceable, for the experiments' bootstrap).


def _square_correlations(corr: ArrayInput, n_neurons: int, other: str) -> Array:
    # (*batch, neurons, neurons) correlations matching ``other``'s neuron count, or ValueError.
    r = as_float_array(corr, "corr")
    if r.ndim < 2 or r.shape[-1] != r.shape[-2]:
        raise ValueError(f"corr: expected (*batch, neurons, neurons) matrices, got {r.shape}")
    if r.shape[-1] != n_neurons:
        raise ValueError(f"corr, {other}: corr has {r.shape[-1]} neurons, {other} has {n_neurons}")
    return r


@jax.jit
def _category_contrast(corr, preferred, categories, width):
    n = preferred.shape[0]
    # Axial (period pi) distance of each preferred orientation to each category, in [0, pi/2].
    half = jnp.pi / 2
    dist = jnp.abs(jnp.mod(preferred[:, None] - categories[None, :] + half, jnp.pi) - half)
    nearest = jnp.argmin(dist, axis=1)
    assigned = jnp.min(dist, axis=1) <= width
    member = (nearest[:, None] == jnp.arange(categories.shape[0])[None, :]) & assigned[:, None]
    off_diagonal = ~jnp.eye(n, dtype=bool)
    same = (member.astype(corr.dtype) @ member.T.astype(corr.dtype) > 0) & off_diagonal
    different = assigned[:, None] & assigned[None, :] & off_diagonal & ~same

    def mean_over(mask):
        wide = jnp.broadcast_to(mask, corr.shape)
        total = jnp.sum(jnp.where(wide, corr, 0.0), axis=(-2, -1))
        return total / jnp.sum(mask)

    return mean_over(same) - mean_over(different)


def category_correlation_contrast(
    corr: ArrayInput,
    preferred: ArrayInput,
    category_orientations: ArrayInput,
    width: ArrayLike,
) -> Float[Array, "*batch"]:
    """Mean noise correlation of same-category pairs minus that of different-category pairs.

    Each neuron is assigned to the category orientation nearest its preferred orientation
    (axial distance, period pi; ties go to the first listed category) if that distance is at
    most ``width`` radians, else it is left out. The result is the mean of ``corr[i, j]`` over
    pairs ``i != j`` assigned to the SAME category minus the mean over pairs assigned to
    DIFFERENT categories. The sampling model predicts that learning raises it (feedback about
    the category correlates the neurons that support the same category). Traceable
    (masks, no boolean indexing); batched over leading axes of ``corr`` (time bins,
    resamples).

    Args:
        corr: noise correlation matrices, (*batch, neurons, neurons), e.g. from
            :func:`noise_correlations` or :func:`correlation_from_covariance` of a weighted
            (bootstrap) covariance.
        preferred: each neuron's preferred orientation, radians.
        category_orientations: the categories' orientations, radians, e.g. ``[0, pi/2]``
            (cardinal task) or ``[pi/4, 3pi/4]`` (oblique task).
        width: the largest axial distance, radians, at which a neuron counts for a
            category (``pi/4`` or more assigns every neuron with two orthogonal categories).

    Returns:
        The contrast, shape ``batch``. NaN when no pair shares a category or no pair spans
        two (e.g. fewer than two neurons assigned to some category, or a single category),
        or when an included pair's correlation is NaN (a zero-variance neuron).

    Raises:
        ValueError: naming the argument for mismatched shapes and, on concrete inputs, a
            negative ``width`` or NaN/inf orientations.

    >>> corr = jnp.array([[1.0, 0.3, -0.1, 0.9],
    ...                   [0.3, 1.0, -0.1, 0.9],
    ...                   [-0.1, -0.1, 1.0, 0.9],
    ...                   [0.9, 0.9, 0.9, 1.0]])
    >>> pref = jnp.array([0.05, 3.1, 1.6, 0.8])  # 3.1 is 0.04 from 0 (period pi); 0.8 is far
    >>> r = category_correlation_contrast(corr, pref, jnp.array([0.0, jnp.pi / 2]), 0.3)
    >>> round(float(r), 6)
    0.4
    """
    pref = as_float_array(preferred, "preferred")
    if pref.ndim != 1:
        raise ValueError(f"preferred: expected one orientation per neuron, got {pref.shape}")
    cats = as_float_array(category_orientations, "category_orientations")
    if cats.ndim != 1 or cats.shape[0] < 1:
        raise ValueError(
            f"category_orientations: expected a vector of orientations, got {cats.shape}"
        )
    r = _square_correlations(corr, pref.shape[0], "preferred")
    w = as_float_array(width, "width")
    if w.ndim != 0:
        raise ValueError(f"width: expected a number of radians, got shape {w.shape}")
    if is_concrete(pref, cats, w):
        if not np.all(np.isfinite(np.asarray(pref))):
            raise ValueError("preferred: contains NaN or inf orientations")
        if not np.all(np.isfinite(np.asarray(cats))):
            raise ValueError("category_orientations: contains NaN or inf orientations")
        if not float(w) >= 0:
            raise ValueError(f"width: expected a non-negative angle in radians, got {float(w)}")
    return _category_contrast(r, pref, cats, w)


def _binned_correlations_impl(corr, relative, n_bins):
    n = relative.shape[0]
    bins = jnp.clip(jnp.floor(jnp.mod(relative, jnp.pi) * (n_bins / jnp.pi)), 0, n_bins - 1)
    bins = bins.astype(jnp.int32)
    off_diagonal = ~jnp.eye(n, dtype=bool)

    def bin_sums(m):
        # Sums over (bin of i, bin of j); a NaN entry stays in its own pair of bins.
        rows = jax.ops.segment_sum(m, bins, num_segments=n_bins)
        return jax.ops.segment_sum(rows.T, bins, num_segments=n_bins).T

    counts = bin_sums(off_diagonal.astype(corr.dtype))
    flat = corr.reshape((-1, n, n))
    sums = jax.vmap(lambda m: bin_sums(jnp.where(off_diagonal, m, 0.0)))(flat)
    means = sums / jnp.maximum(counts, 1.0)[None, :, :]
    means = jnp.where((counts > 0)[None, :, :], means, jnp.nan)
    return means.reshape(corr.shape[:-2] + (n_bins, n_bins))


_binned_correlations = jax.jit(_binned_correlations_impl, static_argnames=("n_bins",))


def binned_correlations(
    corr: ArrayInput,
    relative_orientation: ArrayInput,
    n_bins: int | np.integer,
) -> Float[Array, "*batch bins bins"]:
    """Mean correlation of pairs binned by the two neurons' relative orientations.

    Entry ``(a, b)`` is the mean of ``corr[i, j]`` over pairs ``i != j`` with neuron ``i`` in
    bin ``a`` and neuron ``j`` in bin ``b``, the bins being ``n_bins`` equal intervals of
    ``[0, pi)`` (bin ``k`` covers ``[k pi / n_bins, (k + 1) pi / n_bins)``, centre
    ``(k + 1/2) pi / n_bins``). It is the compact, fixed-size form of the correlation matrix
    ordered by preferred orientation relative to the task axis
    (:func:`noise_correlations_by_orientation`), so it averages over bootstrap resamples and
    sessions with different neurons. Symmetric for a symmetric ``corr``. Traceable (masks and
    segment sums); batched over leading axes of ``corr``.

    Args:
        corr: correlation matrices, (*batch, neurons, neurons).
        relative_orientation: each neuron's preferred orientation relative to the task axis
            (:func:`relative_orientation`), radians; reduced modulo pi.
        n_bins: number of orientation bins.

    Returns:
        (*batch, n_bins, n_bins) bin means; NaN for bin pairs without any pair of distinct
        neurons (an empty bin, or a diagonal bin holding a single neuron), and where an
        included correlation is NaN (a zero-variance neuron).

    Raises:
        ValueError: naming the argument for mismatched shapes, ``n_bins`` < 1, and on
            concrete inputs NaN/inf orientations.

    >>> corr = jnp.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.0]])
    >>> binned = binned_correlations(corr, jnp.array([0.1, 0.2, 2.0]), 2)
    >>> [[round(v, 4) for v in row] for row in binned.tolist()]
    [[0.5, 0.2], [0.2, nan]]
    """
    rel = as_float_array(relative_orientation, "relative_orientation")
    if rel.ndim != 1:
        raise ValueError(
            f"relative_orientation: expected one orientation per neuron, got {rel.shape}"
        )
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins: expected a positive integer, got {n_bins!r}")
    r = _square_correlations(corr, rel.shape[0], "relative_orientation")
    if is_concrete(rel) and not np.all(np.isfinite(np.asarray(rel))):
        raise ValueError("relative_orientation: contains NaN or inf orientations")
    return _binned_correlations(r, rel, int(n_bins))


__all__ = [
    "OrderedCorrelations",
    "binned_correlations",
    "category_correlation_contrast",
    "total_correlation",
    "correlation_from_covariance",
    "fraction_variance_along_fprime",
    "noise_correlations",
    "noise_correlations_by_orientation",
    "noise_covariance",
    "relative_orientation",
]
