"""Linear Fisher information of a population about a signed signal, and its sampling variance.

Notation (SCIENCE.md, "Measures"): ``X+``/``X-`` are spike counts (trials x N) at signal
``+c``/``-c`` with ``T1``/``T2`` trials, ``X0`` counts on ``T0`` zero-signal trials,
``ds = 2c`` (in the signal's own units; information is then in units of ``1/signal^2``).

- ``f' = (mean(X+) - mean(X-)) / ds`` and ``S0`` the sample covariance of ``X0``.
- Bias-corrected linear Fisher information with a separate covariance set (Kanitscheider
  et al. 2015, PLoS CB, generalised)::

      I = f'^T S0^-1 f' (T0 - N - 2)/(T0 - 1) - (T1 + T2) N / (T1 T2 ds^2)

  NaN when ``T0 < N + 4``. The plain Kanitscheider form pools the covariance of ``X+`` and
  ``X-`` instead (:func:`pooled_linear_fisher`).
- Shuffled information (diagonal covariance, the sum of single-neuron informations)::

      I_shuffle = sum_i f'_i^2 / S0_ii (T0 - 3)/(T0 - 1) - (T1 + T2) N / (T1 T2 ds^2)

- The estimator's variance, covariance between coherences and confidence interval:
  :mod:`bayescortex.analysis.variance`; the Cholesky whitening behind ``S0^-1``:
  :mod:`bayescortex.analysis.linalg`.

Functions named ``*_from_moments`` take ``f'`` and a covariance and are pure ``jax.numpy``
(jit/vmap-friendly, NaN where undefined); the others take counts, check them, and raise a
``ValueError`` naming the argument on bad input.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .linalg import _whiten, singular_tolerance
from .recording import (
    ArrayInput,
    as_float_array,
    check_ds,
    check_enough_zero_trials,
    check_finite,
    check_same_neurons,
    check_trials,
    check_variance,
    is_concrete,
)


@jax.jit
def sample_covariance(x: Float[Array, "trials neurons"]) -> Float[Array, "neurons neurons"]:
    """Unbiased sample covariance (divisor ``trials - 1``) of the rows of ``x``.

    >>> sample_covariance(jnp.array([[0.0, 0.0], [2.0, 4.0]])).tolist()
    [[2.0, 4.0], [4.0, 8.0]]
    """
    centred = x - jnp.mean(x, axis=0, keepdims=True)
    # Pinned precision: accelerators default to TF32/bf16 products for float32.
    return jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST) / (x.shape[0] - 1)


def _bias(n, t1, t2, ds):
    # The expected inflation of f'^T A f' by the noise in f' (A an unbiased inverse
    # covariance): tr(A Cov f') = N (1/T1 + 1/T2) / ds^2.
    return (t1 + t2) * n / (t1 * t2 * ds**2)


def _quadratic_form(fprime, cov):
    # f'^T S^-1 f' = |L^-1 f'|^2, batched over leading axes of f'. NaN if S is singular to
    # working precision (duplicated or collinear neurons), see singular_tolerance.
    n = fprime.shape[-1]
    z = _whiten(cov, fprime.reshape(-1, n).T, singular_tolerance(n, cov.dtype))
    return jnp.sum(z**2, axis=0).reshape(fprime.shape[:-1])


@functools.partial(jax.jit, static_argnames=("bias_corrected",))
def linear_fisher_from_moments(
    fprime: Float[Array, "*batch neurons"],
    cov: Float[Array, "neurons neurons"],
    t0: ArrayLike,
    t1: ArrayLike,
    t2: ArrayLike,
    ds: ArrayLike,
    *,
    bias_corrected: bool = True,
) -> Float[Array, "*batch"]:
    """Linear Fisher information from ``f'`` and a covariance estimated on ``t0`` trials.

    Args:
        fprime: ``f'`` (counts per unit signal), one or a batch (e.g. one per coherence).
        cov: sample covariance (divisor ``t0 - 1``) of the covariance set.
        t0: trials in the covariance set; ``t1``, ``t2``: trials at ``+c`` and ``-c``.
        ds: the signal difference ``2c`` (broadcasts against the batch of ``f'``).
        bias_corrected: apply the Kanitscheider correction; False gives the naive plug-in
            ``f'^T S0^-1 f'``, which is biased upward.

    Returns:
        ``I`` in units of ``1/signal^2``; NaN when ``t0 < N + 4`` (bias-corrected) or when
        ``cov`` is not positive definite to working precision (a neuron with at most
        :func:`~bayescortex.analysis.linalg.singular_tolerance` of its variance unexplained
        by the others, e.g. a duplicated neuron).

    >>> fp = jnp.array([1.0, 0.0]); cov = jnp.eye(2)
    >>> round(float(linear_fisher_from_moments(fp, cov, 1001, 500, 500, 1.0)), 3)
    0.989
    """
    n = fprime.shape[-1]
    q = _quadratic_form(fprime, cov)
    if not bias_corrected:
        return q
    info = q * (t0 - n - 2) / (t0 - 1) - _bias(n, t1, t2, ds)
    return jnp.where(jnp.asarray(t0) < n + 4, jnp.nan, info)


@jax.jit
def information_matrix_from_moments(
    fprime: Float[Array, "coherences neurons"],
    cov: Float[Array, "neurons neurons"],
    t0: ArrayLike,
    t1: Real[ArrayLike, " coherences"],
    t2: Real[ArrayLike, " coherences"],
    ds: Real[ArrayLike, " coherences"],
) -> Float[Array, "coherences coherences"]:
    """Bias-corrected ``J_cd = f'_c^T S0^-1 f'_d (T0 - N - 2)/(T0 - 1)``, minus the noise bias on
    the diagonal: the diagonal is :func:`linear_fisher_from_moments` of every coherence, the
    off-diagonal the unbiased cross information (independent trials: no noise bias), as
    needed by :func:`~bayescortex.analysis.variance.fisher_covariance`. NaN as
    :func:`linear_fisher_from_moments`.

    >>> j = information_matrix_from_moments(jnp.array([[1.0, 0.0], [1.0, 1.0]]), jnp.eye(2),
    ...                                     1001, jnp.array([500.0, 500]),
    ...                                     jnp.array([500.0, 500]), jnp.array([1.0, 1.0]))
    >>> [round(v, 3) for v in j.ravel().tolist()]
    [0.989, 0.997, 0.997, 1.986]
    """
    n = fprime.shape[-1]
    z = _whiten(cov, fprime.T, singular_tolerance(n, cov.dtype))
    gram = jnp.matmul(z.T, z, precision=jax.lax.Precision.HIGHEST)
    k = (jnp.asarray(t0, cov.dtype) - n - 2) / (jnp.asarray(t0, cov.dtype) - 1)
    t1, t2, ds = (jnp.asarray(v, cov.dtype) for v in (t1, t2, ds))
    out = k * gram - jnp.diag(_bias(n, t1, t2, ds))
    return jnp.where(jnp.asarray(t0) < n + 4, jnp.nan, out)


@functools.partial(jax.jit, static_argnames=("bias_corrected",))
def shuffled_fisher_from_moments(
    fprime: Float[Array, "*batch neurons"],
    cov: Float[Array, "neurons neurons"],
    t0: ArrayLike,
    t1: ArrayLike,
    t2: ArrayLike,
    ds: ArrayLike,
    *,
    bias_corrected: bool = True,
) -> Float[Array, "*batch"]:
    """Shuffled (diagonal-covariance) information: the sum of single-neuron informations.

    Same arguments as :func:`linear_fisher_from_moments`; only the diagonal of ``cov`` is
    used. Each neuron's term is the ``N = 1`` case of the bias-corrected estimator, so
    ``I_shuffle`` is unbiased for ``sum_i f'_i^2 / S_ii`` of the population.

    >>> fp = jnp.array([1.0, 1.0]); cov = jnp.array([[1.0, 0.5], [0.5, 1.0]])
    >>> round(float(shuffled_fisher_from_moments(fp, cov, 1001, 500, 500, 1.0)), 3)
    1.988
    """
    n = fprime.shape[-1]
    var = jnp.diagonal(cov)
    q = jnp.sum(fprime**2 / var.reshape((1,) * (fprime.ndim - 1) + (n,)), axis=-1)
    if not bias_corrected:
        return q
    return q * (t0 - 3) / (t0 - 1) - _bias(n, t1, t2, ds)


def _checked(x: ArrayInput, name: str) -> Float[Array, "trials neurons"]:
    arr = as_float_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected (trial, neuron) counts, got shape {arr.shape}")
    check_trials(arr, name)
    check_finite(arr, name)
    return arr


def fprime(
    x_plus: ArrayInput,
    x_minus: ArrayInput,
    ds: Real[ArrayLike, ""],
) -> Float[Array, " neurons"]:
    """``f' = (mean(X+) - mean(X-)) / ds``: the change of mean counts per unit signal.

    ``x_plus``, ``x_minus``: counts at ``+c`` and ``-c``, (trials, neurons); ``ds`` > 0.

    >>> fprime(jnp.array([[2.0, 1.0]]), jnp.array([[0.0, 1.0]]), 0.5).tolist()
    [4.0, 0.0]
    """
    xp, xm = _checked(x_plus, "x_plus"), _checked(x_minus, "x_minus")
    check_same_neurons(x_plus=xp, x_minus=xm)
    check_ds(ds)
    return (jnp.mean(xp, axis=0) - jnp.mean(xm, axis=0)) / ds


def _moments(x_plus, x_minus, x_zero, ds):
    xp, xm = _checked(x_plus, "x_plus"), _checked(x_minus, "x_minus")
    x0 = _checked(x_zero, "x_zero")
    check_same_neurons(x_plus=xp, x_minus=xm, x_zero=x0)
    check_ds(ds)
    check_variance(x0, "x_zero")
    fp, cov = _fprime_and_covariance(xp, xm, x0, ds)
    return fp, cov, x0.shape[0], xp.shape[0], xm.shape[0]


@jax.jit
def _fprime_and_covariance(xp, xm, x0, ds):
    return (jnp.mean(xp, axis=0) - jnp.mean(xm, axis=0)) / ds, sample_covariance(x0)


def _raise_if_not_positive_definite(info, name):
    if is_concrete(info) and bool(jnp.any(jnp.isnan(info))):
        raise ValueError(
            f"{name}: the sample covariance is not positive definite (collinear or duplicated "
            "neurons?); drop redundant neurons or use neuron subsets"
        )


def linear_fisher(
    x_plus: ArrayInput,
    x_minus: ArrayInput,
    x_zero: ArrayInput,
    ds: Real[ArrayLike, ""],
    *,
    bias_corrected: bool = True,
) -> Float[Array, ""]:
    """Bias-corrected linear Fisher information with the covariance from zero-signal trials.

    Args:
        x_plus, x_minus: counts at ``+c`` and ``-c``, (trials, neurons).
        x_zero: counts on zero-signal trials, (trials, neurons); ``T0 >= N + 4``.
        ds: ``2c`` > 0, in signal units.
        bias_corrected: False gives the naive plug-in estimate (biased upward).

    Returns:
        ``I`` (scalar) in ``1/signal^2``.

    Raises:
        ValueError: naming ``x_plus``/``x_minus``/``x_zero``/``ds`` for NaN counts,
            mismatched neuron counts, zero-variance neurons in ``x_zero``, ``T0 < N + 4``,
            ``ds <= 0`` or a singular covariance.

    >>> import jax
    >>> k = jax.random.split(jax.random.key(0), 3)
    >>> x0 = jax.random.normal(k[0], (200, 4))
    >>> xp = jax.random.normal(k[1], (200, 4)) + 0.5
    >>> xm = jax.random.normal(k[2], (200, 4)) - 0.5
    >>> float(linear_fisher(xp, xm, x0, 1.0)) > 2.0
    True
    """
    fp, cov, t0, t1, t2 = _moments(x_plus, x_minus, x_zero, ds)
    if bias_corrected:
        check_enough_zero_trials(t0, fp.shape[-1], "x_zero")
    info = linear_fisher_from_moments(fp, cov, t0, t1, t2, ds, bias_corrected=bias_corrected)
    _raise_if_not_positive_definite(info, "x_zero")
    return info


def shuffled_fisher(
    x_plus: ArrayInput,
    x_minus: ArrayInput,
    x_zero: ArrayInput,
    ds: Real[ArrayLike, ""],
    *,
    bias_corrected: bool = True,
) -> Float[Array, ""]:
    """Bias-corrected shuffled information (sum of single-neuron informations).

    Same arguments and errors as :func:`linear_fisher`, except that ``T0 >= 5`` suffices
    (only single-neuron variances are estimated: the ``N = 1`` requirement).

    >>> x0 = jnp.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 2.0]])
    >>> round(float(shuffled_fisher(x0 + 1.0, x0, x0, 1.0)), 3)
    0.629
    """
    fp, cov, t0, t1, t2 = _moments(x_plus, x_minus, x_zero, ds)
    check_enough_zero_trials(t0, 1, "x_zero")
    return shuffled_fisher_from_moments(fp, cov, t0, t1, t2, ds, bias_corrected=bias_corrected)


def pooled_covariance(
    x_plus: Float[ArrayLike, "t1 neurons"], x_minus: Float[ArrayLike, "t2 neurons"]
) -> Float[Array, "neurons neurons"]:
    """Within-condition covariance pooled over ``X+`` and ``X-`` (``T1 + T2 - 2`` dof).

    >>> s = pooled_covariance(jnp.array([[0.0], [2.0]]), jnp.array([[5.0], [5.0], [8.0]]))
    >>> round(float(s[0, 0]), 4)  # (2 + 6) / (2 + 3 - 2)
    2.6667
    """
    t1, t2 = x_plus.shape[0], x_minus.shape[0]
    return ((t1 - 1) * sample_covariance(x_plus) + (t2 - 1) * sample_covariance(x_minus)) / (
        t1 + t2 - 2
    )


def pooled_linear_fisher(
    x_plus: ArrayInput,
    x_minus: ArrayInput,
    ds: Real[ArrayLike, ""],
    *,
    bias_corrected: bool = True,
) -> Float[Array, ""]:
    """Kanitscheider et al. (2015) bias-corrected linear Fisher information, pooled covariance.

    The covariance is pooled from the two conditions themselves::

        I = f'^T S^-1 f' (T1 + T2 - N - 3)/(T1 + T2 - 2) - (T1 + T2) N / (T1 T2 ds^2)

    (for ``T1 = T2 = T``: ``(2T - N - 3)/(2T - 2)`` and ``2N / (T ds^2)``). Its variance is
    :func:`~bayescortex.analysis.variance.fisher_variance` with ``t0 = T1 + T2 - 1``.

    Raises:
        ValueError: as :func:`linear_fisher`, with ``T1 + T2 >= N + 5`` required.

    >>> import jax
    >>> k = jax.random.split(jax.random.key(0), 2)
    >>> xp = jax.random.normal(k[0], (200, 4)) + 0.5
    >>> xm = jax.random.normal(k[1], (200, 4)) - 0.5
    >>> float(pooled_linear_fisher(xp, xm, 1.0)) > 2.0
    True
    """
    xp, xm = _checked(x_plus, "x_plus"), _checked(x_minus, "x_minus")
    check_same_neurons(x_plus=xp, x_minus=xm)
    check_ds(ds)
    residuals = [x - jnp.mean(x, axis=0, keepdims=True) for x in (xp, xm)]
    check_variance(jnp.concatenate(residuals), "x_plus, x_minus")
    t1, t2, n = xp.shape[0], xm.shape[0], xp.shape[1]
    if bias_corrected and t1 + t2 < n + 5:
        raise ValueError(
            f"x_plus, x_minus: {t1} + {t2} trials are too few for {n} neurons; the pooled "
            f"bias-corrected form needs T1 + T2 >= N + 5 = {n + 5}"
        )
    fp = (jnp.mean(xp, axis=0) - jnp.mean(xm, axis=0)) / ds
    info = linear_fisher_from_moments(
        fp, pooled_covariance(xp, xm), t1 + t2 - 1, t1, t2, ds, bias_corrected=bias_corrected
    )
    _raise_if_not_positive_definite(info, "x_plus, x_minus")
    return info


__all__ = [
    "fprime",
    "information_matrix_from_moments",
    "linear_fisher",
    "linear_fisher_from_moments",
    "pooled_covariance",
    "pooled_linear_fisher",
    "sample_covariance",
    "shuffled_fisher",
    "shuffled_fisher_from_moments",
]
