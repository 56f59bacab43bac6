"""The paper's remaining analyses, against synthetic cases with known answers: weighted ROC
AUC (choice probability), choice-triggered averages and kernel shape, psychometric fits and
the learning index, correlations over sessions, and the category structure of correlations.

Every function is also run under ``jax.jit`` and ``jax.vmap`` (over bootstrap weights or a
batch), as the simulated experiments use them.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from bayescortex.analysis import (
    binned_correlations,
    category_correlation_contrast,
    choice_triggered_average,
    correlation_from_covariance,
    correlation_over_sessions,
    kernel_shape,
    learning_index,
    psychometric_fit,
    psychophysical_kernel,
    roc_auc,
    weighted_roc_auc,
)

Z = 4.0  # tolerances are Z standard errors


def _f32(x):
    return jnp.asarray(x, jnp.result_type(float))


# --- weighted ROC AUC --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tied_counts():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(60, 5)).astype(float)  # many ties
    choices = rng.integers(0, 2, size=60)
    return counts, choices


def test_weighted_auc_with_unit_weights_is_roc_auc_exactly(tied_counts):
    counts, choices = tied_counts
    x, chose = _f32(counts), jnp.asarray(choices == 1)
    expected = np.asarray(roc_auc(x, chose))
    np.testing.assert_array_equal(np.asarray(weighted_roc_auc(x, chose, jnp.ones(60))), expected)
    np.testing.assert_array_equal(np.asarray(weighted_roc_auc(x, choices)), expected)


def test_integer_weights_equal_repeated_trials(tied_counts):
    counts, choices = tied_counts
    k = np.random.default_rng(1).integers(0, 4, size=60)  # includes zeros (dropped trials)
    repeated, rep_choices = np.repeat(counts, k, axis=0), np.repeat(choices, k)
    auc = weighted_roc_auc(counts, choices, k.astype(float))
    # Sums of halves and small integers are exact in float32, so the match is exact too.
    np.testing.assert_allclose(auc, roc_auc(_f32(repeated), jnp.asarray(rep_choices == 1)), 0, 1e-7)
    cta = choice_triggered_average(counts, choices, k.astype(float))
    np.testing.assert_allclose(
        cta, psychophysical_kernel(repeated, rep_choices, method="average"), rtol=1e-5, atol=1e-6
    )


def test_weighted_auc_matches_the_pairwise_definition_for_real_weights(tied_counts):
    counts, choices = tied_counts
    w = np.random.default_rng(2).gamma(2.0, size=60)
    ones, zeros = np.flatnonzero(choices == 1), np.flatnonzero(choices == 0)
    expected = []
    for n in range(counts.shape[1]):
        x = counts[:, n]
        total = sum(
            w[i] * w[j] * ((x[i] > x[j]) + 0.5 * (x[i] == x[j]))
            for i, j in itertools.product(ones, zeros)
        )
        expected.append(total / (w[ones].sum() * w[zeros].sum()))
    np.testing.assert_allclose(weighted_roc_auc(counts, choices, w), expected, rtol=1e-5)


def test_weighted_auc_over_resamples_and_trailing_axes(tied_counts):
    # As the bootstrap uses it: vmapped over weight vectors, each resample equals its own
    # call; trailing axes (time bins x neurons) equal the columns taken one at a time.
    counts, choices = tied_counts
    x = _f32(counts)
    weights = np.random.default_rng(4).poisson(1.0, size=(8, 60)).astype(np.float32)
    direct = np.stack([np.asarray(weighted_roc_auc(x, choices, w)) for w in weights])
    mapped = jax.vmap(lambda w: weighted_roc_auc(x, choices, w))(weights)
    np.testing.assert_array_equal(np.asarray(mapped), direct)
    binned = weighted_roc_auc(x.reshape(60, 1, 5), choices, weights[0])
    np.testing.assert_array_equal(np.asarray(binned)[0], direct[0])


def test_weighted_auc_is_nan_when_a_choice_has_no_weight(tied_counts):
    counts, choices = tied_counts
    w = np.where(choices == 1, 0.0, 1.0)
    assert np.isnan(np.asarray(weighted_roc_auc(counts, choices, w))).all()
    assert np.isnan(np.asarray(choice_triggered_average(counts[:, :3], choices, w))).all()


def test_choice_probability_is_one_half_for_choice_independent_counts():
    rng = np.random.default_rng(3)
    n_trials, n_neurons = 400, 500
    counts = rng.poisson(3.0, size=(n_trials, n_neurons)).astype(float)
    choices = rng.integers(0, 2, size=n_trials)
    n1 = int(choices.sum())
    n0 = n_trials - n1
    # Unit weights: the Mann-Whitney null standard error (ignoring ties, conservative).
    se = np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
    cp = np.asarray(weighted_roc_auc(counts, choices))
    assert abs(cp.mean() - 0.5) < Z * se / np.sqrt(n_neurons)
    # Poisson bootstrap weights: given the weights, the neurons' AUCs are independent with
    # mean exactly 1/2 (exchangeable trials), so their spread gives the standard error.
    w = rng.poisson(1.0, size=n_trials).astype(float)
    cp_w = np.asarray(jax.jit(weighted_roc_auc)(counts, choices, w))
    assert abs(cp_w.mean() - 0.5) < Z * cp_w.std(ddof=1) / np.sqrt(n_neurons)


def test_planted_shift_gives_the_gaussian_auc_under_jit_and_vmap():
    n, d, n_resamples = 10000, 1.0, 4
    rng = np.random.default_rng(4)
    choices = np.arange(n) % 2
    x = (rng.normal(size=n) + d * choices)[:, None]
    expected = float(norm.cdf(d / np.sqrt(2)))
    # Hanley-McNeil standard error of the AUC; a Poisson bootstrap resample adds its own
    # variance of about the same size, hence sqrt(2).
    q1, q2, m = expected / (2 - expected), 2 * expected**2 / (1 + expected), n // 2
    var = expected * (1 - expected) + (m - 1) * (q1 - expected**2 + q2 - expected**2)
    se = np.sqrt(2 * var / m**2)
    weights = _f32(rng.poisson(1.0, size=(n_resamples, n)))
    chose = jnp.asarray(choices == 1)
    batched = jax.jit(jax.vmap(weighted_roc_auc, in_axes=(None, None, 0)))(_f32(x), chose, weights)
    assert batched.shape == (n_resamples, 1)
    np.testing.assert_allclose(batched[2], weighted_roc_auc(x, choices, weights[2]), rtol=1e-6)
    assert (np.abs(np.asarray(batched[:, 0]) - expected) < Z * se).all()


# --- psychophysical kernels --------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_observer():
    """Choice 1 when ``w . energy + noise > 0``, Gaussian energies: the average kernel is
    exactly ``w * 2 sqrt(2/pi) / sqrt(|w|^2 + noise^2)`` (``E[e_f | d] = w_f d / var d``)."""
    rng = np.random.default_rng(5)
    n_trials, n_frames, noise = 20000, 8, 1.0
    w = np.exp(-np.arange(n_frames) / 3.0)  # primacy
    energy = rng.normal(size=(n_trials, n_frames))
    choices = (energy @ w + noise * rng.normal(size=n_trials) > 0).astype(int)
    kernel = w * 2 * np.sqrt(2 / np.pi) / np.sqrt(w @ w + noise**2)
    return energy, choices, kernel


def test_choice_triggered_average_recovers_a_planted_kernel(linear_observer):
    energy, choices, kernel = linear_observer
    cta = np.asarray(choice_triggered_average(energy, choices))
    n1 = choices.sum()
    # Per-frame standard error: the conditional variance is at most 1.
    se = np.sqrt(1 / n1 + 1 / (choices.size - n1))
    assert np.abs(cta - kernel).max() < Z * se
    np.testing.assert_allclose(
        cta, psychophysical_kernel(energy, choices, method="average"), rtol=1e-5, atol=1e-6
    )
    shape = kernel_shape(cta)
    assert float(shape.late_minus_early) < 0 and float(shape.slope) < 0


def test_choice_triggered_average_under_vmap_over_bootstrap_weights(linear_observer):
    energy, choices, kernel = linear_observer
    weights = _f32(np.random.default_rng(10).poisson(1.0, size=(3, choices.size)))
    fn = jax.jit(jax.vmap(choice_triggered_average, in_axes=(None, None, 0)))
    batched = np.asarray(fn(_f32(energy), jnp.asarray(choices), weights))
    assert batched.shape == (3, kernel.size)
    np.testing.assert_allclose(
        batched[1], choice_triggered_average(energy, choices, weights[1]), rtol=1e-5, atol=1e-6
    )
    se = np.sqrt(2 * 4 / choices.size)  # the resample doubles the variance
    assert np.abs(batched - kernel[None, :]).max() < Z * se


def test_kernel_shape_of_flat_linear_and_decaying_kernels():
    flat = kernel_shape(jnp.broadcast_to(jnp.array([0.5, 2.0, -1.0]), (10, 3)))
    np.testing.assert_allclose(flat.mean, [0.5, 2.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(flat.normalized, np.ones((10, 3)), atol=1e-6)
    np.testing.assert_allclose(flat.late_minus_early, np.zeros(3), atol=1e-6)
    np.testing.assert_allclose(flat.slope, np.zeros(3), atol=1e-6)
    # k = 1 + t on t in [0, 1]: slope 1; with 10 frames the halves' means are 1 + 2/9 and
    # 1 + 7/9 (t = i/9), a difference of 5/9; the mean is 3/2.
    t = np.arange(10) / 9
    linear = kernel_shape(_f32(1 + t))
    assert float(linear.slope) == pytest.approx(1.0, abs=1e-5)
    assert float(linear.late_minus_early) == pytest.approx(5 / 9, abs=1e-5)
    assert float(linear.mean) == pytest.approx(1.5, abs=1e-6)
    # Decaying kernels (batch of time constants, frames on axis 1) under jit and vmap.
    decaying = jnp.exp(-jnp.arange(10.0)[None, :] / jnp.array([[2.0], [5.0]]))
    shape = jax.jit(jax.vmap(kernel_shape))(decaying)
    assert (np.asarray(shape.late_minus_early) < 0).all() and (np.asarray(shape.slope) < 0).all()
    # Relative to its mean, the faster decay is the stronger primacy.
    relative = np.asarray(shape.slope / shape.mean)
    assert relative[0] < relative[1]
    np.testing.assert_allclose(kernel_shape(decaying, axis=1).slope, shape.slope, rtol=1e-6)


def test_kernel_shape_is_finite_and_linear_where_the_kernel_mean_is_zero():
    """A kernel with mean 0 (primacy of one sign, recency of the other): the shape is still
    the exact difference (mean of [1, 1, -1, -1] halves: -2; slope of 1 - 2t on [0, 1]: -2),
    only the normalised kernel is undefined; and the statistic is linear in the kernel, so
    the shape of a mean of kernels (bootstrap replicates) is the mean of their shapes."""
    zero_mean = kernel_shape(_f32([1.0, 1.0, -1.0, -1.0]))
    assert float(zero_mean.late_minus_early) == pytest.approx(-2.0, abs=1e-6)
    assert float(zero_mean.mean) == 0.0
    assert not np.isfinite(np.asarray(zero_mean.normalized)).any()
    line = kernel_shape(_f32(1 - 2 * np.arange(5) / 4))
    assert float(line.slope) == pytest.approx(-2.0, abs=1e-5)
    kernels = np.random.default_rng(3).normal(size=(7, 6)).astype(np.float32)
    both = jax.vmap(kernel_shape)(jnp.asarray(kernels))
    of_mean = kernel_shape(kernels.mean(axis=0))
    assert float(of_mean.late_minus_early) == pytest.approx(
        float(both.late_minus_early.mean()), abs=1e-6
    )
    assert float(of_mean.slope) == pytest.approx(float(both.slope.mean()), abs=1e-5)


# --- psychometric fits and learning --------------------------------------------------------

CONTRAST = np.linspace(-0.5, 0.5, 11)


def _binomial_fractions(rng, beta, bias, n):
    p = 1 / (1 + np.exp(-(beta * CONTRAST + bias)))
    return rng.binomial(n, p) / n


def _standard_errors(beta, bias, n):
    # Inverse Fisher information of (beta, bias) at the truth.
    p = 1 / (1 + np.exp(-(beta * CONTRAST + bias)))
    x = np.stack([CONTRAST, np.ones_like(CONTRAST)], axis=1)
    info = (x * (n * p * (1 - p))[:, None]).T @ x
    return np.sqrt(np.diag(np.linalg.inv(info)))


def test_psychometric_fit_recovers_planted_parameters():
    beta, bias, n = 6.0, -0.4, 400
    rng = np.random.default_rng(6)
    p_first = _binomial_fractions(rng, beta, bias, n)
    fit = psychometric_fit(p_first, CONTRAST, np.full(CONTRAST.size, float(n)))
    se_beta, se_bias = _standard_errors(beta, bias, n)
    assert abs(float(fit.beta) - beta) < Z * se_beta
    assert abs(float(fit.bias) - bias) < Z * se_bias
    # Trial-level 0/1 outcomes with unit weights give the same fit as the fractions.
    k = np.round(p_first * n).astype(int)
    outcomes = np.concatenate([np.r_[np.ones(ki), np.zeros(n - ki)] for ki in k])
    per_trial = psychometric_fit(outcomes, np.repeat(CONTRAST, n), np.ones(outcomes.size))
    np.testing.assert_allclose(per_trial, fit, rtol=1e-3, atol=1e-4)


def test_psychometric_fit_is_finite_for_separable_data():
    p_first = (CONTRAST > 0).astype(float)
    fit = psychometric_fit(p_first, CONTRAST, np.full(CONTRAST.size, 50.0))
    assert np.isfinite(float(fit.beta)) and float(fit.beta) > 50
    # The fitted boundary -bias/beta sits midway between the last 0 and the first 1.
    # (The ridge, which also shrinks the intercept, moves it by less than 1e-3.)
    assert -float(fit.bias) / float(fit.beta) == pytest.approx(0.05, abs=1e-3)


def test_learning_index_rises_with_planted_sensitivity_under_jit_and_vmap():
    betas, n = np.array([1.0, 2.5, 5.0, 10.0]), 600
    rng = np.random.default_rng(7)
    p_first = np.stack([_binomial_fractions(rng, b, 0.2, n) for b in betas])
    weights = np.full(p_first.shape, float(n))
    fit_one = lambda p, w: psychometric_fit(p, _f32(CONTRAST), w)  # noqa: E731
    fits = jax.jit(jax.vmap(fit_one))(_f32(p_first), _f32(weights))
    np.testing.assert_allclose(psychometric_fit(p_first, CONTRAST, weights), fits, rtol=1e-5)
    index = np.asarray(learning_index(fits.beta))
    assert index[0] == 0.0
    assert (np.diff(index) > 0).all()
    se = np.array([_standard_errors(b, 0.2, n)[0] for b in betas])
    # The standard error of a difference of independent fits.
    tolerance = Z * np.sqrt(se**2 + se[0] ** 2)
    assert (np.abs(index - (betas - betas[0])) < tolerance).all()
    # Batched over resamples (leading axis) and another reference, under jit.
    stacked = jnp.stack([fits.beta, 2 * fits.beta])
    by_last = jax.jit(learning_index, static_argnums=1)(stacked, 3)
    np.testing.assert_allclose(2 * by_last[0], by_last[1], rtol=1e-6)
    assert float(by_last[0, 3]) == 0.0


def test_correlation_over_sessions_is_numpys_corrcoef():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(20, 7))
    b = 0.5 * a + rng.normal(size=(20, 7))
    expected = np.array([np.corrcoef(a[r], b[r])[0, 1] for r in range(20)])
    np.testing.assert_allclose(correlation_over_sessions(a, b), expected, rtol=1e-5, atol=1e-6)
    vmapped = jax.jit(jax.vmap(correlation_over_sessions))(_f32(a), _f32(b))
    np.testing.assert_allclose(vmapped, expected, rtol=1e-5, atol=1e-6)
    # A fixed session vector against a batch of resamples broadcasts.
    fixed = correlation_over_sessions(a, b[0])
    np.testing.assert_allclose(fixed[3], np.corrcoef(a[3], b[0])[0, 1], rtol=1e-5)
    assert np.isnan(float(correlation_over_sessions(np.ones(5), np.arange(5.0))))


# --- category structure of noise correlations ---------------------------------------------

CATEGORIES = np.array([0.0, np.pi / 2])
# Four neurons near each category (3.1 is 0.04 rad from 0 on the axial circle) and four
# near the oblique orientations, more than 0.3 rad from either category.
PREFERRED = np.array(
    [0.02, 0.1, 3.1, 2.95, 1.5, 1.6, 1.7, 1.45, np.pi / 4, 0.7, 2.3, 2.5], dtype=float
)
GROUP = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1])


def planted_block_covariance(same=0.3, different=-0.1, unassigned=0.6):
    # Unassigned neurons correlate among themselves only; counting them in either mean
    # would move the answer.
    n = PREFERRED.size
    corr = np.zeros((n, n))
    for i, j in itertools.product(range(n), range(n)):
        if GROUP[i] >= 0 and GROUP[j] >= 0:
            corr[i, j] = same if GROUP[i] == GROUP[j] else different
        elif GROUP[i] < 0 and GROUP[j] < 0:
            corr[i, j] = unassigned
    np.fill_diagonal(corr, 1.0)
    sd = np.linspace(0.5, 3.0, n)
    assert np.linalg.eigvalsh(corr).min() > 0
    return corr * np.outer(sd, sd)


def test_category_contrast_of_a_planted_block_covariance_is_exact():
    corr = correlation_from_covariance(_f32(planted_block_covariance()))
    contrast = category_correlation_contrast(corr, PREFERRED, CATEGORIES, 0.3)
    assert float(contrast) == pytest.approx(0.4, abs=1e-6)
    # Batched over leading axes, under jit with a traced width, and under vmap.
    other = correlation_from_covariance(_f32(planted_block_covariance(0.5, 0.2, -0.2)))
    stacked = jnp.stack([corr, other])
    fn = jax.jit(category_correlation_contrast)
    np.testing.assert_allclose(fn(stacked, PREFERRED, CATEGORIES, 0.3), [0.4, 0.3], atol=1e-6)
    vmapped = jax.vmap(category_correlation_contrast, in_axes=(0, None, None, None))
    np.testing.assert_allclose(vmapped(stacked, PREFERRED, CATEGORIES, 0.3), [0.4, 0.3], atol=1e-6)
    # A wider window assigns the oblique neurons too, changing the answer.
    assert abs(float(fn(corr, PREFERRED, CATEGORIES, jnp.pi / 4)) - 0.4) > 0.01
    # One category: no different-category pairs.
    assert np.isnan(float(category_correlation_contrast(corr, PREFERRED, CATEGORIES[:1], 0.3)))


def test_binned_correlations_recover_planted_bin_means():
    n_bins = 4
    rng = np.random.default_rng(9)
    # Bins 0, 1 and 3 populated (bin 2, [pi/2, 3pi/4), empty), one neuron alone in bin 3.
    relative = np.array([0.1, 0.3, 0.7, 0.9, 1.0, 1.2, 3.0])
    bins = np.array([0, 0, 0, 1, 1, 1, 3])
    planted = np.array(
        [[0.4, 0.1, 0.0, -0.2], [0.1, 0.3, 0.0, 0.05], [0, 0, 0, 0], [-0.2, 0.05, 0.0, 0.7]]
    )
    noise = rng.normal(scale=0.05, size=(7, 7))
    noise = noise + noise.T
    corr = planted[bins][:, bins] + noise
    np.fill_diagonal(corr, 1.0)
    expected = np.full((n_bins, n_bins), np.nan)
    for a, b in itertools.product(range(n_bins), range(n_bins)):
        pairs = [
            corr[i, j]
            for i in range(7)
            for j in range(7)
            if i != j and bins[i] == a and bins[j] == b
        ]
        if pairs:
            expected[a, b] = np.mean(pairs)
    out = np.asarray(binned_correlations(corr, relative, n_bins))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.isnan(out[2]).all() and np.isnan(out[3, 3])
    # Without noise the bin means are the planted values.
    clean = planted[bins][:, bins]
    np.fill_diagonal(clean, 1.0)
    out_clean = np.asarray(binned_correlations(clean, relative, n_bins))
    populated = ~np.isnan(expected)
    np.testing.assert_allclose(out_clean[populated], planted[populated], atol=1e-6)
    # Under jit (n_bins static) and vmap over a batch of matrices.
    fn = jax.jit(jax.vmap(binned_correlations, in_axes=(0, None, None)), static_argnums=2)
    batched = np.asarray(fn(_f32(np.stack([corr, clean])), _f32(relative), n_bins))
    np.testing.assert_allclose(batched[0], out, atol=1e-6)
    np.testing.assert_allclose(batched[1], out_clean, atol=1e-6)


# --- input checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: weighted_roc_auc(np.ones((4, 2)), [0, 1, 2, 0]), "chose_one"),
        (lambda: weighted_roc_auc(np.ones((4, 2)), [0, 1, 1, 0], [1, -1, 1, 1]), "weights"),
        (lambda: weighted_roc_auc(np.ones((4, 2)), [0, 1, 1], None), "chose_one"),
        (lambda: choice_triggered_average(np.ones(4), [0, 1, 1, 0]), "energy"),
        (lambda: kernel_shape(np.ones((1, 3))), "kernel"),
        (lambda: psychometric_fit([0.2, 1.5], [-1.0, 1.0], [10, 10]), "p_first"),
        (lambda: psychometric_fit([0.2, 0.5], [-1.0, 1.0], [10, -1]), "weights"),
        (lambda: learning_index(np.ones(3), reference=3), "reference"),
        (lambda: correlation_over_sessions(np.ones(1), np.ones(1)), "a"),
        (lambda: category_correlation_contrast(np.eye(3), np.ones(3), [0.0], -0.1), "width"),
        (lambda: category_correlation_contrast(np.eye(3), np.ones(2), [0.0], 0.1), "corr"),
        (lambda: binned_correlations(np.eye(3), np.ones(3), 0), "n_bins"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
