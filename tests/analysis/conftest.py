"""Gaussian populations with known linear Fisher information, shared by the analysis tests.

A population: noise covariance ``S = S0 + eps f' f'^T`` (information-limiting correlations
of strength ``eps``), mean response ``signal * f'``. Then ``I = I0 / (1 + eps I0)`` with
``I0 = f'^T S0^-1 f'`` and ``I_shuffle = sum_i f'_i^2 / S_ii`` exactly.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import (
    linear_fisher_from_moments,
    pooled_covariance,
    sample_covariance,
    shuffled_fisher_from_moments,
)


class Population(NamedTuple):
    fprime: np.ndarray
    cov: np.ndarray
    info: float
    info_shuffled: float

    @property
    def redundancy(self) -> float:
        return self.info_shuffled - self.info

    def sample(self, seed, signal):
        """Gaussian counts (trials, neurons) for the given signal levels (numpy: no compiles)."""
        rng = np.random.default_rng(seed)
        signal = np.asarray(signal, dtype=float)
        noise = rng.normal(size=(signal.size, self.fprime.size)) @ np.linalg.cholesky(self.cov).T
        return signal[:, None] * self.fprime[None, :] + noise


def make_population(n: int, eps: float, i0: float, *, seed: int = 0, independent=False):
    """A population of ``n`` neurons with ``f'^T S0^-1 f' = i0`` and limiting strength eps."""
    rng = np.random.default_rng(seed)
    if independent:
        s0 = np.diag(rng.uniform(0.5, 2.0, n))
    else:
        a = rng.normal(size=(n, n))
        s0 = a @ a.T / n + np.diag(rng.uniform(0.5, 1.5, n))
    f = rng.normal(size=n)
    f *= np.sqrt(i0 / (f @ np.linalg.solve(s0, f)))
    cov = s0 + eps * np.outer(f, f)
    info = i0 / (1 + eps * i0)
    return Population(f, cov, info, float(np.sum(f**2 / np.diag(cov))))


@pytest.fixture(scope="session")
def population():
    return make_population


class Repeats(NamedTuple):
    info: np.ndarray
    info_naive: np.ndarray
    info_shuffled: np.ndarray
    info_pooled: np.ndarray | None


@functools.partial(jax.jit, static_argnames=("n_repeats", "t0", "t1", "t2", "pooled"))
def _repeats(key, chol, fp, ds, *, n_repeats, t0, t1, t2, pooled):
    # Takes the population as arrays, so populations of one size share one compilation.
    n = fp.shape[0]

    def one(k):
        x = jax.random.normal(k, (t0 + t1 + t2, n), chol.dtype) @ chol.T
        x0, xp, xm = x[:t0], x[t0 : t0 + t1], x[t0 + t1 :]
        xp, xm = xp + (ds / 2) * fp[None, :], xm - (ds / 2) * fp[None, :]
        fprime = (jnp.mean(xp, axis=0) - jnp.mean(xm, axis=0)) / ds
        if pooled:
            # A program of its own: with two independent batched Cholesky chains in one
            # program, jaxlib 0.10.2 on CPU intermittently never finished executing.
            return linear_fisher_from_moments(
                fprime, pooled_covariance(xp, xm), t1 + t2 - 1, t1, t2, ds
            )
        args = (fprime, sample_covariance(x0), t0, t1, t2, ds)
        return (
            linear_fisher_from_moments(*args),
            linear_fisher_from_moments(*args, bias_corrected=False),
            shuffled_fisher_from_moments(*args),
        )

    return jax.vmap(one)(jax.random.split(key, n_repeats))


def repeat_estimates(pop, key, n_repeats, t0, t1, t2, ds, *, pooled=False) -> Repeats:
    """I, naive I, I_shuffle (and with ``pooled`` the pooled-covariance I) over repeats."""
    dtype = jnp.result_type(float)
    chol = jnp.asarray(np.linalg.cholesky(pop.cov), dtype=dtype)
    fp = jnp.asarray(pop.fprime, dtype=dtype)
    sizes = dict(n_repeats=n_repeats, t0=t0, t1=t1, t2=t2)
    ds = jnp.asarray(ds, dtype)
    out = [np.asarray(v, dtype=float) for v in _repeats(key, chol, fp, ds, **sizes, pooled=False)]
    info_pooled = None
    if pooled:
        info_pooled = np.asarray(_repeats(key, chol, fp, ds, **sizes, pooled=True), dtype=float)
    return Repeats(*out, info_pooled)


@pytest.fixture(scope="session")
def repeats():
    return repeat_estimates
