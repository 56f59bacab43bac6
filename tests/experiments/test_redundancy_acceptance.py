"""The issues' acceptance criteria, on the experiment's default configuration (slow).

One run of ``bayescortex run redundancy`` at its defaults (3 seeds, 4 sessions, 64 neurons,
96 trials per signed contrast, 192 zero-signal trials, the fixation cue for passive blocks, the
conditional objective; seed 0), about 5 min on 2 CPU cores, and one run with 3x the sessions
for the overshoot criterion.
Every criterion is a statement about a bootstrap 95% confidence interval (over seeds and
trials, with fresh neuron subsets per resample) of a change from the naive session 0 to the
last session; the tolerance of each test is that interval. The thresholds are the issue's and
were not tuned: a criterion that fails at the defaults stays a failing (strict ``xfail``) test
with the reason, so that it is reported, and so that a change that makes it pass is noticed.
"""

import numpy as np
import pytest

from bayescortex.experiments import redundancy

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


def test_passive_redundancy_does_not_change(effects):
    """The passive presentation (fixation cue, first window): an outcome of the model."""
    value, low, high = effects("change_redundancy_window_passive")
    assert low <= 0 <= high, (value, low, high)


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
    reason="measured under the authors' trial schedule (the default since it was adopted): "
    "+0.004 [-0.002, 0.012]; the first window now holds mostly the memoryless samples, where "
    "the belief does not accumulate, so engaged redundancy barely rises there (+0.004) and "
    "the interaction has no room (it was +0.018 [0.006, 0.027] under the presignal layout)",
)
def test_engaged_minus_passive_interaction_is_positive(effects):
    value, low, high = effects("interaction_redundancy")
    assert low > 0, (value, low, high)


def test_redundancy_rises_within_the_trial_only_after_learning(effects):
    late = effects("within_trial_slope_late_engaged")
    early = effects("within_trial_slope_early_engaged")
    assert late[1] > 0, late
    assert not early[1] > 0, early


def test_population_information_is_not_reduced(effects):
    value, low, high = effects("change_information_engaged")
    assert high >= 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured: accuracy peaks after session 1 (0.92) and falls to 0.89 by session 4; "
    "the learned kernel keeps growing, and with it the self-confirming loop between the sampled "
    "category and the middle layer; reported in summary.txt and the README, not tuned away",
)
def test_accuracy_does_not_fall_below_its_peak(effects):
    value, low, high = effects("last_minus_peak_accuracy_engaged")
    assert high >= 0, (value, low, high)


@pytest.mark.xfail(
    strict=True,
    reason="measured: with 3x the default sessions, conditional learning overshoots too "
    "(engaged accuracy 0.92 after session 1, 0.83 after session 8); see the README",
)
def test_no_overshoot_with_three_times_the_sessions():
    config = redundancy.RedundancyConfig(sessions=12, controls=False, bootstrap=50, subsets=50)
    ds = redundancy.with_effects(redundancy.run(config, progress=False))
    row = ds.sel(effect="last_minus_peak_accuracy_engaged")
    assert float(row.effect_high) >= 0, float(row.effect_value)


def test_neurons_relevant_by_passive_dprime_rise_more(effects):
    value, low, high = effects("change_dprime_top_minus_bottom_engaged")
    assert low > 0, (value, low, high)


def test_relevant_minus_irrelevant_rise_is_largest_at_decision_time(effects):
    value, low, high = effects("decision_minus_onset_relevant_minus_irrelevant_engaged")
    assert low > 0, (value, low, high)


def test_redundancy_correlates_with_the_learning_index(effects):
    value, low, high = effects("correlation_redundancy_learning_index_engaged")
    assert low > 0, (value, low, high)


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
    assert abs(value) <= redundancy.report.FROZEN_BAND, (value, low, high)


def test_efficient_coding_baselines_redundancy_does_not_rise(effects):
    value, low, high = effects("network_efficient_fresh_redundancy")
    assert not low > 0, (value, low, high)


def test_summary_reports_every_criterion(effects):
    results = redundancy.criteria(effects.ds)
    assert len(results) == len(redundancy.report.CRITERIA)
    assert all(ok is not None for _, ok in results)
    assert np.isfinite(effects.ds.effect_value.values).all()
