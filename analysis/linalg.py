"""Cholesky whitening and symmetric positive-definite solves for the estimators.

The Fisher information ``f'^T S^-1 f'`` is ``|L^-1 f'|^2`` for the Cholesky factor ``L`` of
``S``. :func:`_whiten` computes ``L^-1 v`` as a loop over columns in plain XLA operations on
CPU (batched LAPACK factorisations were seen to stall XLA:CPU when the subsets x bootstrap
workload runs many at once) and with ``jax.lax.linalg`` elsewhere; :func:`spd_solve` builds a
solve on it. A covariance counts as singular when a relative pivot falls below
:func:`singular_tolerance` (the estimators then return NaN).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


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


__all__ = ["singular_tolerance", "spd_solve"]
