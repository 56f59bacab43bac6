"""Bootstrap resampling over trials and seeds: known standard errors, strata, reproducibility."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import (
    block_resample_indices,
    bootstrap,
    bootstrap_ci,
    percentile_interval,
)


def test_standard_error_of_a_mean_matches_sigma_over_root_n():
    x = jnp.asarray(2.0 * np.random.default_rng(0).normal(size=500), dtype=float)
    ci = bootstrap_ci(jax.random.key(1), jnp.mean, x, n_resamples=2000)
    # sd of a bootstrap sd estimate with 2000 resamples ~ 1.6%; the sample sd itself ~3%.
    assert float(ci.standard_error) == pytest.approx(float(jnp.std(x)) / np.sqrt(500), rel=0.06)
    assert float(ci.low) < float(jnp.mean(x)) < float(ci.high)
    assert float(ci.high - ci.low) == pytest.approx(2 * 1.96 * float(ci.standard_error), rel=0.1)


def test_stratified_resamples_keep_each_stratum():
    idx = np.asarray(block_resample_indices(jax.random.key(2), (3, 5, 2)))
    assert (idx[:3] < 3).all() and ((idx[3:8] >= 3) & (idx[3:8] < 8)).all()
    assert (idx[8:] >= 8).all()
    labels = np.array([1, 0, 1, 0, 1, 1])
    values = jnp.arange(6.0)
    out = bootstrap(jax.random.key(3), lambda v: v, values, n_resamples=50, strata=labels)
    # Trials arrive sorted by stratum (label 0: values 1, 3; label 1: 0, 2, 4, 5).
    assert set(np.unique(np.asarray(out[:, :2]))) <= {1.0, 3.0}
    assert set(np.unique(np.asarray(out[:, 2:]))) <= {0.0, 2.0, 4.0, 5.0}


def test_resamples_are_reproducible_and_do_not_depend_on_batching_or_count():
    x = jnp.asarray(np.random.default_rng(4).normal(size=100), dtype=float)
    a = bootstrap(jax.random.key(5), jnp.mean, x, n_resamples=40)
    b = bootstrap(jax.random.key(5), jnp.mean, x, n_resamples=40, batch_size=7)
    c = bootstrap(jax.random.key(5), jnp.mean, x, n_resamples=60)
    # Same resamples; only the summation order inside a vmapped batch may differ.
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c[:40], atol=1e-6)


def test_seed_axis_resampling_covers_between_seed_variability():
    # Each seed has its own offset (sd 1) and 200 trials of unit noise: the mean over 10
    # seeds has standard error sqrt(1/10 + 1/(10*200)); trial resampling alone would
    # capture only the second part.
    rng = np.random.default_rng(6)
    data = jnp.asarray(rng.normal(size=(10, 1)) + rng.normal(size=(10, 200)), dtype=float)
    with_seeds = bootstrap_ci(jax.random.key(7), jnp.mean, data, n_resamples=1000, seeds=True)
    # The bootstrap sd of a mean of 10 seed means is their sd / sqrt(10) times sqrt(9/10).
    seed_means = jnp.mean(data, axis=1)
    expected = float(jnp.std(seed_means)) / np.sqrt(10)
    assert float(with_seeds.standard_error) == pytest.approx(expected, rel=0.1)
    trials_only = float(jnp.std(data)) / np.sqrt(data.size)
    assert trials_only < 0.5 * float(with_seeds.standard_error)


def test_keyed_statistic_gets_fresh_keys():
    out = bootstrap(
        jax.random.key(8),
        lambda d, key: jax.random.uniform(key),
        jnp.zeros(5),
        n_resamples=20,
        keyed=True,
    )
    assert len(np.unique(np.asarray(out))) == 20


def test_centered_interval_is_shifted_onto_the_estimate():
    samples = jnp.arange(101.0) + 10.0
    lo, hi = percentile_interval(samples, 0.9, center=jnp.asarray(50.0))
    assert float(lo) == pytest.approx(5.0, abs=1e-4) and float(hi) == pytest.approx(95.0, abs=1e-4)
