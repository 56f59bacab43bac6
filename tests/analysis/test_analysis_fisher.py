"""Linear Fisher information against Gaussian populations with known information.

Statistical tests use many synthetic repeats (vmapped) and compare means with the truth in
units of the standard error of the mean (|z| < 4: a false alarm about once in 16000 runs);
variances are compared with a stated relative tolerance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import (
    fisher_variance,
    fprime,
    linear_fisher,
    linear_fisher_from_moments,
    pooled_covariance,
    pooled_linear_fisher,
    shuffled_fisher,
)

Z = 4.0


def test_identity_of_information_limiting_correlations(population):
    pop = population(20, eps=0.7, i0=3.0)
    exact = linear_fisher_from_moments(
        jnp.asarray(pop.fprime), jnp.asarray(pop.cov), 10, 1, 1, 1.0, bias_corrected=False
    )
    np.testing.assert_allclose(float(exact), 3.0 / (1 + 0.7 * 3.0), rtol=1e-4)


T0, T1, T2, DS = 60, 40, 40, 1.0


@pytest.fixture(scope="module")
def limited(population, repeats):
    pop = population(12, eps=0.25, i0=2.0, seed=3)
    r = repeats(pop, jax.random.key(11), 4000, T0, T1, T2, DS, pooled=True)
    return pop, r.info, r.info_shuffled, r.info_naive, r.info_pooled


def test_bias_corrected_information_is_unbiased(limited):
    pop, info = limited[:2]
    predicted_sd = np.sqrt(float(fisher_variance(pop.info, 12, T0, T1, T2, DS, form="gaussian")))
    z = (info.mean() - pop.info) / (predicted_sd / np.sqrt(info.size))
    assert abs(z) < Z, (info.mean(), pop.info)


def test_naive_information_is_biased_upward_as_predicted(limited):
    pop, naive = limited[0], limited[3]
    se = naive.std() / np.sqrt(naive.size)
    assert naive.mean() > pop.info + 10 * se
    # Kanitscheider et al. 2015: E[f'^T S^-1 f'] = (T0 - 1)/(T0 - N - 2) (I + N g).
    g = (T1 + T2) / (T1 * T2 * DS**2)
    expected = (T0 - 1) / (T0 - 12 - 2) * (pop.info + 12 * g)
    assert abs(naive.mean() - expected) < Z * se, (naive.mean(), expected)


def test_shuffled_information_is_unbiased(limited):
    pop, shuffled = limited[0], limited[2]
    se = shuffled.std() / np.sqrt(shuffled.size)
    assert abs(shuffled.mean() - pop.info_shuffled) < Z * se


def test_variance_formulas_match_empirical_variance(limited):
    """Gaussian form within 10%; the authors' form within 25% but significantly smaller.

    With 4000 repeats the empirical variance has a relative standard error of about 3%.
    The authors' form drops p-dependent terms that mix the noise of f' with that of S0, so
    it falls short when ``g I`` is not small against ``I^2 / p`` (here by about 16%).
    """
    pop, info = limited[:2]
    empirical = info.var(ddof=1)
    gaussian = float(fisher_variance(pop.info, 12, T0, T1, T2, DS, form="gaussian"))
    authors = float(fisher_variance(pop.info, 12, T0, T1, T2, DS, form="authors"))
    assert gaussian == pytest.approx(empirical, rel=0.10)
    assert authors == pytest.approx(empirical, rel=0.25)
    assert authors < 0.92 * empirical


def test_variance_forms_agree_in_the_papers_regime():
    a = fisher_variance(0.8, 32, 512, 512, 512, 6.0, form="authors")
    g = fisher_variance(0.8, 32, 512, 512, 512, 6.0, form="gaussian")
    assert float(a) == pytest.approx(float(g), rel=0.03)


def test_pooled_kanitscheider_form_is_unbiased_with_its_variance(limited):
    pop, info = limited[0], limited[4]
    var = float(fisher_variance(pop.info, 12, T1 + T2 - 1, T1, T2, DS, form="gaussian"))
    assert abs(info.mean() - pop.info) < Z * np.sqrt(var / info.size)
    assert info.var(ddof=1) == pytest.approx(var, rel=0.10)


def test_shuffled_information_is_the_sum_of_single_neuron_information():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(40, 6)) * np.arange(1.0, 7.0)[None, :]
    xp = rng.normal(size=(30, 6)) + 1.0
    xm = rng.normal(size=(25, 6))
    total = shuffled_fisher(xp, xm, x0, 0.5)
    singles = [float(linear_fisher(xp[:, [i]], xm[:, [i]], x0[:, [i]], 0.5)) for i in range(6)]
    np.testing.assert_allclose(float(total), sum(singles), rtol=1e-4)


def test_public_functions_match_the_moment_forms():
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(50, 5))
    xp = rng.normal(size=(30, 5)) + 0.3
    xm = rng.normal(size=(20, 5))
    fp = fprime(xp, xm, 0.4)
    np.testing.assert_allclose(fp, (xp.mean(0) - xm.mean(0)) / 0.4, rtol=1e-5)
    moment = linear_fisher_from_moments(fp, jnp.cov(x0, rowvar=False), 50, 30, 20, 0.4)
    np.testing.assert_allclose(float(linear_fisher(xp, xm, x0, 0.4)), float(moment), rtol=1e-4)
    direct = fp @ jnp.linalg.solve(pooled_covariance(xp, xm), fp)
    expected = direct * (50 - 5 - 3) / 48 - 50 * 5 / (30 * 20 * 0.4**2)
    np.testing.assert_allclose(float(pooled_linear_fisher(xp, xm, 0.4)), float(expected), rtol=1e-4)


def test_moment_forms_return_nan_when_too_few_trials():
    fp, cov = jnp.ones(8), jnp.eye(8)
    assert np.isnan(float(linear_fisher_from_moments(fp, cov, 11, 10, 10, 1.0)))
    assert np.isfinite(float(linear_fisher_from_moments(fp, cov, 12, 10, 10, 1.0)))
    assert np.isnan(float(fisher_variance(1.0, 8, 11, 10, 10, 1.0)))


def test_works_under_jit_and_vmap():
    fp = jnp.asarray(np.random.default_rng(2).normal(size=(7, 4)), dtype=float)
    out = jax.jit(jax.vmap(linear_fisher_from_moments, in_axes=(0, None, None, None, None, None)))(
        fp, jnp.eye(4), 100, 50, 50, 1.0
    )
    assert out.shape == (7,)
    assert bool(jnp.all(jnp.isfinite(out)))


def test_spd_solve_matches_numpy_and_batches():
    from bayescortex.analysis.linalg import spd_solve

    rng = np.random.default_rng(7)
    a = rng.normal(size=(5, 6, 6))
    spd = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(6)
    rhs = rng.normal(size=(5, 6, 3))
    got = jax.vmap(spd_solve)(jnp.asarray(spd), jnp.asarray(rhs))
    np.testing.assert_allclose(got, np.linalg.solve(spd, rhs), rtol=1e-3, atol=1e-4)
    vec = spd_solve(jnp.asarray(spd[0]), jnp.asarray(rhs[0, :, 0]))
    np.testing.assert_allclose(vec, np.linalg.solve(spd[0], rhs[0, :, 0]), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("rtol", [0.0, 1e-4])
def test_whitening_backends_agree(rtol):
    """The loop Cholesky (the CPU default) and lax.linalg give the same whitening, and both
    give NaN for a singular covariance (a duplicated neuron)."""
    from bayescortex.analysis.linalg import _whiten

    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 12))
    cov = jnp.asarray(a.T @ a / 40)
    vectors = jnp.asarray(rng.normal(size=(12, 3)))
    loop = _whiten(cov, vectors, rtol, method="loop")
    lax = _whiten(cov, vectors, rtol, method="lax")
    np.testing.assert_allclose(loop, lax, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_whiten(cov, vectors, rtol), loop, rtol=0, atol=0)  # CPU: loop
    z = np.linalg.solve(np.linalg.cholesky(np.asarray(cov, float)), np.asarray(vectors, float))
    np.testing.assert_allclose(loop, z, rtol=1e-4, atol=1e-5)
    b = np.concatenate([a, a[:, :1]], axis=1)  # neuron 12 duplicates neuron 0
    singular = jnp.asarray(b.T @ b / 40)
    v = jnp.ones((13, 1))
    for method in ("loop", "lax"):  # the quadratic form |L^-1 v|^2 is undefined
        assert bool(jnp.isnan(jnp.sum(_whiten(singular, v, 1e-4, method=method) ** 2)))
