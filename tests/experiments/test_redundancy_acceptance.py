"""The issues' acceptance criteria, on the experiment's default configuration (slow).

One run of ``bayescortex run redundancy`` at its defaults (3 seeds, 4 sessions, 64 neurons,
96 trials per signed contrast, 192 zero-signal trials, the fixation cue for passive blocks, the
reward objective, the choice a sample from the belief, 3 within-trial bins of 400 ms; seed
0), about 4 min on 2 CPU cores,
and one run with 3x the sessions for the overshoot criterion. The passive null and
"population information not lower" are equivalence and non-inferiority tests (issue 31); the
sanity checks (true by construction) are tested here too, named as such.
Every criterion is a statement about a bootstrap 95% confidence interval (over seeds and
trials, with fresh neuron subsets per resample) of a change from the naive session 0 to the
last session; the tolerance of each test is that interval. The thresholds are the issue's and
were not tuned: a criterion that fails at the defaults stays a failing (strict ``xfail``) test
with the reason, so that it is reported, and so that a change that makes it pass is noticed.
"""

import numpy as np
import pytest

from bayescortex.experiments import redundancy
from bayescortex.experiments.redundancy.learning_curve import late_gain, learning_curve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def effects():
    ds = redundancy.run(redundancy.RedundancyConfig(), progress=False)  # defaults, seed 0
    ds = redundancy.with_effects(ds)

    def e(name):
        row = ds.sel(effect=name)
        return float(row.effect_value), float(row.effect_low), float(row.effect_high)

    e.ds = ds
    return e


def test_engaged_redundancy_rises(effects):
    value, low, high = effects("change_redundancy_engaged")
    assert low > 0, (value, low, high)


def test_engaged_single_neuron_information_rises(effects):
    value, low, high = effects("change_information_shuffled_engaged")
    assert low > 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults (a sampled choice): INCONCLUSIVE, the run cannot resolve "
    "the null: passive change -0.003 [-0.023, +0.020] against a margin of +-0.003 (0.25 x the "
    "engaged bins' +0.014); power at this size 0.00",
)
def test_passive_presentation_is_equivalent_to_no_change(effects):
    """The passive presentation (fixation cue, first 400-ms bin): an outcome of the model,
    tested for equivalence to 0 within the stated margin (two one-sided tests)."""
    verdict = redundancy.effect_sizes.equivalent(
        effects("equivalence_passive_lower"), effects("equivalence_passive_upper")
    )
    shown = effects("change_redundancy_window_passive"), effects("equivalence_passive_margin")
    assert verdict is True, (verdict, shown)


def test_passive_block_is_not_the_naive_model(effects):
    """Under the fixation cue the learned task structure reaches the passive responses (they
    differ from session 0's), unlike the authors' cut, where they cannot."""
    ds = effects.ds
    last = int(ds.session[-1])
    passive = ds.sel(mode="passive")
    assert float(passive.accuracy.sel(session=last)) > 0.6  # the learned kernel acts
    assert not np.allclose(
        passive.redundancy_per_seed.sel(session=last), passive.redundancy_per_seed.sel(session=0)
    )


def test_engaged_accuracy_reaches_0_8(effects):
    value, low, high = effects("final_accuracy_engaged")
    assert value >= 0.8, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults: engaged bins minus the passive presentation +0.017 "
    "[-0.007, +0.034] (the engaged first bin does not change either: +0.002)",
)
def test_engagement_contrast_is_positive(effects):
    """The authors' contrast: the engaged change averaged over the 400-ms bins minus the
    passive presentation's change."""
    value, low, high = effects("engagement_contrast_redundancy")
    assert low > 0, (value, low, high)


def test_first_bin_prediction_and_time_course_are_reported(effects):
    """The first-bin contrast is a prediction (reported, not judged); the engaged time
    course has one change per 400-ms bin."""
    assert np.isfinite(effects("interaction_redundancy")).all()
    assert effects.ds.sizes["time"] == 3
    for b in (1, 2, 3):
        assert np.isfinite(effects(f"change_redundancy_bin{b}_engaged")).all()


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults: late within-trial slope +0.010 [-0.005, +0.025]",
)
def test_redundancy_rises_within_the_trial_after_learning(effects):
    late = effects("within_trial_slope_late_engaged")
    assert late[1] > 0, late


def test_sanity_no_within_trial_rise_before_learning(effects):
    """A sanity check (by construction: the naive kernel is 0)."""
    early = effects("within_trial_slope_early_engaged")
    assert not early[1] > 0, early


def test_population_information_is_not_lower(effects):
    """Non-inferiority: the change of I lies above -0.25 x the naive I (95% interval)."""
    verdict = redundancy.effect_sizes.non_inferior(effects("noninferiority_information"))
    shown = effects("change_information_engaged"), effects("noninferiority_information_margin")
    assert verdict is True, (verdict, shown)


def test_accuracy_does_not_fall_below_its_peak(effects):
    value, low, high = effects("last_minus_peak_accuracy_engaged")
    assert high >= 0, (value, low, high)


@pytest.fixture(scope="module")
def three_times_the_sessions():
    config = redundancy.RedundancyConfig(sessions=12, controls=False, bootstrap=50, subsets=50)
    return redundancy.with_effects(redundancy.run(config, progress=False))


def test_no_overshoot_of_accuracy_with_three_times_the_sessions(three_times_the_sessions):
    row = three_times_the_sessions.sel(effect="last_minus_peak_accuracy_engaged")
    assert float(row.effect_high) >= 0, float(row.effect_value)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults with 12 sessions: engaged I last minus peak -0.111 "
    "[-0.180, -0.038] (0.273 at session 2, 0.162 at 12) while the task cue's prior climbs to "
    "0.89 after the kernel has stopped: at the plateau a sharper task prior still raises "
    "behaving accuracy (+0.013 +- 0.003 per unit of logit, benchmarks/probe_reward_gradient.py), "
    "so reward learning keeps sharpening it and the information falls (docs/results.md)",
)
def test_no_overshoot_of_information_with_three_times_the_sessions(three_times_the_sessions):
    row = three_times_the_sessions.sel(effect="last_minus_peak_information_engaged")
    assert float(row.effect_high) >= 0, float(row.effect_value)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults: top minus bottom d' group (held-out selection) "
    "+0.073 [-0.001, +0.157]",
)
def test_neurons_relevant_by_passive_dprime_rise_more(effects):
    value, low, high = effects("change_dprime_top_minus_bottom_engaged")
    assert low > 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults: decision minus onset +0.022 [-0.006, +0.050]",
)
def test_relevant_minus_irrelevant_rise_is_largest_at_decision_time(effects):
    value, low, high = effects("decision_minus_onset_relevant_minus_irrelevant_engaged")
    assert low > 0, (value, low, high)


def test_redundancy_correlates_with_the_learning_index(effects):
    value, low, high = effects("correlation_redundancy_learning_index_engaged")
    assert low > 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults: frozen-noise engaged I_red change +0.045 [-0.004, +0.098]",
)
def test_sampling_models_frozen_noise_redundancy_rises(effects):
    """Frozen noise (one image per level): the redundancy left is generated inside the model,
    and learning raises it (the separating signature of the sampling hypothesis)."""
    value, low, high = effects("control_frozen_engaged_redundancy")
    assert low > 0, (value, low, high)


@pytest.mark.parametrize("baseline", ["discriminative", "efficient"])
def test_feedforward_baselines_frozen_noise_redundancy_is_near_zero(effects, baseline):
    """A feedforward code's redundancy is inherited from the input noise: with frozen noise
    its percent redundancy after training lies within the stated band of 0."""
    value, low, high = effects(f"network_{baseline}_frozen_percent_redundancy_last")
    assert abs(value) <= redundancy.acceptance.FROZEN_BAND, (value, low, high)


def test_sanity_efficient_coding_baselines_redundancy_does_not_rise(effects):
    """A sanity check (by construction: the loss penalises total correlation)."""
    value, low, high = effects("network_efficient_fresh_redundancy")
    assert not low > 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured at the defaults (a sampled choice): the hardest contrast's accuracy (+-3) "
    "is 0.545 after session 1 and 0.585 after session 4, last minus session 1 +0.040 [-0.017, "
    "+0.097]; learning is a curve at +-6 to +-12 (threshold 14.8 -> 4.6, "
    "test_learning_is_a_curve), the hardest contrast stays near chance (docs/results.md)",
)
def test_hardest_contrast_accuracy_still_rises_after_the_first_session(effects):
    """Learning as a curve: accuracy at the hardest contrast rises from session 1 to the last
    (4 sessions at the defaults; 95% interval from the binomial SEs)."""
    value, low, high = late_gain(learning_curve(effects.ds, trials_per_contrast=96))
    assert low > 0, (value, low, high)


def test_learning_is_a_curve(effects):
    """Learning as a curve, not a step: the engaged accuracy over the signal trials rises in
    every session 1..4 of the defaults, each step above 0 by 1.96 binomial SEs of the difference
    (3 seeds x 8 signed contrasts x 96 trials a session). Under the deterministic choice
    (``choice_temperature=0``) it fails: accuracy jumps to its plateau in session 1."""
    acc = learning_curve(effects.ds, trials_per_contrast=96).accuracy.values
    se = np.sqrt(acc * (1 - acc) / (3 * 8 * 96))
    steps, step_se = np.diff(acc), np.hypot(se[1:], se[:-1])
    assert acc.size == 5 and np.all(steps - 1.96 * step_se > 0), (acc, steps, step_se)


def test_summary_reports_every_criterion(effects):
    results = redundancy.criteria(effects.ds)
    checks = redundancy.acceptance.sanity_checks(effects.ds)
    assert len(results) == len(redundancy.acceptance.CRITERIA)
    assert len(checks) == len(redundancy.acceptance.SANITY_CHECKS)
    assert all(ok is not None for _, ok in results + checks)
    assert np.isfinite(effects.ds.effect_value.values).all()
