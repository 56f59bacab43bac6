"""Redundancy of a population code and its combination over coherences.

- Redundancy ``I_red = I_shuffle - I`` and percent redundancy
  ``100 (I_shuffle - I) / I_shuffle`` (docs/measures.md): how much of the information
  that the neurons carry one by one is shared rather than adding up.
- Combination over coherences: inverse-variance weighting with the weights
  ``w_c = 1 / var(I_c)`` from :func:`bayescortex.analysis.variance.fisher_variance`. ``I`` and
  ``I_shuffle`` are averaged with the SAME weights, so ``I_red = I_shuffle - I`` also holds
  for the combined values. Coherences whose variance is not finite and positive get weight 0.
  The combined variance is ``w^T C w / (sum w)^2`` with ``C`` the covariance between the
  coherences' estimates (:func:`bayescortex.analysis.variance.fisher_covariance`): they share
  ``S0``, and the authors' ``1 / sum_c w_c`` (kept with ``variance_form="authors"``) ignores
  that and under-reports (~1.27x in the authors' design, 2x measured with Poisson counts).
- Confidence intervals: :mod:`bayescortex.analysis.intervals` (analytic, for the whole
  population); medians over neuron subsets are bootstrapped over trials.
- Per neuron subset, the median over subsets, and the estimators on a recording's statistics
  or counts: :mod:`bayescortex.analysis.subsets`; the user-facing entry point on a recording,
  returning an ``xarray.Dataset``, is :func:`bayescortex.analysis.summary.redundancy_summary`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .fisher import information_matrix_from_moments, shuffled_fisher_from_moments
from .variance import VarianceForm, fisher_variance


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
    t0: Real[ArrayLike, ""],
    t_plus: Real[ArrayLike, " coherences"],
    t_minus: Real[ArrayLike, " coherences"],
    ds: Real[ArrayLike, " coherences"],
    *,
    variance_form: VarianceForm = "gaussian",
) -> RedundancyEstimate:
    """Per-coherence ``I``, ``I_shuffle``, redundancy and ``var(I)`` from ``f'`` and ``S0``.

    Pure ``jax.numpy``; NaN where ``T0 < N + 4`` or ``S0`` is singular; ``variance`` infinite
    (or NaN) at ``T0 = N + 4``, so combined values need ``T0 >= N + 5``.

    Args:
        fprime: ``f'`` per coherence; ``cov``: ``S0`` from ``t0`` zero-signal trials.
        t_plus, t_minus: trials at ``+c`` and ``-c`` per coherence; ``ds``: ``2c``.
        variance_form: see :func:`bayescortex.analysis.variance.fisher_variance`.

    >>> est = redundancy_from_moments(jnp.array([[1.0, 1.0]]), jnp.eye(2), 1001,
    ...                               jnp.array([500.0]), jnp.array([500.0]), jnp.array([1.0]))
    >>> round(float(est.percent_redundancy[0]), 2)  # independent neurons: I_shuffle ~ I
    0.1
    """
    return _estimate_and_matrix(fprime, cov, t0, t_plus, t_minus, ds, variance_form)[0]


def _estimate_and_matrix(fprime, cov, t0, t_plus, t_minus, ds, variance_form):
    n = fprime.shape[-1]
    t_plus, t_minus, ds = (jnp.asarray(v, dtype=fprime.dtype) for v in (t_plus, t_minus, ds))
    matrix = information_matrix_from_moments(fprime, cov, t0, t_plus, t_minus, ds)
    info = jnp.diagonal(matrix)
    shuffled = shuffled_fisher_from_moments(fprime, cov, t0, t_plus, t_minus, ds)
    var = fisher_variance(info, n, t0, t_plus, t_minus, ds, form=variance_form)
    return RedundancyEstimate.from_information(info, shuffled, var), matrix


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


def _weights(variance):
    ok = jnp.isfinite(variance) & (variance > 0)
    return jnp.where(ok, 1.0 / jnp.where(ok, variance, 1.0), 0.0)


def _weighted_pairs(covariance, w):
    """``covariance`` with the rows and columns of zero-weight entries set to 0: they may be
    non-finite, and 0 * NaN would spread into every weighted sum."""
    return jnp.where((w[..., :, None] > 0) & (w[..., None, :] > 0), covariance, 0.0)


@jax.jit
def combine_coherences(
    estimate: RedundancyEstimate,
    covariance: Float[Array, "*batch coherences coherences"] | None = None,
) -> RedundancyEstimate:
    """Combine per-coherence estimates (last axis) with inverse-variance weights on ``I``.

    ``I`` and ``I_shuffle`` share the weights ``1/var(I_c)``, so the combined redundancy is
    the combined ``I_shuffle - I``; percent redundancy is recomputed from the combined values.
    The combined variance is ``1 / sum w`` (independent coherences) or, given the
    ``covariance`` of the coherences' ``I`` (they share ``S0``:
    :func:`bayescortex.analysis.variance.fisher_covariance`), ``w^T C w / (sum w)^2``.

    >>> est = RedundancyEstimate.from_information(
    ...     jnp.array([1.0, 2.0]), jnp.array([2.0, 2.0]), jnp.array([1.0, 1.0]))
    >>> c = combine_coherences(est)
    >>> float(c.information), float(c.redundancy), float(c.variance)
    (1.5, 0.5, 0.5)
    """
    info, var = inverse_variance_mean(estimate.information, estimate.variance)
    w = _weights(estimate.variance)
    shuffled = jnp.sum(w * estimate.information_shuffled, axis=-1) / jnp.sum(w, axis=-1)
    if covariance is not None:
        c = _weighted_pairs(covariance, w)
        var = jnp.einsum("...c,...cd,...d->...", w, c, w) / jnp.sum(w, axis=-1) ** 2
    return RedundancyEstimate.from_information(info, shuffled, var)


__all__ = [
    "RedundancyEstimate",
    "absolute_redundancy",
    "combine_coherences",
    "inverse_variance_mean",
    "percent_redundancy",
    "redundancy_from_moments",
]
