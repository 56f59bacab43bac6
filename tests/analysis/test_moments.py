"""Streaming sufficient statistics against their definitions."""

import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.analysis import (
    estimate_redundancy,
    group_by_signal,
    moments_from_trials,
    redundancy_from_stats,
)
from bayescortex.analysis.moments import accumulate, add_means, covariance, empty_moments, merge


def _data(seed=0, n=5, features=()):
    rng = np.random.default_rng(seed)
    signal = np.repeat([0.0, 1.0, -1.0, 2.0, -2.0], [60, 30, 30, 30, 30])
    x = (
        3.0
        + rng.normal(size=(signal.size, *features, n))
        + signal.reshape(-1, *[1] * (len(features) + 1))
    )
    return signal, x.astype(np.float32)


def test_moments_match_numpy():
    signal, x = _data()
    g = group_by_signal(signal)
    level = g.layout.block_ids
    m = moments_from_trials(jnp.asarray(x[g.order]), jnp.asarray(level), jnp.ones(level.size),
                            n_levels=5)  # fmt: skip
    np.testing.assert_allclose(covariance(m), np.cov(x[signal == 0].T), rtol=1e-5, atol=1e-6)
    means = np.stack([x[g.order][level == b].mean(0) for b in range(5)])
    np.testing.assert_allclose(m.total / m.weight[:, None], means, rtol=1e-5)


def test_streaming_in_batches_equals_one_batch():
    signal, x = _data(features=(3,))
    g = group_by_signal(signal)
    xs, level = jnp.asarray(x[g.order]), jnp.asarray(g.layout.block_ids)
    whole = moments_from_trials(xs, level, jnp.ones(level.shape[0]), n_levels=5)
    m = empty_moments(5, xs.shape[1:])
    for start in range(0, xs.shape[0], 7):
        sl = slice(start, start + 7)
        m = accumulate(m, xs[sl], level[sl], jnp.ones(xs[sl].shape[0]))
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(m), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # means-only updates of signal batches leave the zero-signal moments alone
    z = moments_from_trials(xs[:60], level[:60], jnp.ones(60), n_levels=5)
    z = add_means(z, xs[60:], level[60:], jnp.ones(xs.shape[0] - 60))
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(z), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_integer_weights_equal_repeated_trials():
    signal, x = _data(seed=1)
    g = group_by_signal(signal)
    xs, level = jnp.asarray(x[g.order]), np.asarray(g.layout.block_ids)
    w = np.random.default_rng(2).poisson(1.0, size=level.size)
    weighted = moments_from_trials(xs, jnp.asarray(level), jnp.asarray(w, jnp.float32), n_levels=5)
    rep = np.repeat(np.arange(level.size), w)
    repeated = moments_from_trials(xs[rep], jnp.asarray(level[rep]), jnp.ones(rep.size), n_levels=5)
    for a, b in zip(jax.tree.leaves(weighted), jax.tree.leaves(repeated), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_merge_is_exact_for_disjoint_sets():
    signal, x = _data(seed=3)
    level = jnp.zeros(40, int)
    a = moments_from_trials(jnp.asarray(x[:15]), level[:15], jnp.ones(15), n_levels=1)
    b = moments_from_trials(jnp.asarray(x[15:40]), level[15:], jnp.ones(25), n_levels=1)
    np.testing.assert_allclose(covariance(merge(a, b)), np.cov(x[:40].T), rtol=1e-5, atol=1e-6)


def test_estimate_from_streamed_statistics_equals_estimate_from_trials():
    signal, x = _data(seed=4, n=8, features=(2,))
    g = group_by_signal(signal)
    xs = jnp.asarray(x[g.order])
    key = jax.random.key(0)
    from_trials = estimate_redundancy(xs, key, layout=g.layout, subset_size=4, n_subsets=20)
    level = jnp.asarray(g.layout.block_ids)
    m = empty_moments(5, xs.shape[1:])
    for start in range(0, xs.shape[0], 50):
        sl = slice(start, start + 50)
        m = accumulate(m, xs[sl], level[sl], jnp.ones(xs[sl].shape[0]))
    streamed = redundancy_from_stats(m, key, ds=g.layout.ds, subset_size=4, n_subsets=20)
    for a, b in zip(jax.tree.leaves(from_trials), jax.tree.leaves(streamed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
