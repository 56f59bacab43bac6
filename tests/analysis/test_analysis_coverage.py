"""Coverage of the analytic 95% intervals against ground truth (issue 16, item 4).

Gaussian populations (conftest: known I, I_shuffle) and Poisson counts (rates from an
exponential tuning model times a shared Gamma gain, mean 1, variance 1/20; the true
``I = f'^T S0^-1 f'`` and ``I_shuffle`` are exact: ``S0 = diag(r0) + r0 r0^T / 20``), with
``N / T0`` = 0.1, 0.25 and 0.4, two coherences, as many trials per signal level as zero-signal
trials. 1500 simulated recordings per regime (fixed seeds; the binomial standard error of a
coverage near 95% is 0.56%), the estimator vmapped over them. Required: 93-97% for the
per-coherence I (the score interval of the exact Gaussian variance); the combined I, I_red and
percent redundancy at least 91%, and reported (xfail) where outside the band.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis.intervals import redundancy_intervals
from bayescortex.analysis.variance import fisher_variance

pytestmark = pytest.mark.slow

N = 32
COHERENCES = (0.05, 0.1)
REPLICATES = 1500
GAIN_SHAPE = 20.0


def _moments(x0, xs, cs):
    centred = x0 - x0.mean(1, keepdims=True)
    cov = np.einsum("rti,rtj->rij", centred, centred) / (x0.shape[1] - 1)
    fp = np.stack([(p.mean(1) - m.mean(1)) / (2 * c) for (p, m), c in zip(xs, cs, strict=True)], 1)
    return fp, cov


def gaussian_regime(population, t0, seed):
    pop = population(N, eps=0.3, i0=40.0, seed=seed)
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(pop.cov)

    def draw(mean, t):
        return mean + rng.normal(size=(REPLICATES, t, N)) @ chol.T

    x0 = draw(0.0, t0)
    xs = [(draw(c * pop.fprime, t0), draw(-c * pop.fprime, t0)) for c in COHERENCES]
    fp, cov = _moments(x0, xs, COHERENCES)
    truth_i = np.full(len(COHERENCES), pop.info)
    truth_s = np.full(len(COHERENCES), pop.info_shuffled)
    return fp, cov, truth_i, truth_s


def poisson_regime(t0, seed):
    rng = np.random.default_rng(seed)
    r0, beta = rng.uniform(2, 20, N), rng.normal(0, 1.0, N)

    def draw(s, t):
        gain = rng.gamma(GAIN_SHAPE, 1 / GAIN_SHAPE, size=(REPLICATES, t, 1))
        return rng.poisson(gain * r0 * np.exp(s * beta)).astype(float)

    x0 = draw(0.0, t0)
    xs = [(draw(c, t0), draw(-c, t0)) for c in COHERENCES]
    fp, cov = _moments(x0, xs, COHERENCES)
    s0 = np.diag(r0) + np.outer(r0, r0) / GAIN_SHAPE
    fs = [r0 * (np.exp(c * beta) - np.exp(-c * beta)) / (2 * c) for c in COHERENCES]
    truth_i = np.array([f @ np.linalg.solve(s0, f) for f in fs])
    truth_s = np.array([np.sum(f**2 / np.diag(s0)) for f in fs])
    return fp, cov, truth_i, truth_s


def coverage(fp, cov, truth_i, truth_s, t0):
    t = jnp.full(len(COHERENCES), float(t0))
    ds = jnp.asarray(2 * np.asarray(COHERENCES), jnp.float32)

    @jax.jit
    def run(f, c):
        return redundancy_intervals(f, c, t0, t, t, ds)

    (lo, lo_c), (hi, hi_c) = jax.vmap(run)(
        jnp.asarray(fp, jnp.float32), jnp.asarray(cov, jnp.float32)
    )
    # The combined truth: the coherences weighted by their true variances.
    var = np.asarray(fisher_variance(truth_i, N, t0, t0, t0, np.asarray(ds)))
    w = (1 / var) / np.sum(1 / var)
    info, shuffled = w @ truth_i, w @ truth_s
    truths = {
        "information": info,
        "redundancy": shuffled - info,
        "percent_redundancy": 100 * (shuffled - info) / shuffled,
    }
    out = {}
    for name, truth in truths.items():
        low, high = np.asarray(getattr(lo_c, name)), np.asarray(getattr(hi_c, name))
        out[name] = float(np.mean((low <= truth) & (truth <= high)))
    low, high = np.asarray(lo.information), np.asarray(hi.information)
    out["information_per_coherence"] = float(
        np.mean((low <= truth_i[None]) & (truth_i[None] <= high))
    )
    return out


@pytest.mark.parametrize("t0", [320, 128, 80])
@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_analytic_intervals_cover_the_truth(kind, t0, population):
    seed = 100 + t0
    regime = (
        gaussian_regime(population, t0, seed) if kind == "gaussian" else poisson_regime(t0, seed)
    )
    found = coverage(*regime, t0)
    print(kind, t0, found)
    value = found.pop("information_per_coherence")
    assert 0.93 <= value <= 0.97, (kind, t0, "information_per_coherence", value)
    # The combined intervals are measured against the band and must not under-cover
    # (measured: I_red 92.5-96.5%; percent redundancy 95.0-97.3%, and 99-100% in the
    # Gaussian regimes at N/T0 = 0.25 and 0.4, where I_shuffle is not significantly above 0
    # in 92-98% of recordings and Fieller's interval is unbounded; combined I 97.1% at
    # N/T0 = 0.4). Tolerance of the floor: 0.91, 3.5 binomial sd below 93%.
    low = {k: v for k, v in found.items() if v < 0.91}
    assert not low, (kind, t0, low)
    missed = {k: v for k, v in found.items() if not 0.93 <= v <= 0.97}
    if missed:
        pytest.xfail(f"combined coverage outside 93-97%: {missed}")
