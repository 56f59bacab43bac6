"""Choice probability (ROC AUC with ties one half) and psychophysical kernels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from jax.scipy.stats import norm

from bayescortex.analysis import choice_probability, psychophysical_kernel

Z = 4.0


def brute_force_auc(x, choices):
    ones, zeros = x[choices == 1], x[choices == 0]
    pairs = [(a > b) + 0.5 * (a == b) for a, b in itertools.product(ones, zeros)]
    return float(np.mean(pairs))


def test_ties_count_one_half_exact_example():
    # Choice-1 counts {1, 2, 2} vs choice-0 counts {2, 0}: 1<2, 1>0, 2=2, 2>0, 2=2, 2>0.
    counts = np.array([[1.0], [2.0], [2.0], [2.0], [0.0]])
    cp = choice_probability(counts, np.array([1, 1, 1, 0, 0]))
    assert float(cp[0]) == pytest.approx(4 / 6, abs=1e-6)
    all_tied = choice_probability(np.full((6, 1), 3.0), np.array([0, 1, 0, 1, 1, 0]))
    assert float(all_tied[0]) == pytest.approx(0.5, abs=1e-7)


def test_matches_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(60, 5)).astype(float)
    choices = rng.integers(0, 2, size=60)
    cp = np.asarray(choice_probability(counts, choices))
    expected = [brute_force_auc(counts[:, i], choices) for i in range(5)]
    np.testing.assert_allclose(cp, expected, atol=1e-6)


def test_choice_independent_responses_give_one_half():
    rng = np.random.default_rng(0)
    n_trials, n_neurons = 400, 500
    counts = rng.poisson(3.0, size=(n_trials, n_neurons)).astype(float)
    choices = rng.integers(0, 2, size=n_trials)
    cp = np.asarray(choice_probability(counts, choices))
    n1 = int(choices.sum())
    n0 = n_trials - n1
    # Null standard error of an AUC (Mann-Whitney), ignoring ties (conservative).
    se = np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
    assert abs(cp.mean() - 0.5) < Z * se / np.sqrt(n_neurons)
    assert cp.std() == pytest.approx(se, rel=0.15)


@pytest.mark.parametrize("d", [0.3, 1.0])
def test_shifted_gaussian_matches_closed_form(d):
    n = 20000
    choices = np.arange(n) % 2
    x = np.random.default_rng(1).normal(size=(n, 1)) + d * choices[:, None]
    cp = float(choice_probability(x, choices)[0])
    expected = float(norm.cdf(d / np.sqrt(2)))
    # Hanley-McNeil standard error of the AUC.
    q1, q2 = expected / (2 - expected), 2 * expected**2 / (1 + expected)
    m = n // 2
    se = np.sqrt(
        (expected * (1 - expected) + (m - 1) * (q1 - expected**2) + (m - 1) * (q2 - expected**2))
        / (m * m)
    )
    assert abs(cp - expected) < Z * se


def test_time_bins_and_preferred_orientation():
    rng = np.random.default_rng(2)
    choices = rng.integers(0, 2, size=300)
    base = rng.normal(size=(300, 2, 3))
    base[:, :, 0] += 0.8 * choices[:, None]  # prefers choice 1
    base[:, :, 1] -= 0.8 * choices[:, None]  # prefers choice 0
    cp = np.asarray(choice_probability(base, choices))
    assert cp.shape == (2, 3)
    assert (cp[:, 0] > 0.6).all() and (cp[:, 1] < 0.4).all()
    oriented = np.asarray(choice_probability(base, choices, preferred=np.array([1, 0, 1])))
    np.testing.assert_allclose(oriented[:, 1], 1 - cp[:, 1], rtol=1e-6)
    np.testing.assert_allclose(oriented[:, [0, 2]], cp[:, [0, 2]], rtol=1e-6)


@pytest.fixture(scope="module")
def linear_observer():
    """A linear observer: choice 1 when w . energy + internal noise > 0."""
    rng = np.random.default_rng(3)
    n_trials, n_frames = 6000, 12
    w = np.exp(-np.arange(n_frames) / 5.0)  # early frames matter most (primacy)
    energy = rng.normal(size=(n_trials, n_frames))
    decision = energy @ w + 1.0 * rng.normal(size=n_trials)
    return energy, (decision > 0).astype(int), w


@pytest.mark.parametrize("method", ["average", "logistic", "linear"])
def test_kernel_recovers_linear_observer_weights(linear_observer, method):
    energy, choices, w = linear_observer
    kernel = np.asarray(psychophysical_kernel(energy, choices, method=method))
    assert kernel.shape == w.shape
    assert np.corrcoef(kernel, w)[0, 1] > 0.9


def test_logistic_kernel_recovers_a_logistic_observers_weights():
    rng = np.random.default_rng(4)
    w = np.array([1.0, 0.7, 0.5, 0.3, 0.2, 0.1])
    energy = rng.normal(size=(20000, 6))
    p_one = 1 / (1 + np.exp(-(energy @ w - 0.3)))
    choices = (rng.uniform(size=20000) < p_one).astype(int)
    kernel = psychophysical_kernel(energy, choices, method="logistic", l2=0.0)
    np.testing.assert_allclose(kernel, w, atol=0.06)


def test_kernel_with_signal_trials_removes_the_signal_mean(linear_observer):
    energy, _, w = linear_observer
    rng = np.random.default_rng(5)
    signal = rng.choice([-1.0, 0.0, 1.0], size=energy.shape[0])
    shifted = energy + signal[:, None]
    choices = ((shifted @ w + rng.normal(size=signal.size)) > 0).astype(int)
    kernel = np.asarray(psychophysical_kernel(shifted, choices, signal=signal))
    assert np.corrcoef(kernel, w)[0, 1] > 0.9
    # Without removing the signal means the kernel is inflated by the signal's effect.
    raw = np.asarray(psychophysical_kernel(shifted, choices))
    assert raw.mean() > 1.5 * kernel.mean()


def test_kernel_with_channels_keeps_the_shape():
    rng = np.random.default_rng(6)
    energy = rng.normal(size=(500, 4, 2))
    choices = (energy[:, :, 0].sum(1) > 0).astype(int)
    kernel = np.asarray(psychophysical_kernel(energy, choices))
    assert kernel.shape == (4, 2)
    assert (kernel[:, 0] > 5 * np.abs(kernel[:, 1]).max()).all()


# The weighted logistic kernel (traceable, with bootstrap weights): the measure
# ``kernel_logistic`` of the redundancy experiment.


@pytest.fixture(scope="module")
def logistic_observer():
    """A logistic observer with a planted primacy kernel: p(choice 1) = sigmoid(w . e - 0.3)."""
    rng = np.random.default_rng(11)
    w = np.array([1.0, 0.7, 0.5, 0.3, 0.2, 0.1])
    energy = rng.normal(size=(20000, w.size)).astype(np.float32)
    p_one = 1 / (1 + np.exp(-(energy @ w - 0.3)))
    choices = (rng.uniform(size=energy.shape[0]) < p_one).astype(int)
    return energy, choices, w


def test_weighted_logistic_kernel_equals_the_fit_on_repeated_trials(logistic_observer):
    """An integer weight k counts a trial k times: the weighted fit on 400 trials equals the
    unweighted fit on the trials repeated by their Poisson(1) weights (the same penalised
    likelihood; float32 rounding only), by this function and by psychophysical_kernel."""
    from bayescortex.analysis.kernels import logistic_kernel

    energy, choices, _ = logistic_observer
    e, c = energy[:400], choices[:400]
    weights = np.random.default_rng(12).poisson(1.0, size=400)
    assert weights.max() >= 3 and (weights == 0).any()
    weighted = np.asarray(logistic_kernel(e, c, weights.astype(np.float32), l2=0.5))
    e_rep, c_rep = np.repeat(e, weights, axis=0), np.repeat(c, weights)
    repeated = np.asarray(logistic_kernel(e_rep, c_rep, l2=0.5))
    reference = np.asarray(psychophysical_kernel(e_rep, c_rep, method="logistic", l2=0.5))
    np.testing.assert_allclose(weighted, repeated, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weighted, reference, rtol=1e-4, atol=1e-5)
    # Unit weights are the unweighted fit.
    unit = np.asarray(logistic_kernel(e, c, np.ones(400, np.float32), l2=0.5))
    plain = np.asarray(psychophysical_kernel(e, c, method="logistic", l2=0.5))
    np.testing.assert_allclose(unit, plain, rtol=1e-5, atol=1e-6)


def test_weighted_logistic_kernel_recovers_a_planted_kernel(logistic_observer):
    """20,000 trials of a logistic observer: the fit recovers its weights (standard error
    about 0.02 per frame; Poisson bootstrap weights add about as much again) and its primacy
    shape (late minus early of the planted kernel: 0.6 / 3 - 2.2 / 3 = -8 / 15, within 0.05,
    about 3 standard errors of a difference of two 3-frame means);
    under vmap over weight rows, each row equals its own call."""
    import jax

    from bayescortex.analysis.kernels import kernel_shape, logistic_kernel

    energy, choices, w = logistic_observer
    kernel = np.asarray(logistic_kernel(energy, choices, l2=1.0))
    np.testing.assert_allclose(kernel, w, atol=0.06)
    planted = float(kernel_shape(w).late_minus_early)
    assert planted == pytest.approx(-8 / 15, abs=1e-6)
    assert float(kernel_shape(kernel).late_minus_early) == pytest.approx(planted, abs=0.05)
    weights = np.random.default_rng(13).poisson(1.0, size=(2, energy.shape[0]))
    weights = weights.astype(np.float32)
    rows = jax.vmap(lambda r: logistic_kernel(energy, choices == 1, r, l2=1.0))(weights)
    for r in range(2):
        np.testing.assert_allclose(rows[r], w, atol=0.08)
        one = logistic_kernel(energy, choices, weights[r], l2=1.0)
        np.testing.assert_allclose(rows[r], one, rtol=1e-5, atol=1e-6)


def test_weighted_logistic_kernel_rejects_bad_inputs(logistic_observer):
    from bayescortex.analysis.kernels import logistic_kernel

    energy, choices, _ = logistic_observer
    with pytest.raises(ValueError, match="l2"):
        logistic_kernel(energy, choices, l2=-1.0)
    with pytest.raises(ValueError, match="weights"):
        logistic_kernel(energy, choices, np.ones(3))
    with pytest.raises(ValueError, match="weights"):
        logistic_kernel(energy, choices, -np.ones(energy.shape[0]))
    with pytest.raises(ValueError, match="energy"):
        logistic_kernel(energy[:, 0], choices)
