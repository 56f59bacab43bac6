"""The redundancy experiment's criteria on planted numbers (issue 31): the engagement contrast
over the within-trial bins equals a direct computation from per-bin values, the equivalence
tests (the passive null, population information not lower) answer INCONCLUSIVE on a planted
small-sample null, PASS on a large-sample null and FAIL on a planted effect, verdicts print as
such, sanity checks are printed apart from the paper's claims, and the default layout has
3 bins of 32 samples (400 ms at 80 samples/s).

The datasets are :func:`tests.experiments.test_figures.fabricate`'s (the names and dimensions
of ``results.nc``) with the planted values written over its measures; effects come from
:func:`effect_sizes.effects`, the code the run uses. Seeds are fixed; tolerances are stated."""

import functools

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments import criteria
from bayescortex.experiments.redundancy import RedundancyConfig, acceptance, effect_sizes, report
from bayescortex.experiments.redundancy.config import check_bins
from tests.experiments.test_figures import RESAMPLES, _with_effects, fabricate

TOL = 1e-5  # float32 quantiles (jax) against float64 (numpy)


def _strip(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without its effects and bands, so that they can be recomputed."""
    drop = [v for v in ds.data_vars if str(v).startswith("effect_") or
            str(v).endswith(("_low", "_high"))]  # fmt: skip
    return ds.drop_vars(drop).drop_vars("effect", errors="ignore")


@functools.cache
def _base() -> xr.Dataset:
    return _strip(fabricate(seed=0)).isel(time=slice(0, 3))


def _three_bins() -> xr.Dataset:
    """The fabricated run cut to 3 within-trial bins (the default layout), effects dropped."""
    return _base().copy(deep=True)


def _centred(value: float, samples: np.ndarray) -> tuple[float, float, float]:
    """The report's interval, written out: resamples shifted to mean ``value``, then the
    2.5% and 97.5% quantiles (linear interpolation)."""
    shifted = samples - samples.mean() + value
    low, high = np.quantile(shifted, [0.025, 0.975])
    return value, float(low), float(high)


def _effects(ds: xr.Dataset) -> dict:
    return effect_sizes.effects(ds)


def test_engagement_contrast_equals_a_direct_computation_from_per_bin_values():
    ds = _three_bins()
    rng = np.random.default_rng(31)
    # Planted per-bin I_red (session, mode, time) and resamples: naive flat, the last session
    # rising over the engaged bins, the passive presentation (bin 1 of the passive block) low.
    point = np.zeros((3, 2, 3))
    point[-1, 0] = [0.011, 0.060, 0.115]  # engaged change by bin (issue 31's probe)
    point[-1, 1] = [0.003, 0.020, 0.040]  # passive: presentation, then extended fixation
    point += 0.2  # a naive level, the same for both modes
    rep = point[None] + rng.normal(0.0, 0.01, (RESAMPLES, 3, 2, 3))
    dims = ("session", "mode", "time")
    ds["redundancy_by_time"] = (dims, point)
    ds["redundancy_by_time_resampled"] = (("resample", *dims), rep)
    found = _effects(ds)

    def direct(values):  # values: (session, mode, time)
        engaged = (values[-1, 0] - values[0, 0]).mean()
        passive = values[-1, 1, 0] - values[0, 1, 0]
        return engaged - passive, engaged, passive

    value, engaged, passive = direct(point)
    samples = np.array([direct(r) for r in rep])
    assert value == pytest.approx(np.mean([0.011, 0.060, 0.115]) - 0.003, abs=1e-12)
    expected = {
        "engagement_contrast_redundancy": _centred(value, samples[:, 0]),
        "change_redundancy_bins_engaged": _centred(engaged, samples[:, 1]),
        "change_redundancy_window_passive": _centred(passive, samples[:, 2]),
        "equivalence_passive_margin": _centred(
            effect_sizes.PASSIVE_MARGIN * engaged, effect_sizes.PASSIVE_MARGIN * samples[:, 1]
        ),
    }
    for b in range(3):
        for m, mode in enumerate(("engaged", "passive")):
            change = rep[:, -1, m, b] - rep[:, 0, m, b]
            expected[f"change_redundancy_bin{b + 1}_{mode}"] = _centred(
                point[-1, m, b] - point[0, m, b], change
            )
    for name, want in expected.items():
        np.testing.assert_allclose(found[name], want, atol=TOL, err_msg=name)
    assert "change_redundancy_bin4_engaged" not in found  # 3 bins, 3 time-course effects
    # The first-window contrast (a prediction) is the first bin's alone.
    first = point[-1, 0, 0] - point[0, 0, 0] - (point[-1, 1, 0] - point[0, 1, 0])
    assert found["interaction_redundancy"][0] == pytest.approx(first, abs=1e-12)


def _bootstrap_means(rng, mean: float, sd: float, n: int) -> tuple[float, np.ndarray]:
    """A planted sample of ``n`` values: its mean and ``RESAMPLES`` bootstrap means."""
    x = rng.normal(mean, sd, n)
    idx = rng.integers(0, n, (RESAMPLES, n))
    return float(x.mean()), x[idx].mean(axis=1)


def _plant_passive(ds: xr.Dataset, change: float, n: int, seed: int) -> xr.Dataset:
    """Engaged bins rise by 0.4 each (tight: margin 0.1 at PASSIVE_MARGIN 0.25); the passive
    presentation's change is the mean of ``n`` planted values around ``change`` (sd 1), its
    resamples the bootstrap means of that sample."""
    rng = np.random.default_rng(seed)
    point = np.full((3, 2, 3), 0.2)
    point[-1, 0] += 0.4
    rep = np.repeat(point[None], RESAMPLES, 0) + rng.normal(0, 1e-3, (RESAMPLES, 3, 2, 3))
    value, means = _bootstrap_means(rng, change, 1.0, n)
    point[-1, 1, 0] += value
    rep[:, -1, 1, 0] = rep[:, 0, 1, 0] + means
    ds = ds.copy()
    ds["redundancy_by_time"] = (("session", "mode", "time"), point)
    ds["redundancy_by_time_resampled"] = (("resample", "session", "mode", "time"), rep)
    return ds


def _plant_information(ds: xr.Dataset, change: float, n: int, seed: int) -> xr.Dataset:
    """Engaged I: naive 1.0 exactly (margin 0.25 at INFORMATION_MARGIN 0.25), the last
    session's change the mean of ``n`` planted values around ``change`` (sd 1)."""
    rng = np.random.default_rng(seed)
    point = np.asarray(ds.information).copy()
    rep = np.asarray(ds.information_resampled.transpose("resample", "session", "mode")).copy()
    point[:, 0] = 1.0
    rep[:, :, 0] = 1.0
    value, means = _bootstrap_means(rng, change, 1.0, n)
    point[-1, 0] += value
    rep[:, -1, 0] += means
    ds = ds.copy()
    ds["information"] = (("session", "mode"), point)
    ds["information_resampled"] = (("resample", "session", "mode"), rep)
    return ds


PASSIVE = next(c.text for c in acceptance.CRITERIA if c.text.startswith("passive presentation"))
INFORMATION = next(
    c.text for c in acceptance.CRITERIA if c.text.startswith("population information")
)


def _evaluate(ds: xr.Dataset) -> tuple[dict, dict]:
    """The effects of ``ds`` and every criterion's verdict on them (one evaluation)."""
    found = _effects(ds)
    values = np.array(list(found.values()))
    table = xr.Dataset(
        {k: ("effect", values[:, i]) for i, k in
         enumerate(("effect_value", "effect_low", "effect_high"))},
        coords={"effect": list(found)},
    )  # fmt: skip
    return found, dict(acceptance.criteria(table))


@pytest.mark.parametrize(
    "change, n, expected",
    [
        (0.0, 10, criteria.INCONCLUSIVE),  # small-sample null: CI about +-0.6, margin 0.1
        (0.0, 40_000, True),  # large-sample null: CI about +-0.01, inside +-0.1
        (0.4, 40_000, False),  # planted effect as large as the engaged change
        (-0.4, 40_000, False),  # and of the other sign
    ],
)
def test_passive_null_is_an_equivalence_test(change, n, expected):
    found, verdicts = _evaluate(_plant_passive(_three_bins(), change, n, seed=7))
    margin = found["equivalence_passive_margin"]
    assert margin[0] == pytest.approx(0.1, abs=1e-3)  # 0.25 x the engaged 0.4
    assert verdicts[PASSIVE] is expected


@pytest.mark.parametrize(
    "change, n, expected",
    [
        (0.0, 10, criteria.INCONCLUSIVE),  # small-sample null: CI about +-0.6, margin 0.25
        (0.0, 40_000, True),  # large-sample null
        (0.5, 40_000, True),  # a rise is not lower
        (-0.6, 40_000, False),  # a planted fall larger than the margin
    ],
)
def test_information_not_lower_is_a_non_inferiority_test(change, n, expected):
    found, verdicts = _evaluate(_plant_information(_three_bins(), change, n, seed=8))
    margin = found["noninferiority_information_margin"]
    assert margin[0] == pytest.approx(0.25, abs=1e-12)
    assert verdicts[INFORMATION] is expected


def test_the_old_null_passed_where_the_equivalence_test_is_inconclusive():
    # The small-sample null: "CI includes 0" (the old criterion) passes on it.
    found, verdicts = _evaluate(_plant_passive(_three_bins(), 0.0, 10, seed=7))
    _, low, high = found["change_redundancy_window_passive"]
    assert low <= 0 <= high
    assert verdicts[PASSIVE] is criteria.INCONCLUSIVE


def test_equivalence_verdicts_and_power():
    assert effect_sizes.equivalent((0.3, 0.1, 0.5), (-0.3, -0.5, -0.1)) is True
    assert effect_sizes.equivalent((0.3, -0.1, 0.7), (-0.3, -0.7, 0.1)) is criteria.INCONCLUSIVE
    assert effect_sizes.equivalent((-0.2, -0.3, -0.1), (-0.6, -0.7, -0.5)) is False
    assert effect_sizes.equivalent((0.6, 0.5, 0.7), (0.2, 0.1, 0.3)) is False
    assert effect_sizes.non_inferior((0.1, 0.05, 0.15)) is True
    assert effect_sizes.non_inferior((0.1, -0.05, 0.25)) is criteria.INCONCLUSIVE
    assert effect_sizes.non_inferior((-0.1, -0.15, -0.05)) is False
    # Power: se = 0.05 (half-width 1.96 se); margin 2 x 1.96 se: Phi(1.96) = 0.975.
    se = 0.05
    half = effect_sizes.Z95 * se
    assert effect_sizes.equivalence_power(2 * half, -half, half, sides=1) == pytest.approx(
        0.975, 1e-3
    )
    assert effect_sizes.equivalence_power(2 * half, -half, half) == pytest.approx(0.95, 1e-3)
    assert effect_sizes.equivalence_power(half, -half, half) == pytest.approx(0.0, abs=1e-9)
    assert effect_sizes.equivalence_power(0.0, -half, half) == 0.0
    widths = [effect_sizes.equivalence_power(0.1, -w, w) for w in (0.2, 0.1, 0.05, 0.02)]
    assert widths == sorted(widths) and widths[-1] > 0.99  # narrower CI, more power


def test_inconclusive_is_never_a_pass():
    assert not criteria.INCONCLUSIVE
    assert criteria.verdict_label(criteria.INCONCLUSIVE) == "INCONCLUSIVE"
    ds = xr.Dataset(
        {"effect_value": ("effect", [0.0]), "effect_low": ("effect", [-1.0]),
         "effect_high": ("effect", [1.0])},
        coords={"effect": ["x"]},
    )  # fmt: skip
    (result,) = criteria.evaluate_criteria(
        ds, [criteria.Criterion("x unresolved", ("x",), effect_sizes.non_inferior)]
    )
    assert result == ("x unresolved", criteria.INCONCLUSIVE)


def test_summary_prints_claims_sanity_checks_and_predictions_apart():
    ds = _with_effects(_plant_passive(_three_bins(), 0.0, 10, seed=7))
    ds.attrs.update(
        simulation_seconds=10.0, simulation_compile_seconds=1.0, analysis_seconds=0.5,
        trials_simulated=1000,
    )  # fmt: skip
    text = report.summary_text(RedundancyConfig(), ds)
    claims = text.index("Acceptance criteria (the paper's claims):")
    sanity = text.index("Sanity checks (hold by construction")
    assert claims < sanity
    between, after = text[claims:sanity], text[sanity:]
    for c in acceptance.CRITERIA:
        assert c.text in between and c.text not in after
    for c in acceptance.SANITY_CHECKS:
        assert c.text in after and c.text not in between
    assert f"[INCONCLUSIVE] {PASSIVE}" in between
    assert "prediction (reported, not judged)" in text
    assert "contrast, engaged bins minus the passive presentation" in text
    assert "power of the two one-sided tests" in text
    assert "engaged trial, by bin: " in text
    line = next(x for x in text.splitlines() if "engaged trial, by bin:" in x)
    assert line.count("[") == 3  # one value [CI] per bin


def test_every_criterion_and_sanity_check_reads_effects_the_report_computes():
    ds = _three_bins()
    # A fourth session: the learning-index correlation needs 3 learning sessions.
    more = ds.isel(session=[-1]).assign_coords(session=[int(ds.session[-1]) + 1])
    longer = xr.concat([ds, more], "session", data_vars="minimal", coords="minimal")
    found = set(_effects(ds)) | set(_effects(longer))
    assert "correlation_redundancy_learning_index_engaged" in found - set(_effects(ds))
    for c in acceptance.CRITERIA + acceptance.SANITY_CHECKS:
        assert c.uses and set(c.uses) <= found, (c.text, set(c.uses) - found)
    for name, _ in acceptance.PREDICTIONS:
        assert name in found


def test_the_default_layout_has_three_400_ms_bins():
    from bayescortex.experiments.protocol import record_settings
    from bayescortex.inference.trial import trial_schedule
    from bayescortex.models import Stimulus

    config = RedundancyConfig()
    static, hyper = config.split()
    sched = trial_schedule(record_settings(static.protocol, hyper), Stimulus())
    per_bin = np.bincount(sched.state_bins[sched.state_bins >= 0])
    assert per_bin.tolist() == [32, 32, 32]  # 400 ms each at 80 samples/s
    assert (config.samples - config.burn_in) // config.bins == 32


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(bins=1), "bins: at least 2"),
        (dict(bins=5), r"bins: must divide the read-out samples \(samples - burn_in = 96\)"),
        (dict(bins=3, samples=100), "bin counts that divide 97: 97"),
    ],
)
def test_bins_must_divide_the_read_out_samples(fields, match):
    with pytest.raises(ValueError, match=match):
        RedundancyConfig(**fields)


@pytest.mark.parametrize("bins", [2, 3, 4, 6, 8, 12, 16, 32])
def test_any_divisor_of_the_read_out_samples_is_allowed(bins):
    assert RedundancyConfig(bins=bins).bins == bins
    check_bins(bins, 96)


def test_the_effects_of_stacked_configurations_equal_each_ones_own():
    """What a sweep computes: the effects of runs stacked along ``config`` in one pass equal
    each run's own (values and intervals; the peak session chosen per configuration)."""
    runs = [fabricate(controls=True, seed=s).drop_dims("effect") for s in range(3)]
    peaks = {int(r.information.sel(mode="engaged").argmax("session")) for r in runs}
    assert len(peaks) > 1  # the last-minus-peak effects pick different sessions
    together = effect_sizes.effects(xr.concat(runs, dim="config"))
    for i, run in enumerate(runs):
        alone = effect_sizes.effects(run)
        assert list(together) == list(alone)
        for name, interval in alone.items():
            got = np.asarray(together[name], float)[:, i]
            np.testing.assert_allclose(got, interval, rtol=1e-5, atol=1e-6, err_msg=name)
