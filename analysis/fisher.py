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

- Estimator variance, :func:`fisher_variance` (default: the exact Gaussian form, calibrated
  in every regime; the authors' formula is kept as ``form="authors"``), the covariance between
  coherences that share ``S0``, :func:`fisher_covariance`, and a confidence interval that
  follows the variance's dependence on the true ``I``, :func:`fisher_interval`.

Functions named ``*_from_moments`` take ``f'`` and a covariance and are pure ``jax.numpy``
(jit/vmap-friendly, NaN where undefined); the others take counts, check them, and raise a
``ValueError`` naming the argument on bad input.
"""

from __future__ import annotations

import functools
import statistics
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .recording import (
    as_float_array,
    check_ds,
    check_enough_zero_trials,
    check_finite,
    check_same_neurons,
    check_trials,
    check_variance,
    is_concrete,
)

VarianceForm = Literal["authors", "gaussian"]


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


def singular_tolerance(n_neurons: int, dtype) -> float:
    """Relative pivot below which a covariance counts as singular: ``max(4 N, 32) eps``.

    The pivot ``d_j^2 / S_jj`` of the Cholesky factorisation is the share of neuron ``j``'s
    variance not explained linearly by the neurons before it. For an exactly duplicated or
    collinear neuron it is 0 in exact arithmetic, but rounding leaves ``O(eps)`` of either
    sign (measured: up to ``2.5 eps`` in float32 for N = 8 to 256), and a tiny positive
    pivot would give a huge, finite, meaningless information instead of NaN. The dot product
    behind the pivot has ``j < N`` terms, so its rounding error is bounded by about ``N eps``;
    ``4 N`` (at least 32) leaves a margin. A genuine neuron is flagged only if more than
    ``1 - max(4 N, 32) eps`` of its variance is explained by the others (in float32 with
    N = 32: a variance inflation factor above 65,000), where the estimate would carry
    ``~VIF eps`` relative rounding error anyway.
    """
    return max(4 * n_neurons, 32) * float(jnp.finfo(dtype).eps)


def _whiten_loop(cov, vectors, rtol):
    # A left-looking Cholesky with forward substitution in the same pass, in plain XLA ops.
    n = cov.shape[-1]
    idx = jnp.arange(n)

    def column(j, carry):
        chol, z = carry
        row = chol[j]  # entries < j are filled, the rest are 0
        d2 = cov[j, j] - row @ row
        d = jnp.where(d2 > rtol * cov[j, j], jnp.sqrt(jnp.maximum(d2, 0.0)), jnp.nan)
        col = (cov[:, j] - chol @ row) / d
        chol = chol.at[:, j].set(jnp.where(idx > j, col, jnp.where(idx == j, d, 0.0)))
        z = z.at[j].set((vectors[j] - row @ z) / d)
        return chol, z

    init = (jnp.zeros_like(cov), jnp.zeros_like(vectors))
    return jax.lax.fori_loop(0, n, column, init)[1]


def _whiten_lax(cov, vectors, rtol):
    # The platform's factorisation (cuSOLVER on GPU), then the same pivot test as the loop.
    chol = jax.lax.linalg.cholesky(cov, symmetrize_input=False)
    pivot = jnp.diagonal(chol)
    ok = jnp.all(jnp.isfinite(pivot) & (pivot**2 > rtol * jnp.diagonal(cov)))
    z = jax.lax.linalg.triangular_solve(chol, vectors, left_side=True, lower=True)
    return jnp.where(ok, z, jnp.nan)


def _whiten(cov, vectors, rtol=0.0, method="auto"):
    """``L^-1 v`` for the Cholesky factor ``L`` of ``cov`` and each column ``v`` of ``vectors``.

    ``method``: ``"loop"``, a Cholesky written as a loop over columns in plain XLA operations;
    ``"lax"``, ``jax.lax.linalg`` (LAPACK on CPU, cuSOLVER on GPU); ``"auto"`` (default), the
    loop on CPU and ``lax.linalg`` elsewhere (``lax.platform_dependent``, decided when the
    program is lowered for its device). Why the loop on CPU: XLA:CPU in jaxlib 0.10 was seen to
    stall when many batched LAPACK factorisations run at once on few cores, which is exactly
    the subsets x bootstrap workload. Not positive definite, or a relative pivot
    ``d_j^2 / cov_jj <= rtol`` (see :func:`singular_tolerance`): NaN.
    """
    if method == "loop":
        return _whiten_loop(cov, vectors, rtol)
    if method == "lax":
        return _whiten_lax(cov, vectors, rtol)
    if method != "auto":
        raise ValueError(f"method: 'auto', 'loop' or 'lax', got {method!r}")
    return jax.lax.platform_dependent(
        cov, vectors,
        cpu=lambda c, v: _whiten_loop(c, v, rtol),
        default=lambda c, v: _whiten_lax(c, v, rtol),
    )  # fmt: skip


def spd_solve(matrix, rhs):
    """``matrix^-1 rhs`` for a symmetric positive-definite ``matrix``, without LAPACK calls.

    ``L^-1`` comes from :func:`_whiten` applied to the identity, so the solve is safe to batch
    (vmap, bootstrap) on XLA:CPU where batched LAPACK factorisations can stall. ``rhs`` is a
    vector or a matrix of columns. Not positive definite: NaN.

    >>> spd_solve(jnp.array([[4.0, 2.0], [2.0, 3.0]]), jnp.array([2.0, 1.0]))
    Array([0.5, 0. ], dtype=float32)
    """
    n = matrix.shape[-1]
    cols = rhs.reshape(n, -1)
    both = _whiten(matrix, jnp.concatenate([cols, jnp.eye(n, dtype=matrix.dtype)], axis=1))
    z, l_inv = both[:, : cols.shape[1]], both[:, cols.shape[1] :]
    return (l_inv.T @ z).reshape(rhs.shape)


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
        :func:`singular_tolerance` of its variance unexplained by the others, e.g. a
        duplicated neuron).

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
    t1: Float[ArrayLike, " coherences"],
    t2: Float[ArrayLike, " coherences"],
    ds: Float[ArrayLike, " coherences"],
) -> Float[Array, "coherences coherences"]:
    """Bias-corrected ``J_cd = f'_c^T S0^-1 f'_d (T0 - N - 2)/(T0 - 1)``, minus the noise bias on
    the diagonal: the diagonal is :func:`linear_fisher_from_moments` of every coherence, the
    off-diagonal the unbiased cross information (independent trials: no noise bias), as
    needed by :func:`fisher_covariance`. NaN as :func:`linear_fisher_from_moments`.

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


def fisher_variance(
    information: Float[ArrayLike, "*batch"],
    n_neurons: int,
    t0: ArrayLike,
    t1: ArrayLike,
    t2: ArrayLike,
    ds: ArrayLike,
    *,
    form: VarianceForm = "gaussian",
) -> Float[Array, "*batch"]:
    """Sampling variance of the bias-corrected linear Fisher information estimate.

    With ``nu = T0 - 1``, ``p = N``, ``g = (T1 + T2) / (T1 T2 ds^2)``:

    - ``form="authors"`` (SCIENCE.md, the formula used for the paper's error bars and the
      inverse-variance combination over coherences)::

          var = (a + 2b) I^2 + (6a + 12b + 4) g I + (3a + 6b + 2) g^2 N,
          a = 2/((nu-p)(nu-p-3)),  b = (nu-p-1)/((nu-p)(nu-p-3)).

    - ``form="gaussian"``: the exact variance for Gaussian responses (inverse-Wishart moments
      for ``S0``, a Gaussian ``f'`` independent of it), with ``r = a + 2b = 2/(nu-p-3)``::

          var = r I^2 + (r (2p + 4) + 4) g I + (r p (p + 2) + 2p) g^2.

      The two agree on the ``I^2`` term; the authors' form takes ``p = 1`` in the terms
      that mix the noise of ``f'`` with that of ``S0``, so it is smaller when ``g I`` is
      not negligible against ``I^2 / p`` (few signal trials, small ``ds``). In the paper's
      regime (hundreds of trials, 32 neurons) they differ by a few percent; measured against
      Gaussian ground truth the authors' form under-reports 1.55x when ``T0`` is close to
      ``N``, while the Gaussian form is exact: ``I`` is a shifted, scaled noncentral ``F``,
      ``I = g (nu - p - 1) X / Y - p g`` with ``X ~ chi'^2(p, I/g)``, ``Y ~ chi^2(nu - p + 1)``.
      The default.

    Args:
        information: ``I`` (the estimate, or the true value for a predicted variance).
        n_neurons: ``N``; ``t0``, ``t1``, ``t2``, ``ds`` as in
            :func:`linear_fisher_from_moments`. For the pooled Kanitscheider form pass
            ``t0 = T1 + T2 - 1`` (its covariance has ``T1 + T2 - 2`` degrees of freedom).
        form: ``"gaussian"`` (default) or ``"authors"``.

    Returns:
        The variance in ``1/signal^4``; finite for ``T0 >= N + 5``. At ``T0 = N + 4``,
        ``nu - p - 3 = 0`` and the variance is infinite (NaN where ``I <= 0``); NaN below.

    >>> round(float(fisher_variance(1.0, 32, 512, 512, 512, 6.0, form="authors")), 5)
    0.00464
    >>> round(float(fisher_variance(1.0, 32, 512, 512, 512, 6.0)), 5)
    0.00467
    """
    info = jnp.asarray(information)
    nu = jnp.asarray(t0) - 1.0
    p = n_neurons
    g = (t1 + t2) / (t1 * t2 * jnp.asarray(ds) ** 2)
    if form == "authors":
        a = 2.0 / ((nu - p) * (nu - p - 3))
        b = (nu - p - 1) / ((nu - p) * (nu - p - 3))
        var = (a + 2 * b) * info**2 + (6 * a + 12 * b + 4) * g * info
        var = var + (3 * a + 6 * b + 2) * g**2 * p
    elif form == "gaussian":
        r = 2.0 / (nu - p - 3)
        var = r * info**2 + (r * (2 * p + 4) + 4) * g * info + (r * p * (p + 2) + 2 * p) * g**2
    else:
        raise ValueError(f"form: expected 'authors' or 'gaussian', got {form!r}")
    return jnp.where(nu < p + 3, jnp.nan, var)


def _variance_coefficients(n_neurons, t0, g):
    # var(I) = c2 I^2 + c1 I + c0 for the Gaussian form (see fisher_variance).
    nu = jnp.asarray(t0, jnp.result_type(float)) - 1.0
    p = n_neurons
    r = 2.0 / (nu - p - 3)
    return r, (r * (2 * p + 4) + 4) * g, (r * p * (p + 2) + 2 * p) * g**2


def fisher_covariance(
    information: Float[ArrayLike, "*batch coherences coherences"],
    n_neurons: int,
    t0: ArrayLike,
    t1: Float[ArrayLike, " coherences"],
    t2: Float[ArrayLike, " coherences"],
    ds: Float[ArrayLike, " coherences"],
) -> Float[Array, "*batch coherences coherences"]:
    """Covariance of the bias-corrected ``I`` of several coherences that share one ``S0``.

    Each coherence ``c`` has its own signal trials, but every estimate divides by the same
    zero-signal covariance, so the estimates are positively correlated and a combination over
    coherences varies more than ``1 / sum(1/var)`` says (measured: ~1.27x in the authors'
    design). For Gaussian responses (inverse-Wishart moments of ``S0``; ``a``, ``b`` the
    constants of :func:`fisher_variance`, ``g_c = (T1 + T2)/(T1 T2 ds_c^2)``, ``p = N``)::

        cov(I_c, I_d) = a (I_c + p g_c)(I_d + p g_d)
                        + 2b (J_cd^2 + g_d I_c + g_c I_d + p g_c g_d),   c != d,

    with ``J_cd = f'_c^T S^-1 f'_d`` the cross information (``J_cc = I_c``); the diagonal is
    the Gaussian :func:`fisher_variance`.

    Args:
        information: the matrix ``J`` (e.g. :func:`information_matrix_from_moments`), its
            diagonal the per-coherence ``I``; negative diagonal values are clipped at 0.
        n_neurons, t0: as in :func:`fisher_variance`; ``t1``, ``t2``, ``ds`` per coherence.

    Returns:
        The covariance matrix in ``1/signal^4``; NaN for ``T0 < N + 5``.

    >>> j = jnp.array([[1.0, 1.0], [1.0, 1.0]])
    >>> c = fisher_covariance(j, 32, 512, jnp.array([512.0, 512]), jnp.array([512.0, 512]),
    ...                       jnp.array([6.0, 3.0]))
    >>> bool(c[0, 1] > 0), round(float(c[0, 0]), 5)
    (True, 0.00467)
    """
    j = jnp.asarray(information)
    dtype = jnp.result_type(j.dtype, float)
    t1, t2, ds = (jnp.asarray(v, dtype) for v in (t1, t2, ds))
    g = (t1 + t2) / (t1 * t2 * ds**2)
    p = n_neurons
    nu = jnp.asarray(t0, dtype) - 1.0
    a = 2.0 / ((nu - p) * (nu - p - 3))
    b = (nu - p - 1) / ((nu - p) * (nu - p - 3))
    info = jnp.maximum(jnp.diagonal(j, axis1=-2, axis2=-1), 0.0)
    trace = info + p * g
    gi = g[..., None, :] * info[..., :, None]
    off = a * trace[..., :, None] * trace[..., None, :]
    off = off + 2 * b * (j**2 + gi + jnp.swapaxes(gi, -1, -2) + p * g[:, None] * g[None, :])
    c2, c1, c0 = _variance_coefficients(p, t0, g)
    diag = c2 * info**2 + c1 * info + c0
    eye = jnp.eye(j.shape[-1], dtype=bool)
    out = jnp.where(eye, diag[..., None, :], off)
    return jnp.where(nu < p + 4, jnp.nan, out)


def score_interval(
    estimate: ArrayLike, coefficients: tuple[ArrayLike, ArrayLike, ArrayLike], level: float
) -> tuple[Array, Array]:
    """All ``theta`` with ``|estimate - theta| <= z sqrt(c2 theta^2 + c1 theta + c0)``.

    The interval of an estimate whose variance is a known quadratic in the TRUE value
    (Wilson's construction for the binomial, here for the Fisher information): solving for
    ``theta`` instead of plugging the estimate into the variance gives the asymmetric
    interval that the skew of the estimator calls for (longer on the high side). ``z`` is the
    two-sided normal quantile of ``level``. Unbounded above (``inf``) when
    ``z^2 c2 >= 1``, i.e. when the relative error of ``I`` is too large to bound it.

    >>> lo, hi = score_interval(1.0, (0.0, 0.0, 0.01), 0.95)  # constant variance: Wald
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.804, 1.196)
    """
    z2 = statistics.NormalDist().inv_cdf(0.5 + level / 2) ** 2
    c2, c1, c0 = (jnp.asarray(c) for c in coefficients)
    e = jnp.asarray(estimate)
    qa = 1.0 - z2 * c2
    qb = -2.0 * e - z2 * c1
    qc = e**2 - z2 * c0
    root = jnp.sqrt(jnp.maximum(qb**2 - 4 * qa * qc, 0.0))
    bounded = qa > 0
    safe = jnp.where(bounded, qa, 1.0)
    # The smaller root in the cancellation-free form 2 qc / (-qb + root).
    low = jnp.where(bounded, (-qb - root) / (2 * safe), -qc / jnp.where(qb != 0, qb, 1.0))
    high = jnp.where(bounded, (-qb + root) / (2 * safe), jnp.inf)
    return low, high


def fisher_interval(
    information: Float[ArrayLike, "*batch"],
    n_neurons: int,
    t0: ArrayLike,
    t1: ArrayLike,
    t2: ArrayLike,
    ds: ArrayLike,
    *,
    level: float = 0.95,
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """Confidence interval of the true ``I`` from its bias-corrected estimate.

    The score interval (:func:`score_interval`) of the exact Gaussian variance
    (:func:`fisher_variance`) as a function of the true ``I``. Why not a bootstrap over
    trials: resampling zero-signal trials with replacement leaves about ``0.63 T0`` distinct
    trials and inflates ``S0^-1`` far beyond its sampling spread when ``T0`` is not much
    larger than ``N`` (measured: 95% intervals 4.4x too wide, 100% coverage, at ``N = 64``,
    ``T0 = 150``). Measured coverage of this interval against Gaussian and Poisson ground
    truth: 93-97% for ``N / T0`` from 0.1 to 0.4 (tests/analysis/test_analysis_coverage.py).

    >>> lo, hi = fisher_interval(1.0, 32, 512, 512, 512, 6.0)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.881, 1.153)
    """
    g = (jnp.asarray(t1) + t2) / (jnp.asarray(t1) * t2 * jnp.asarray(ds) ** 2)
    low, high = score_interval(information, _variance_coefficients(n_neurons, t0, g), level)
    bad = jnp.asarray(t0) < n_neurons + 5
    return jnp.where(bad, jnp.nan, low), jnp.where(bad, jnp.nan, high)


def _checked(x: ArrayLike, name: str) -> Float[Array, "trials neurons"]:
    arr = as_float_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected (trial, neuron) counts, got shape {arr.shape}")
    check_trials(arr, name)
    check_finite(arr, name)
    return arr


def fprime(
    x_plus: Float[ArrayLike, "t1 neurons"],
    x_minus: Float[ArrayLike, "t2 neurons"],
    ds: float,
) -> Float[Array, " neurons"]:
    """``f' = (mean(X+) - mean(X-)) / ds``: the change of mean counts per unit signal.

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
    x_plus: Float[ArrayLike, "t1 neurons"],
    x_minus: Float[ArrayLike, "t2 neurons"],
    x_zero: Float[ArrayLike, "t0 neurons"],
    ds: float,
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
    x_plus: Float[ArrayLike, "t1 neurons"],
    x_minus: Float[ArrayLike, "t2 neurons"],
    x_zero: Float[ArrayLike, "t0 neurons"],
    ds: float,
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
    x_plus: Float[Array, "t1 neurons"], x_minus: Float[Array, "t2 neurons"]
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
    x_plus: Float[ArrayLike, "t1 neurons"],
    x_minus: Float[ArrayLike, "t2 neurons"],
    ds: float,
    *,
    bias_corrected: bool = True,
) -> Float[Array, ""]:
    """Kanitscheider et al. (2015) bias-corrected linear Fisher information, pooled covariance.

    The covariance is pooled from the two conditions themselves::

        I = f'^T S^-1 f' (T1 + T2 - N - 3)/(T1 + T2 - 2) - (T1 + T2) N / (T1 T2 ds^2)

    (for ``T1 = T2 = T``: ``(2T - N - 3)/(2T - 2)`` and ``2N / (T ds^2)``). Its variance is
    :func:`fisher_variance` with ``t0 = T1 + T2 - 1``.

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
    "VarianceForm",
    "fisher_covariance",
    "fisher_interval",
    "fisher_variance",
    "fprime",
    "information_matrix_from_moments",
    "linear_fisher",
    "linear_fisher_from_moments",
    "pooled_covariance",
    "pooled_linear_fisher",
    "sample_covariance",
    "score_interval",
    "shuffled_fisher",
    "shuffled_fisher_from_moments",
    "singular_tolerance",
]
