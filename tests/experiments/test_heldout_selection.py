"""Issue 31, items 4 and 5: the d' groups are chosen on held-out data, and the learning-index
correlation leaves the naive session out.

Item 4 on a planted population with no d' effect: every neuron has the same tuning strength
and the same noise (independent noise plus information-limiting noise along ``f'``), so every
equal-size group has the same true redundancy (the covariance is symmetric under permuting
neurons and flipping their signs) and the true top-minus-bottom difference is 0. Groups chosen
on the data they are measured on (the old selection) show a positive difference; groups chosen
on an independent draw of the same population (the held-out selection) do not. The groups'
redundancy comes from :func:`~bayescortex.experiments.redundancy.measures.block_measures`, the
code the experiment runs. Replicates are independent draws (fixed seed); the interval is the
replicates' mean +- 1.96 standard errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis import moments_from_trials
from bayescortex.experiments.protocol import Protocol
from bayescortex.experiments.redundancy import effect_sizes
from bayescortex.experiments.redundancy.measures import Analysis, block_measures, passive_dprime
from bayescortex.experiments.redundancy.selection import dprime_groups, selection_protocol

N, GROUP, REPLICATES = 32, 8, 160
COHERENCES = (1.0, 2.0)
LEVELS = np.array([0.0, 1.0, -1.0, 2.0, -2.0])  # block order: zero, then +c, -c per coherence
SIZES = (80, 40, 40, 40, 40)
LEVEL = np.repeat(np.arange(len(LEVELS)), SIZES)
TUNING = 0.15 * np.where(np.arange(N) % 2, 1.0, -1.0)  # the same |f'| for every neuron
ANALYSIS = Analysis(tuple(2 * c for c in COHERENCES), subset_size=GROUP, bins=0, group_size=GROUP)


def test_dprime_groups_are_the_highest_and_lowest():
    top, bottom = dprime_groups(jnp.array([0.5, 2.0, -1.0, 3.0, 0.0, 1.0]), 2)
    assert top.tolist() == [3, 1] and bottom.tolist() == [4, 2]
    top, bottom = dprime_groups(jnp.ones(4), 2)  # ties: neuron order
    assert top.tolist() == [0, 1] and bottom.tolist() == [2, 3]


def test_the_held_out_block_is_a_quarter_without_resamples():
    p = selection_protocol(Protocol(zero_trials=20, trials_per_level=10, resamples=4))
    assert (p.zero_trials, p.trials_per_level, p.resamples) == (5, 2, 0)
    p = selection_protocol(Protocol(zero_trials=4, trials_per_level=3))
    assert (p.zero_trials, p.trials_per_level) == (2, 2)  # at least 2 of each


def _draws(rng, shared: float):
    """Moments of ``REPLICATES`` blocks of the planted population, leading replicate axis:
    independent unit noise, plus ``shared`` variance along the tuning (information-limiting)."""
    signal = LEVELS[LEVEL][None, :, None] * TUNING
    shape = (REPLICATES, LEVEL.size)
    x = (signal + rng.normal(size=(*shape, N))
         + np.sqrt(shared) * rng.normal(size=(*shape, 1)) * TUNING)  # fmt: skip
    one = lambda t: moments_from_trials(  # noqa: E731
        t[:, None, :], jnp.asarray(LEVEL), jnp.ones(LEVEL.size), n_levels=len(LEVELS)
    )
    return jax.vmap(one)(jnp.asarray(x, jnp.float32))


@jax.jit
def _difference(selected, measured, keys):
    """Top-minus-bottom redundancy of ``measured``, the groups ranked by the d' of
    ``selected`` (both with a leading replicate axis)."""

    def one(s, m, k):
        dprime = passive_dprime(s, ANALYSIS.ds)
        out = block_measures(ANALYSIS, m, m.weight, k, 1, dprime=dprime)
        return out["redundancy_dprime_top"].value - out["redundancy_dprime_bottom"].value

    return jax.vmap(one)(selected, measured, keys)


def _interval(values) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    se = v.std(ddof=1) / np.sqrt(v.size)
    return v.mean(), v.mean() - 1.96 * se, v.mean() + 1.96 * se


@pytest.fixture(scope="module")
def planted():
    """Two sessions of the no-effect population: naive (independent noise only) and trained
    (information-limiting noise added to every neuron alike), each with its own held-out
    draw; ``(same-data, held-out)`` differences per session, each ``(replicates,)``."""
    rng = np.random.default_rng(31)
    keys = jax.random.split(jax.random.key(4), REPLICATES)
    out = {}
    for session, shared in (("naive", 0.0), ("trained", 5.0)):
        measured, held_out = _draws(rng, shared), _draws(rng, shared)
        out[session] = (
            np.asarray(_difference(measured, measured, keys)),
            np.asarray(_difference(held_out, measured, keys)),
        )
    return out


def test_same_data_selection_is_biased_and_held_out_selection_is_not(planted):
    same, held = planted["trained"]
    mean, low, high = _interval(held)
    assert low < 0 < high and abs(mean) < 0.01  # true difference 0
    mean, low, high = _interval(same)
    assert low > 0 and mean > 0.05  # measured 0.097 +- 0.003 (1 se) at this seed


def test_the_change_of_the_difference_is_not_spurious_under_held_out_selection(planted):
    # Redundancy rises with "learning" in every neuron alike, so the d' groups' change is the
    # same: change_dprime_top_minus_bottom is 0. Same-data selection's bias grows with the
    # information-limiting noise and shows up as a d'-specific rise.
    change_same = planted["trained"][0] - planted["naive"][0]
    change_held = planted["trained"][1] - planted["naive"][1]
    mean, low, high = _interval(change_held)
    assert low < 0 < high and abs(mean) < 0.01
    mean, low, high = _interval(change_same)
    assert low > 0 and mean > 0.05


# -- item 5: the learning-index correlation over the learning sessions only --------------------


def _sessions(redundancy, slope, resamples: int = 200, sd: float = 0.05, seed: int = 5):
    """A report Dataset of ``redundancy`` and ``psychometric_slope`` per session (engaged and
    passive alike), with resamples around them (normal noise of ``sd``)."""
    rng = np.random.default_rng(seed)
    point = {"redundancy": np.asarray(redundancy, float), "psychometric_slope": np.asarray(slope)}
    coords = {"session": np.arange(len(redundancy)), "mode": ["engaged", "passive"]}
    data = {}
    for name, v in point.items():
        both = np.stack([v, v], axis=1)
        data[name] = (("session", "mode"), both)
        noise = rng.normal(0.0, sd * np.abs(v).max(), (resamples, *both.shape))
        data[f"{name}_resampled"] = (("resample", "session", "mode"), both[None] + noise)
    ds = xr.Dataset(data, coords=coords)
    point, rep = effect_sizes._split(ds, "", ["redundancy", "psychometric_slope"])
    return point, rep


def test_the_naive_session_alone_no_longer_carries_the_correlation():
    # Session 0 is low in both; the learning sessions 1..5 are uncorrelated (the redundancy
    # values are a permutation of each other's order that gives r = 0 exactly).
    redundancy = [0.0, 1.0, 1.2, 0.8, 1.1, 0.9]
    slope = [0.0, 2.0, 2.2, 2.2, 1.8, 1.8]  # r over sessions 1..5: 0 (checked below)
    point, rep = _sessions(redundancy, slope)
    r_learning = np.corrcoef(redundancy[1:], slope[1:])[0, 1]
    assert abs(r_learning) < 1e-12
    old = effect_sizes.effect(
        point, rep,
        lambda d: xr.corr(
            d.redundancy.sel(mode="engaged"), effect_sizes.learning_index(d), "session"
        ),
    )  # fmt: skip
    assert old[0] > 0.9 and old[1] > 0.5  # the naive-vs-trained jump alone
    new = effect_sizes.effect(point, rep, effect_sizes.learning_correlation)
    assert new[0] == pytest.approx(r_learning, abs=1e-9)
    assert new[1] < 0 < new[2]


def test_the_correlation_is_undefined_with_fewer_than_three_learning_sessions():
    point, rep = _sessions([0.0, 1.0, 2.0], [0.0, 1.0, 2.5])
    assert np.isnan(float(effect_sizes.learning_correlation(point)))
    found = effect_sizes._paper_effects(point, rep, 2, change=None)
    assert "correlation_redundancy_learning_index_engaged" not in found  # criterion: n/a
    point, rep = _sessions([0.0, 1.0, 2.0, 2.5], [0.0, 1.0, 2.5, 2.0])
    found = effect_sizes._paper_effects(point, rep, 3, change=None)
    r = np.corrcoef([1.0, 2.0, 2.5], [1.0, 2.5, 2.0])[0, 1]
    assert found["correlation_redundancy_learning_index_engaged"][0] == pytest.approx(r)


def test_a_correlation_interval_stays_inside_minus_one_one():
    """Centring the resampled r on a high point estimate pushes the plain interval past 1; on
    Fisher's z scale it stays inside [-1, 1] and still contains the point estimate."""
    from bayescortex.experiments.redundancy.effect_sizes import effect

    rng = np.random.default_rng(0)
    point = xr.Dataset({"r": 0.95})
    rep = xr.Dataset({"r": ("resample", np.tanh(rng.normal(0.5, 0.8, 400)))})
    _, _, plain_high = effect(point, rep, lambda d: d.r)
    value, low, high = effect(point, rep, lambda d: d.r, correlation=True)
    assert plain_high > 1
    assert -1 <= low < value < high <= 1
