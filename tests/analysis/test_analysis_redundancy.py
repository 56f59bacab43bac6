"""Redundancy, combination over coherences, neuron subsets and the user-facing summary."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis import (
    RedundancyEstimate,
    combine_coherences,
    estimate_redundancy,
    fisher_variance,
    group_by_signal,
    inverse_variance_mean,
    random_subsets,
    ratio_interval,
    redundancy_from_moments,
    redundancy_summary,
    subset_redundancy,
)

Z = 4.0


def redundancy_repeats(repeats, pop, key):
    # The sizes of test_analysis_fisher's repeats, so both share one compilation.
    r = repeats(pop, key, 4000, 60, 40, 40, 1.0)
    return r.info_shuffled - r.info


def test_redundancy_is_zero_for_independent_neurons(population, repeats):
    pop = population(12, eps=0.0, i0=2.0, seed=1, independent=True)
    assert pop.redundancy == pytest.approx(0.0, abs=1e-12)
    red = redundancy_repeats(repeats, pop, jax.random.key(0))
    assert abs(red.mean()) < Z * red.std() / np.sqrt(red.size)


def test_redundancy_grows_with_information_limiting_correlations(population, repeats):
    means = []
    for i, eps in enumerate((0.0, 0.5, 2.0)):
        pop = population(12, eps=eps, i0=2.0, seed=2)
        red = redundancy_repeats(repeats, pop, jax.random.key(10 + i))
        assert abs(red.mean() - pop.redundancy) < Z * red.std() / np.sqrt(red.size)
        means.append(red.mean())
    assert means[0] < means[1] < means[2]


def test_inverse_variance_combination_exact():
    mean, var = inverse_variance_mean(jnp.array([1.0, 2.0, 4.0]), jnp.array([1.0, 2.0, 4.0]))
    w = np.array([1.0, 0.5, 0.25])
    assert float(mean) == pytest.approx(float(w @ [1.0, 2.0, 4.0] / w.sum()), rel=1e-6)
    assert float(var) == pytest.approx(1 / w.sum(), rel=1e-6)
    # Non-finite variances (e.g. T0 = N + 4) carry no weight.
    mean, _ = inverse_variance_mean(jnp.array([1.0, 5.0]), jnp.array([1.0, jnp.inf]))
    assert float(mean) == pytest.approx(1.0)


def test_combined_redundancy_is_combined_shuffled_minus_combined_information():
    est = RedundancyEstimate.from_information(
        jnp.array([0.5, 1.0, 2.0]), jnp.array([1.0, 1.5, 2.0]), jnp.array([0.1, 0.2, 0.8])
    )
    c = combine_coherences(est)
    assert float(c.redundancy) == pytest.approx(
        float(c.information_shuffled - c.information), rel=1e-6
    )
    expected = 100 * (c.information_shuffled - c.information) / c.information_shuffled
    assert float(c.percent_redundancy) == pytest.approx(float(expected), rel=1e-6)


def test_random_subsets_are_distinct_neurons_and_reproducible():
    s = random_subsets(jax.random.key(3), 50, 8, 200)
    assert s.shape == (200, 8)
    assert all(len(set(row)) == 8 for row in np.asarray(s).tolist())
    assert bool(jnp.all(s == random_subsets(jax.random.key(3), 50, 8, 200)))
    # Every neuron is drawn about equally often.
    counts = np.bincount(np.asarray(s).ravel(), minlength=50)
    assert counts.min() > 0.5 * counts.mean()


def test_subset_estimate_equals_the_estimate_on_the_subpopulation():
    rng = np.random.default_rng(4)
    fp = jnp.asarray(rng.normal(size=(3, 20)), dtype=float)
    a = rng.normal(size=(20, 20))
    cov = jnp.asarray(a @ a.T / 20 + np.eye(20), dtype=float)
    t, ds = jnp.array([50.0, 60.0, 70.0]), jnp.array([0.2, 0.4, 0.8])
    subsets = random_subsets(jax.random.key(5), 20, 6, 4)
    per, combined = subset_redundancy(fp, cov, subsets, 100, t, t, ds)
    idx = subsets[2]
    direct = redundancy_from_moments(fp[:, idx], cov[jnp.ix_(idx, idx)], 100, t, t, ds)
    np.testing.assert_allclose(per.information[2], direct.information, rtol=1e-5)
    np.testing.assert_allclose(
        combined.information[2], combine_coherences(direct).information, rtol=1e-5
    )


def simulate_recording(pop, seed, levels, trials_per_level):
    signal = np.repeat(np.asarray(levels, dtype=float), trials_per_level)
    return pop.sample(seed, signal), signal


LEVELS = (-0.4, -0.2, 0.0, 0.2, 0.4)


def test_summary_recovers_known_information(population):
    pop = population(16, eps=0.3, i0=4.0, seed=6)
    counts, signal = simulate_recording(pop, 6, LEVELS, 300)
    ds = redundancy_summary(counts, signal)
    assert list(ds.coherence.values) == [0.2, 0.4]
    for name, truth in (("information", pop.info), ("information_shuffled", pop.info_shuffled)):
        combined = float(ds[f"{name}_combined"])
        sd = np.sqrt(float(ds["information_variance_combined"]))
        assert abs(combined - truth) < Z * sd, (name, combined, truth)
    np.testing.assert_allclose(
        ds.redundancy, ds.information_shuffled - ds.information, rtol=1e-5, atol=1e-6
    )
    expected_var = fisher_variance(ds.information.values, 16, 300, 300, 300, 2 * ds.coherence)
    np.testing.assert_allclose(ds.information_variance, expected_var, rtol=1e-4)


def test_summary_medians_over_subsets_of_an_exchangeable_population():
    # Identical independent neurons: every subset of k has I = k f^2 / s^2 exactly.
    n, k, f = 40, 8, 0.5
    rng = np.random.default_rng(7)
    signal = np.repeat(np.array(LEVELS), 400)
    counts = signal[:, None] * f + rng.normal(size=(signal.size, n))
    ds = redundancy_summary(counts, signal, subset_size=k, n_subsets=300, key=jax.random.key(7))
    sd = np.sqrt(float(fisher_variance(k * f**2, k, 400, 400, 400, 0.8)))
    assert abs(float(ds.information_combined) - k * f**2) < Z * sd
    assert ds.attrs["subset_size"] == k and ds.attrs["n_subsets"] == 300
    again = redundancy_summary(counts, signal, subset_size=k, n_subsets=300, key=jax.random.key(7))
    xr.testing.assert_identical(ds, again)


def test_summary_xarray_input_matches_numpy(population):
    pop = population(8, eps=0.2, i0=2.0, seed=8)
    counts, signal = simulate_recording(pop, 8, LEVELS, 60)
    choices = (counts.sum(1) > 0).astype(int)
    from_numpy = redundancy_summary(counts, signal, choices)
    da = xr.DataArray(counts.T, dims=("neuron", "trial"), coords={"neuron": np.arange(8)})
    sig = xr.DataArray(signal, dims=("trial",))
    from_xarray = redundancy_summary(da, sig, xr.DataArray(choices, dims=("trial",)))
    xr.testing.assert_allclose(from_numpy, from_xarray)


def test_summary_time_bins_equal_per_bin_summaries(population):
    pop = population(8, eps=0.2, i0=2.0, seed=9)
    bins = [simulate_recording(pop, 20 + b, LEVELS, 60)[0] for b in range(3)]
    signal = np.repeat(np.array(LEVELS), 60)
    stacked = xr.DataArray(
        np.stack(bins, axis=0), dims=("time", "trial", "neuron"), coords={"time": [0, 1, 2]}
    )
    ds = redundancy_summary(stacked, signal, subset_size=6, n_subsets=20, key=jax.random.key(1))
    assert ds.information.dims == ("time", "coherence")
    for b in range(3):
        single = redundancy_summary(
            bins[b], signal, subset_size=6, n_subsets=20, key=jax.random.key(1)
        )
        np.testing.assert_allclose(ds.information.sel(time=b), single.information, rtol=1e-5)
        np.testing.assert_allclose(
            ds.percent_redundancy_combined.sel(time=b),
            single.percent_redundancy_combined,
            rtol=1e-5,
        )


def test_summary_bootstrap_intervals_and_choice_probability(population):
    pop = population(8, eps=0.3, i0=2.0, seed=10)
    counts, signal = simulate_recording(pop, 10, LEVELS, 100)
    # Choices follow the population's projection on f' (choice 0 for positive evidence, as
    # in the simulator), so every neuron's preferred-choice CP should exceed 0.5 on average.
    evidence = counts @ np.linalg.solve(pop.cov, pop.fprime)
    choices = (evidence < 0).astype(int)
    ds = redundancy_summary(counts, signal, choices, n_bootstrap=64, key=jax.random.key(2))
    for name in ("information", "redundancy", "percent_redundancy"):
        low, high = (
            ds[f"{name}_combined_ci"].sel(bound="low"),
            ds[f"{name}_combined_ci"].sel(bound="high"),
        )
        assert float(low) < float(ds[f"{name}_combined"]) < float(high)
    assert ds.information_ci.dims == ("bound", "coherence")
    assert float(ds.choice_probability_preferred.mean()) > 0.6
    np.testing.assert_allclose(
        np.abs(ds.choice_probability - 0.5),
        np.abs(ds.choice_probability_preferred - 0.5),
        rtol=1e-6,
    )


def test_estimator_is_traced_once_per_layout(population):
    pop = population(8, eps=0.2, i0=2.0, seed=11)
    layout = group_by_signal(np.repeat(np.array(LEVELS), 50)).layout
    before = estimate_redundancy._cache_size()
    for seed in range(3):
        counts, _ = simulate_recording(pop, seed, LEVELS, 50)
        estimate_redundancy(
            jnp.asarray(counts), jax.random.key(0), layout=layout, subset_size=4, n_subsets=10
        )
    assert estimate_redundancy._cache_size() == before + 1


def test_summary_warns_and_skips_unpaired_levels(population):
    pop = population(6, eps=0.0, i0=1.0, seed=12)
    counts, signal = simulate_recording(pop, 12, (-0.2, 0.0, 0.2, 0.3), 40)
    with pytest.warns(UserWarning, match="signal: level 0.3"):
        ds = redundancy_summary(counts, signal)
    assert list(ds.coherence.values) == [0.2]


def test_summary_pairs_dataarrays_by_trial_label_not_position(population):
    # Issue 16, item 7: a permuted signal DataArray used to be paired by position (I = -0.355
    # instead of 9.52, silently).
    pop = population(8, eps=0.2, i0=2.0, seed=13)
    counts, signal = simulate_recording(pop, 13, LEVELS, 60)
    trials = np.arange(signal.size) + 1000
    da = xr.DataArray(counts, dims=("trial", "neuron"), coords={"trial": trials})
    perm = np.random.default_rng(13).permutation(signal.size)
    shuffled = xr.DataArray(signal[perm], dims=("trial",), coords={"trial": trials[perm]})
    expected = redundancy_summary(counts, signal)
    xr.testing.assert_allclose(redundancy_summary(da, shuffled), expected)
    other = xr.DataArray(signal, dims=("trial",), coords={"trial": trials + 1})
    with pytest.raises(ValueError, match="signal: its 'trial' coordinate"):
        redundancy_summary(da, other)


def test_combined_variance_counts_the_shared_zero_signal_covariance():
    # Two identical coherences: the estimates share S0, so the combined variance exceeds
    # 1 / sum(1/var) by the covariance term (exact for J_cd = I).
    est = RedundancyEstimate.from_information(
        jnp.array([1.0, 1.0]),
        jnp.array([2.0, 2.0]),
        fisher_variance(1.0, 16, 40, 40, 40, 1.0) * jnp.ones(2),
    )
    from bayescortex.analysis.variance import fisher_covariance

    t = jnp.array([40.0, 40.0])
    c = fisher_covariance(jnp.ones((2, 2)), 16, 40, t, t, jnp.ones(2))
    combined = combine_coherences(est, c)
    assert float(combined.variance) == pytest.approx(float(jnp.mean(c)), rel=1e-5)
    assert float(combined.variance) > 1.15 * float(combine_coherences(est).variance)


@pytest.mark.parametrize("corr", [-0.6, 0.0, 0.8])
def test_fiellers_ratio_interval_has_its_nominal_coverage(corr):
    # Bivariate normal with known covariance: Fieller's set is exact. The denominator's mean
    # is 6.7 sd from 0: the unbounded sets (b not significant; reported as the whole line,
    # which over-covers) have probability 1e-6.
    # 20,000 draws: binomial sd of a 95% coverage 0.15%; tolerance 1% (6.5 sd).
    a, b, sa, sb = 1.0, 2.0, 0.3, 0.3
    cov = np.array([[sa**2, corr * sa * sb], [corr * sa * sb, sb**2]])
    draws = np.random.default_rng(7).multivariate_normal([a, b], cov, size=20_000)
    low, high = ratio_interval(draws[:, 0], draws[:, 1], cov[0, 0], cov[1, 1], cov[0, 1])
    covered = (np.asarray(low) <= a / b) & (a / b <= np.asarray(high))
    assert abs(covered.mean() - 0.95) < 0.01
    # A denominator indistinguishable from 0 gives an unbounded interval, not a wrong one.
    lo, hi = ratio_interval(1.0, 0.5, 0.01, 1.0, 0.0)
    assert np.isneginf(lo) and np.isposinf(hi)
