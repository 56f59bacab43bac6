"""The redundancy summary at its edges: too few neurons, no signal. Never NaN or an infinite
interval without a message (docs/measures.md, "Edge cases").

- One neuron (or subsets of one): ``I_shuffle = I`` by definition, so ``I_red = 0``
  identically; an error naming the argument.
- A negative estimate of ``I`` (the bias-corrected estimator is unbiased, so without signal
  it is negative about half the time) used to give a negative variance; with every level's
  variance negative the inverse-variance weights were all 0 and every combined value NaN.
- No detectable signal: ``I_shuffle`` is not significantly above 0, percent redundancy has no
  finite interval; it used to be reported as ``[-inf, inf]`` without a word.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

from bayescortex.analysis import fisher_variance, redundancy_summary

LEVELS = np.array([-0.2, -0.1, 0.0, 0.1, 0.2])
SIGNAL = np.repeat(LEVELS, 200)
UNDEFINED = r"percent_redundancy: undefined .*I_shuffle is not significantly above 0"


def no_signal(n_neurons, seed):
    return np.random.default_rng(seed).poisson(5.0, size=(SIGNAL.size, n_neurons))


def with_signal(n_neurons, seed=0):
    rng = np.random.default_rng(seed)
    gain = 10.0 * np.linspace(-1, 1, n_neurons) + 5.0
    return rng.poisson(10.0 + SIGNAL[:, None] * gain)


def quiet_summary(counts, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        return redundancy_summary(counts, SIGNAL, **kw)


def test_one_neuron_is_an_error_naming_the_argument():
    with pytest.raises(ValueError, match=r"^counts: redundancy needs at least 2 neurons, got 1"):
        redundancy_summary(with_signal(1), SIGNAL)
    with pytest.raises(ValueError, match=r"^subset_size: expected an integer between 2 and 8"):
        redundancy_summary(with_signal(8), SIGNAL, subset_size=1, key=jax.random.key(0))


@pytest.mark.parametrize("form", ["gaussian", "authors"])
def test_variance_of_a_negative_estimate_is_positive(form):
    # The quadratic in I is negative below about -N g / 2; the true I is >= 0, so the
    # variance is evaluated at max(I, 0).
    args = (2, 201, 200, 200, 0.2)
    at_zero = float(fisher_variance(0.0, *args, form=form))
    assert at_zero > 0
    for info in (-0.5, -50.0, -5000.0):
        assert float(fisher_variance(info, *args, form=form)) == pytest.approx(at_zero)


def test_two_neurons_without_signal_give_finite_combined_values():
    # This recording's every level has I < -N g / 2: the variances were negative, all weights
    # 0, and every combined value NaN.
    with pytest.warns(UserWarning, match=UNDEFINED):
        ds = redundancy_summary(no_signal(2, seed=1), SIGNAL)
    assert (ds.information < 0).all()  # unbiased: negative without signal, as documented
    assert (ds.information_variance > 0).all()
    for name in ("information", "information_shuffled", "redundancy", "percent_redundancy"):
        assert np.isfinite(float(ds[f"{name}_combined"])), name
        assert np.isfinite(ds[f"{name}_combined_ci"]).all() or name == "percent_redundancy"
    for name in ("percent_redundancy_ci", "percent_redundancy_combined_ci"):
        assert not np.isinf(ds[name]).any(), name
        assert np.isnan(ds[name]).all(), name
        assert "I_shuffle is not significantly above 0" in ds[name].attrs["undefined"]


def test_no_signal_percent_interval_is_nan_with_a_warning():
    with pytest.warns(UserWarning, match=UNDEFINED + r".*1 of 1 combined value") as record:
        ds = redundancy_summary(no_signal(8, seed=0), SIGNAL)
    assert len(record) == 1
    ci = ds.percent_redundancy_combined_ci
    assert np.isnan(ci).all() and not np.isinf(ci).any()
    assert not np.isinf(ds.percent_redundancy_ci).any()
    # The other intervals stay finite: I and I_shuffle are bounded, only the ratio is not.
    for name in ("information", "information_shuffled", "redundancy"):
        assert np.isfinite(ds[f"{name}_combined_ci"]).all(), name
    # With a signal: no warning, every interval finite.
    ds = quiet_summary(with_signal(8))
    for name in ds.data_vars:
        if name.endswith("_ci"):
            assert np.isfinite(ds[name]).all(), name


def test_no_signal_in_one_time_bin():
    counts = np.stack([no_signal(8, seed=0), with_signal(8)], axis=1)
    with pytest.warns(UserWarning, match=UNDEFINED + r".*1 of 2 combined values"):
        ds = redundancy_summary(counts, SIGNAL)
    ci = ds.percent_redundancy_combined_ci
    assert np.isnan(ci.isel(time=0)).all() and np.isfinite(ci.isel(time=1)).all()
