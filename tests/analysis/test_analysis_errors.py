"""Bad input raises a ValueError whose message names the offending argument."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis import (
    bin_time,
    choice_probability,
    fprime,
    linear_fisher,
    noise_correlations_by_orientation,
    pooled_linear_fisher,
    psychophysical_kernel,
    redundancy_summary,
    shuffled_fisher,
)

RNG = np.random.default_rng(0)
X0, XP, XM = RNG.normal(size=(30, 5)), RNG.normal(size=(20, 5)), RNG.normal(size=(20, 5))
SIGNAL = np.repeat([-0.1, 0.0, 0.1], 20)
COUNTS = RNG.poisson(4.0, size=(60, 6)).astype(float)


def with_nan(x):
    y = np.array(x, dtype=float)
    y[3, 1] = np.nan
    return y


def with_constant_neuron(x, value=2.0):
    y = np.array(x, dtype=float)
    y[:, 2] = value
    return y


CASES = {
    "nan x_plus": (lambda: linear_fisher(with_nan(XP), XM, X0, 0.2), "x_plus"),
    "nan x_zero": (lambda: shuffled_fisher(XP, XM, with_nan(X0), 0.2), "x_zero"),
    "neuron mismatch": (lambda: linear_fisher(XP, XM, X0[:, :4], 0.2), "x_zero"),
    "zero variance": (lambda: linear_fisher(XP, XM, with_constant_neuron(X0), 0.2), "x_zero"),
    "too few trials": (lambda: linear_fisher(XP, XM, X0[:8], 0.2), "x_zero"),
    "ds zero": (lambda: linear_fisher(XP, XM, X0, 0.0), "ds"),
    "ds negative": (lambda: fprime(XP, XM, -1.0), "ds"),
    "ds nan": (lambda: fprime(XP, XM, float("nan")), "ds"),
    "one-dimensional": (lambda: fprime(XP[0], XM, 1.0), "x_plus"),
    "pooled too few": (lambda: pooled_linear_fisher(XP[:2], XM[:2], 1.0), "x_plus"),
    "summary nan": (lambda: redundancy_summary(with_nan(COUNTS), SIGNAL), "counts"),
    "summary signal length": (lambda: redundancy_summary(COUNTS, SIGNAL[:-1]), "signal"),
    "summary signal nan": (
        lambda: redundancy_summary(COUNTS, np.where(SIGNAL > 0, np.nan, SIGNAL)),
        "signal",
    ),
    "summary no zero trials": (lambda: redundancy_summary(COUNTS, SIGNAL + 1.0), "signal"),
    "summary no pair": (lambda: redundancy_summary(COUNTS, np.abs(SIGNAL)), "signal"),
    "summary too few zero trials": (
        lambda: redundancy_summary(RNG.normal(size=(60, 18)), SIGNAL),
        "counts",
    ),
    "summary zero variance": (
        lambda: redundancy_summary(with_constant_neuron(COUNTS), SIGNAL),
        "counts",
    ),
    "summary subsets without key": (
        lambda: redundancy_summary(COUNTS, SIGNAL, subset_size=3),
        "key",
    ),
    "summary key not a key": (
        lambda: redundancy_summary(COUNTS, SIGNAL, subset_size=3, key=0),
        "key",
    ),
    "summary variance form": (
        lambda: redundancy_summary(COUNTS, SIGNAL, variance_form="exact"),
        "variance_form",
    ),
    "summary subset too big": (
        lambda: redundancy_summary(COUNTS, SIGNAL, subset_size=7, key=jax.random.key(0)),
        "subset_size",
    ),
    "summary choices not binary": (
        lambda: redundancy_summary(COUNTS, SIGNAL, np.full(60, 2)),
        "choices",
    ),
    "summary bad dims": (
        lambda: redundancy_summary(xr.DataArray(COUNTS, dims=("trial", "cell")), SIGNAL),
        "counts",
    ),
    "summary four axes": (lambda: redundancy_summary(COUNTS[None, None], SIGNAL), "counts"),
    "cp one choice": (lambda: choice_probability(COUNTS, np.zeros(60)), "choices"),
    "cp preferred shape": (
        lambda: choice_probability(COUNTS, np.arange(60) % 2, preferred=[1, 0]),
        "preferred",
    ),
    "kernel nan": (lambda: psychophysical_kernel(with_nan(COUNTS), np.arange(60) % 2), "energy"),
    "kernel method": (
        lambda: psychophysical_kernel(COUNTS, np.arange(60) % 2, method="probit"),
        "method",
    ),
    "correlations preferred": (
        lambda: noise_correlations_by_orientation(COUNTS, np.zeros(4)),
        "preferred",
    ),
    "bin_time bins": (lambda: bin_time(np.ones((2, 5, 3)), 6), "n_bins"),
}


@pytest.mark.filterwarnings("ignore:signal. level")
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_the_field(case):
    call, field = CASES[case]
    with pytest.raises(ValueError, match=re.escape(field)):
        call()


def test_too_few_trials_message_suggests_subsets():
    with pytest.raises(ValueError, match=r"T0 >= N \+ 5 = 23.*subsets of at most 15"):
        redundancy_summary(RNG.normal(size=(60, 18)), SIGNAL)
