"""The truncated-normal sampler against scipy.stats.truncnorm, deep into the tail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from jax.scipy.special import ndtri

from bayescortex.inference.truncnorm import (
    positive_normal,
    positive_normal_from_uniform,
    standard_tail_offset,
)

N = 20_000


@pytest.mark.parametrize(
    "mean, sd",
    [
        (-40.0, 1.0),
        (-10.0, 2.0),
        (-3.0, 1.0),
        (-1.0, 0.5),
        (0.0, 1.0),
        (1.9, 1.0),
        (2.1, 1.0),
        (10.0, 3.0),
        (-400.0, 10.0),
    ],
)
def test_matches_scipy_truncnorm(mean, sd):
    key = jax.random.fold_in(jax.random.key(0), int(abs(mean) * 10 + sd))
    x = np.asarray(positive_normal(key, jnp.full((N,), mean), sd), dtype=float)
    ref = st.truncnorm(-mean / sd, np.inf, loc=mean, scale=sd)
    assert np.all(np.isfinite(x)) and np.all(x >= 0)
    # KS test at a fixed seed; 1e-3 keeps the false-alarm rate small across parameters.
    assert st.kstest(x, ref.cdf).pvalue > 1e-3
    # Mean within 4 Monte-Carlo standard errors of the exact mean.
    assert abs(x.mean() - ref.mean()) < 4 * ref.std() / np.sqrt(N)


def test_far_tail_keeps_relative_precision():
    # 40 sd below the bound the draws are ~Exponential(rate 40 / sd): mean sd / 40 to 0.1%.
    x = positive_normal(jax.random.key(1), jnp.full((N,), -40.0), 1.0)
    ref = st.truncnorm(40.0, np.inf, loc=-40.0, scale=1.0)
    assert float(jnp.min(x)) > 0
    assert abs(float(jnp.mean(x)) / ref.mean() - 1) < 4 / np.sqrt(N)


def test_broadcasts_means_and_sds():
    x = positive_normal(jax.random.key(2), jnp.array([-5.0, 0.0, 5.0]), jnp.array([1.0, 2.0, 3.0]))
    assert x.shape == (3,)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_uniforms_give_finite_draws(dtype):
    """Regression: u = finfo.tiny made the direct branch return +inf (u Phi(-a) underflows)."""
    with jax.enable_x64(dtype == "float64"):
        fi = jnp.finfo(dtype)
        # Direct branch (a = -mean / sd <= 2), including the contrast update's typical
        # a = -2 and the edge a = 2; then the tail branch.
        direct = jnp.array([[1e6, 1.0], [0.1, 0.05], [0.0, 1.0], [-1.9, 1.0], [-2.0, 1.0]], dtype)
        tail = jnp.array([[-2.01, 1.0], [-40.0, 1.0], [-400.0, 10.0], [-1e6, 1.0]], dtype)
        for mean, sd in (*direct, *tail):
            for u in (fi.tiny, 1 - fi.eps):
                x = positive_normal_from_uniform(mean, sd, jnp.asarray(u, dtype))
                assert x.dtype == dtype
                assert bool(jnp.isfinite(x)) and float(x) >= 0, (float(mean), float(sd), u)
        # At the minimal uniform the direct branch gives the clamped probability's quantile:
        # z = -ndtri(tiny), so x = mean + sd * z (documented in standard_tail_offset).
        z = -float(ndtri(jnp.asarray(fi.tiny, dtype)))
        for mean, sd in direct:
            x = positive_normal_from_uniform(mean, sd, jnp.asarray(fi.tiny, dtype))
            np.testing.assert_allclose(float(x), float(mean) + float(sd) * z, rtol=10 * fi.eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_uniform_in_range_gives_inf_or_nan(dtype):
    """Every u in [tiny, 1) (log-spaced, both ends included) and bounds a from -1e18 to 1e18."""
    with jax.enable_x64(dtype == "float64"):
        fi = jnp.finfo(dtype)
        ends = [fi.tiny, np.nextafter(fi.tiny, 1, dtype=dtype), 44 * fi.tiny, 1 - fi.eps]
        inner = np.logspace(np.log10(fi.tiny) + 0.1, np.log10(1 - 2 * fi.eps), 300)
        u = jnp.asarray(np.concatenate([ends, inner]), dtype)
        mag = np.logspace(-3, 18, 43)
        a = jnp.asarray(np.concatenate([-mag, [0.0, 1.99, 2.0, 2.01], mag]), dtype)
        w = standard_tail_offset(a[:, None], u[None, :])
        assert w.dtype == dtype
        assert bool(jnp.all(jnp.isfinite(w))) and bool(jnp.all(w >= 0))
