"""Where an estimate is undefined the estimators raise or exclude and report, never NaN silently.

- ``T0 = N + 4``: ``I`` is defined but its variance is infinite, so every inverse-variance
  combined value would be NaN; ``redundancy_summary`` needs ``T0 >= N + 5``.
- A duplicated neuron makes the zero-signal covariance singular: an error naming the neurons
  for the whole population; excluded (and counted) subsets with neuron subsets.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import (
    fisher_variance,
    linear_fisher,
    linear_fisher_from_moments,
    random_subsets,
    redundancy_summary,
    sample_covariance,
)
from bayescortex.analysis.summary import collinear_neurons

LEVELS = np.array([-0.2, -0.1, 0.0, 0.1, 0.2])


def recording(n_neurons, trials_per_level, seed=0, levels=LEVELS):
    """Gaussian counts with f' = 1 for every neuron; signal sorted by level."""
    rng = np.random.default_rng(seed)
    signal = np.repeat(levels, trials_per_level)
    return signal[:, None] + rng.normal(size=(signal.size, n_neurons)), signal


def duplicate(counts, source, target):
    out = np.array(counts)
    out[..., target] = out[..., source]
    return out


def test_variance_is_infinite_at_t0_n_plus_4_and_finite_from_n_plus_5():
    n = 10
    for form in ("authors", "gaussian"):
        at = float(fisher_variance(2.0, n, n + 4, 50, 50, 0.2, form=form))
        above = float(fisher_variance(2.0, n, n + 5, 50, 50, 0.2, form=form))
        assert at == np.inf and np.isfinite(above) and above > 0


def test_summary_needs_t0_n_plus_5():
    n = 6
    counts, signal = recording(n, n + 4)  # T0 = N + 4: I defined, variance infinite
    with pytest.raises(
        ValueError,
        match=re.escape("counts (zero-signal trials): 10 trials are too few for 6 neurons")
        + r".*finite variance.*T0 >= N \+ 5 = 11 \(estimate on neuron subsets of at most 5",
    ):
        redundancy_summary(counts, signal)
    # linear_fisher, which has no variance, still accepts T0 = N + 4.
    x0, xp, xm = counts[signal == 0], counts[signal == 0.1], counts[signal == -0.1]
    assert np.isfinite(float(linear_fisher(xp, xm, x0, 0.2)))
    # One more zero-signal trial: every combined value is finite.
    counts, signal = recording(n, n + 5)
    ds = redundancy_summary(counts, signal)
    for name in ds.data_vars:
        if name.endswith("_combined"):
            assert np.isfinite(float(ds[name])), name
    assert ds.attrs["n_subsets_excluded"] == 0


def test_duplicated_neurons_give_nan_not_a_finite_information():
    # Rounding leaves a tiny pivot of either sign for an exact duplicate; before the pivot
    # tolerance about a third of these cases returned a huge finite I instead of NaN.
    rng = np.random.default_rng(0)
    n, t0 = 32, 300
    infos = []
    for _ in range(40):
        x = rng.poisson(5.0, size=(t0, n)).astype(float)
        i, j = rng.choice(n, 2, replace=False)
        cov = sample_covariance(jnp.asarray(duplicate(x, i, j)))
        fp = jnp.asarray(rng.normal(size=n))
        infos.append(float(linear_fisher_from_moments(fp, cov, t0, 100, 100, 1.0)))
    assert np.all(np.isnan(infos))


def test_linear_fisher_raises_on_a_duplicated_neuron():
    counts, signal = recording(5, 40, seed=1)
    counts = duplicate(counts, 0, 3)
    x0, xp, xm = counts[signal == 0], counts[signal == 0.1], counts[signal == -0.1]
    with pytest.raises(ValueError, match="x_zero: the sample covariance is not positive definite"):
        linear_fisher(xp, xm, x0, 0.2)


def test_collinear_neurons_finds_duplicates_and_sums():
    x = np.random.default_rng(2).normal(size=(60, 8))
    assert collinear_neurons(x).tolist() == []
    x[:, 6] = x[:, 1]
    x[:, 5] = x[:, 2] - 0.5 * x[:, 7]
    assert collinear_neurons(x).tolist() == [1, 2, 5, 6, 7]


def test_summary_whole_population_singular_names_the_neurons():
    counts, signal = recording(6, 40, seed=3)
    counts = duplicate(counts, 1, 4)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "counts (zero-signal trials): the noise covariance of the 6 neurons is singular "
            "(duplicated or collinear neurons, indices [1, 4])"
        ),
    ):
        redundancy_summary(counts, signal)


def expected_excluded(key, n, size, n_subsets, pairs):
    """Subsets holding both neurons of any pair; the summary's subsets use split(key)[0]."""
    subsets = np.asarray(random_subsets(jax.random.split(key)[0], n, size, n_subsets))
    has = lambda i: np.any(subsets == i, axis=1)  # noqa: E731
    return int(np.sum(np.any([has(i) & has(j) for i, j in pairs], axis=0)))


def test_summary_excludes_subsets_with_a_duplicated_pair_and_reports_them():
    n, size, n_subsets, key = 12, 6, 200, jax.random.key(4)
    clean, signal = recording(n, 60, seed=4)
    counts = duplicate(clean, 2, 9)
    excluded = expected_excluded(key, n, size, n_subsets, [(2, 9)])
    assert 0 < excluded < n_subsets
    with pytest.warns(UserWarning, match=rf"{excluded} of 200 neuron subsets.*indices \[2, 9\]"):
        ds = redundancy_summary(counts, signal, subset_size=size, n_subsets=n_subsets, key=key)
    assert ds.attrs["n_subsets_excluded"] == excluded
    for name in ds.data_vars:
        assert np.all(np.isfinite(ds[name].values)), name
    # The remaining subsets are random subsets of exchangeable neurons: the median is close
    # to the clean recording's (same key, so the same subsets apart from the excluded).
    ref = redundancy_summary(clean, signal, subset_size=size, n_subsets=n_subsets, key=key)
    sd = np.sqrt(float(ref.information_variance_combined))
    assert abs(float(ds.information_combined) - float(ref.information_combined)) < sd


def test_summary_time_bins_report_exclusions_per_bin():
    n, size, n_subsets, key = 12, 6, 100, jax.random.key(5)
    counts, signal = recording(n * 2, 60, seed=5)
    counts = counts.reshape(-1, 2, n)  # (trial, time, neuron)
    counts[:, 1, 7] = counts[:, 1, 3]  # duplicated in the second bin only
    excluded = expected_excluded(key, n, size, n_subsets, [(3, 7)])
    with pytest.warns(UserWarning, match=rf"{excluded} of 100 neuron subsets.*indices \[3, 7\]"):
        ds = redundancy_summary(counts, signal, subset_size=size, n_subsets=n_subsets, key=key)
    assert ds.attrs["n_subsets_excluded"].tolist() == [0, excluded]
    assert np.all(np.isfinite(ds.information_combined.values))


def test_summary_raises_when_every_subset_is_singular():
    # Three duplicated pairs among 6 neurons: any 4 of them hold a pair.
    counts, signal = recording(6, 40, seed=6)
    for source, target in ((0, 3), (1, 4), (2, 5)):
        counts = duplicate(counts, source, target)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "counts (zero-signal trials): all 50 neuron subsets have a singular noise "
            "covariance (duplicated or collinear neurons, indices [0, 1, 2, 3, 4, 5])"
        ),
    ):
        redundancy_summary(counts, signal, subset_size=4, n_subsets=50, key=jax.random.key(6))
