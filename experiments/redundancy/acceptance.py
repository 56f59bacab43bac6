"""The redundancy experiment's acceptance criteria, sanity checks and predictions.

The criteria are the paper's claims (:data:`CRITERIA`): most ask for an interval above 0; the
passive null and "population information not lower" are equivalence and non-inferiority
tests against stated margins (:data:`~.effect_sizes.PASSIVE_MARGIN`,
:data:`~.effect_sizes.INFORMATION_MARGIN`) and may answer INCONCLUSIVE. Checks that hold by
construction (:data:`SANITY_CHECKS`) and the model's predictions (:data:`PREDICTIONS`) are
printed apart. Each reads the effects of :mod:`.effect_sizes` by name.
"""

from __future__ import annotations

import xarray as xr

from ..criteria import Criterion, above_zero, evaluate_criteria
from .effect_sizes import (
    INFORMATION_MARGIN,
    MIN_LEARNING_SESSIONS,
    PASSIVE_MARGIN,
    equivalent,
    non_inferior,
)

FROZEN_BAND = 25.0
"""Percent redundancy within which a feedforward code's frozen-noise redundancy counts as
"near zero": its covariance then holds only private noise and the learned internal noise."""


CRITERIA = (
    above_zero("engaged redundancy rises with learning (CI > 0)", "change_redundancy_engaged"),
    above_zero(
        "engaged single-neuron (shuffled) information rises (CI > 0)",
        "change_information_shuffled_engaged",
    ),
    above_zero(
        "engagement: mean change of I_red over the engaged time bins (400 ms by default) minus "
        "the passive presentation's change (one bin long), positive (CI > 0)",
        "engagement_contrast_redundancy",
    ),
    Criterion(
        f"passive presentation: redundancy unchanged, equivalent to 0 within +-"
        f"{PASSIVE_MARGIN:g} x the engaged bins' mean change (two one-sided tests, 95% CIs)",
        # The change and its margin come first, so the report shows them too.
        ("change_redundancy_window_passive", "equivalence_passive_margin",
         "equivalence_passive_lower", "equivalence_passive_upper"),
        lambda _change, _margin, lower, upper: equivalent(lower, upper),
    ),
    above_zero(
        "late in learning, engaged redundancy rises within the trial (slope CI > 0)",
        "within_trial_slope_late_engaged",
    ),
    Criterion(
        f"population information not lower after learning: change of I above -"
        f"{INFORMATION_MARGIN:g} x the naive I (one-sided non-inferiority test, 95% CI)",
        ("change_information_engaged", "noninferiority_information_margin",
         "noninferiority_information"),
        lambda _change, _margin, test: non_inferior(test),
    ),
    Criterion(
        "engaged accuracy after learning at least 0.8 (signal trials, seed mean)",
        ("final_accuracy_engaged",), lambda e: e[0] >= 0.8,
    ),
    Criterion(
        "no overshoot: last session's accuracy not significantly below its peak",
        ("last_minus_peak_accuracy_engaged",), lambda e: not e[2] < 0,
    ),
    Criterion(
        "no overshoot: last session's population information not significantly below its peak",
        ("last_minus_peak_information_engaged",), lambda e: not e[2] < 0,
    ),
    above_zero(
        "task-relevant neurons by passive d' (ranked on a held-out block) rise more than the "
        "least relevant (CI > 0)",
        "change_dprime_top_minus_bottom_engaged",
    ),
    above_zero(
        "relevant-minus-irrelevant rise larger at decision time than at onset (CI > 0)",
        "decision_minus_onset_relevant_minus_irrelevant_engaged",
    ),
    above_zero(
        "engaged redundancy correlates with the learning index over sessions 1..S (naive "
        f"session excluded; n/a with fewer than {MIN_LEARNING_SESSIONS} learning sessions) "
        "(CI > 0)",
        "correlation_redundancy_learning_index_engaged",
    ),
    above_zero(
        "sampling model: frozen-noise (internally generated) redundancy rises (CI > 0)",
        "control_frozen_engaged_redundancy",
    ),
    Criterion(
        f"discriminative baseline (lambda_TC = 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        ("network_discriminative_frozen_percent_redundancy_last",),
        lambda e: abs(e[0]) <= FROZEN_BAND,
    ),
    Criterion(
        f"efficient-coding baseline (lambda_TC > 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        ("network_efficient_frozen_percent_redundancy_last",),
        lambda e: abs(e[0]) <= FROZEN_BAND,
    ),
)  # fmt: skip
"""The paper's claims as acceptance criteria (:class:`~bayescortex.experiments.criteria.Criterion`:
text, the effects used, a check returning True, False or
:data:`~bayescortex.experiments.criteria.INCONCLUSIVE` for the equivalence tests)."""

SANITY_CHECKS = (
    Criterion(
        "before learning, no within-trial rise (slope CI not above 0): the naive kernel is 0, "
        "so the belief cannot reach the neurons",
        ("within_trial_slope_early_engaged",), lambda e: not e[1] > 0,
    ),
    Criterion(
        "efficient-coding baseline: redundancy does not rise with training (CI lower end <= 0): "
        "its loss penalises total correlation",
        ("network_efficient_fresh_redundancy",), lambda e: not e[1] > 0,
    ),
)  # fmt: skip
"""Checks that hold by construction of the model or the baselines: they check the machinery,
not the paper's claims, and are printed apart from :data:`CRITERIA`."""

PREDICTIONS = (
    (
        "interaction_redundancy",
        "engaged-minus-passive change of I_red in the first bin alone: under the authors' "
        "schedule (trial_layout reference) the bin holds the samples whose belief restarts "
        "from the prior (the first `presignal`), so the model predicts a contrast near 0 "
        "there, well below the contrast over the bins",
    ),
)
"""The model's falsifiable predictions under the authors' schedule, reported beside the
criteria (value and 95% CI), not judged: ``(effect, statement)``."""


def criteria(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each acceptance criterion (:data:`CRITERIA`, the paper's claims) and whether it holds
    (True, False or INCONCLUSIVE): None where its data were not run, and False (never a pass)
    where an effect or its interval is not finite."""
    return evaluate_criteria(ds, CRITERIA)


def sanity_checks(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each of :data:`SANITY_CHECKS` and whether it holds, as :func:`criteria`."""
    return evaluate_criteria(ds, SANITY_CHECKS)
