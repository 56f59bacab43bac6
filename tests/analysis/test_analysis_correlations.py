"""Noise correlations, their ordering by preferred orientation, and variance along f'."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis import (
    fraction_variance_along_fprime,
    noise_correlations,
    noise_correlations_by_orientation,
    noise_covariance,
    relative_orientation,
)


def test_noise_covariance_removes_signal_means_and_recovers_the_truth(population):
    pop = population(6, eps=0.5, i0=2.0, seed=0)
    signal = np.repeat([-1.0, 0.0, 1.0], 4000)
    counts = pop.sample(0, signal)
    cov = np.asarray(noise_covariance(counts, signal))
    # Sampling sd of a covariance entry ~ sqrt((S_ii S_jj + S_ij^2) / T).
    d = np.diag(pop.cov)
    sd = np.sqrt((np.outer(d, d) + pop.cov**2) / signal.size)
    assert (np.abs(cov - pop.cov) < 4.5 * sd).all()
    # Without the signal the stimulus-driven variance inflates the "noise".
    assert np.trace(np.asarray(noise_covariance(counts))) > np.trace(cov) + 0.5


def test_noise_correlations_ordered_by_preferred_orientation():
    # Neurons preferring the first category (near 0) share a noise source, as do those
    # preferring the second (near pi/2); ordering must bring each group together.
    rng = np.random.default_rng(1)
    preferred = np.array([1.6, 0.05, 1.5, 3.1, 0.1, 1.55])  # radians; 3.1 is near 0 mod pi
    group = (np.abs(relative_orientation(preferred, 0.0) - np.pi / 2) < np.pi / 4).astype(int)
    shared = rng.normal(size=(5000, 2))
    counts = shared[:, group] + rng.normal(size=(5000, 6))
    out = noise_correlations_by_orientation(counts, preferred, task_axis=0.0)
    assert np.all(np.diff(np.asarray(out.relative_orientation)) >= 0)
    np.testing.assert_array_equal(np.asarray(out.order), np.argsort(np.mod(preferred, np.pi)))
    sorted_group = group[np.asarray(out.order)]
    r = np.asarray(out.correlations)
    same = sorted_group[:, None] == sorted_group[None, :]
    off = ~np.eye(6, dtype=bool)
    assert r[same & off].min() > 0.35 and np.abs(r[~same]).max() < 0.1
    # The oblique task shifts the axis by pi/4.
    rel = np.asarray(relative_orientation(np.array([np.pi / 4, 0.0]), np.pi / 4))
    np.testing.assert_allclose(rel, [0.0, 3 * np.pi / 4], atol=1e-6)


def test_noise_correlations_accept_xarray_with_time():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(3, 200, 4))
    da = xr.DataArray(values, dims=("time", "trial", "neuron"))
    r = np.asarray(noise_correlations(da))
    assert r.shape == (3, 4, 4)
    np.testing.assert_allclose(r[1], np.corrcoef(values[1], rowvar=False), atol=1e-5)


def test_fraction_of_variance_along_fprime_closed_form():
    n, eps = 10, 0.7
    f = jnp.linspace(-1.0, 1.0, n)
    cov = jnp.eye(n) + eps * jnp.outer(f, f)
    f2 = float(f @ f)
    expected = (f2 + eps * f2**2) / (f2 * (n + eps * f2))
    assert float(fraction_variance_along_fprime(f, cov)) == pytest.approx(expected, rel=1e-5)
    # Isotropic noise: 1/N; all noise along f': 1.
    assert float(fraction_variance_along_fprime(f, jnp.eye(n))) == pytest.approx(1 / n, rel=1e-5)
    assert float(fraction_variance_along_fprime(f, jnp.outer(f, f))) == pytest.approx(1.0, rel=1e-5)
