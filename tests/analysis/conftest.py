"""Gaussian populations with known linear Fisher information, shared by the analysis tests.

A population: noise covariance ``S = S0 + eps f' f'^T`` (information-limiting correlations
of strength ``eps``), mean response ``signal * f'``. Then ``I = I0 / (1 + eps I0)`` with
``I0 = f'^T S0^-1 f'`` and ``I_shuffle = sum_i f'_i^2 / S_ii`` exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest


class Population(NamedTuple):
    fprime: np.ndarray
    cov: np.ndarray
    info: float
    info_shuffled: float

    @property
    def redundancy(self) -> float:
        return self.info_shuffled - self.info

    def sample(self, key, signal):
        """Counts for the given signal levels (trials, neurons), jax-traceable."""
        chol = jnp.asarray(np.linalg.cholesky(self.cov), dtype=jnp.result_type(float))
        fp = jnp.asarray(self.fprime, dtype=chol.dtype)
        sig = jnp.asarray(signal, dtype=chol.dtype)
        noise = jax.random.normal(key, (sig.shape[0], fp.shape[0]), chol.dtype) @ chol.T
        return sig[:, None] * fp[None, :] + noise


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
