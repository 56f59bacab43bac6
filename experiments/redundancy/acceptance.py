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

from ..criteria import evaluate_criteria
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


def _passive_equivalence(e):
    # The change and its margin are read first, so the summary figure shows them too.
    e("change_redundancy_window_passive"), e("equivalence_passive_margin")
    return equivalent(e("equivalence_passive_lower"), e("equivalence_passive_upper"))


def _information_non_inferiority(e):
    e("change_information_engaged"), e("noninferiority_information_margin")
    return non_inferior(e("noninferiority_information"))


CRITERIA = (
    (
        "engaged redundancy rises with learning (CI > 0)",
        lambda e: e("change_redundancy_engaged")[1] > 0,
    ),
    (
        "engaged single-neuron (shuffled) information rises (CI > 0)",
        lambda e: e("change_information_shuffled_engaged")[1] > 0,
    ),
    (
        "engagement: mean change of I_red over the engaged time bins (400 ms by default) minus "
        "the passive presentation's change (one bin long), positive (CI > 0)",
        lambda e: e("engagement_contrast_redundancy")[1] > 0,
    ),
    (
        f"passive presentation: redundancy unchanged, equivalent to 0 within +-"
        f"{PASSIVE_MARGIN:g} x the engaged bins' mean change (two one-sided tests, 95% CIs)",
        lambda e: _passive_equivalence(e),
    ),
    (
        "late in learning, engaged redundancy rises within the trial (slope CI > 0)",
        lambda e: e("within_trial_slope_late_engaged")[1] > 0,
    ),
    (
        f"population information not lower after learning: change of I above -"
        f"{INFORMATION_MARGIN:g} x the naive I (one-sided non-inferiority test, 95% CI)",
        lambda e: _information_non_inferiority(e),
    ),
    (
        "engaged accuracy after learning at least 0.8 (signal trials, seed mean)",
        lambda e: e("final_accuracy_engaged")[0] >= 0.8,
    ),
    (
        "no overshoot: last session's accuracy not significantly below its peak",
        lambda e: not e("last_minus_peak_accuracy_engaged")[2] < 0,
    ),
    (
        "no overshoot: last session's population information not significantly below its peak",
        lambda e: not e("last_minus_peak_information_engaged")[2] < 0,
    ),
    (
        "task-relevant neurons by passive d' (ranked on a held-out block) rise more than the "
        "least relevant (CI > 0)",
        lambda e: e("change_dprime_top_minus_bottom_engaged")[1] > 0,
    ),
    (
        "relevant-minus-irrelevant rise larger at decision time than at onset (CI > 0)",
        lambda e: e("decision_minus_onset_relevant_minus_irrelevant_engaged")[1] > 0,
    ),
    (
        "engaged redundancy correlates with the learning index over sessions 1..S (naive "
        f"session excluded; n/a with fewer than {MIN_LEARNING_SESSIONS} learning sessions) "
        "(CI > 0)",
        lambda e: e("correlation_redundancy_learning_index_engaged")[1] > 0,
    ),
    (
        "sampling model: frozen-noise (internally generated) redundancy rises (CI > 0)",
        lambda e: e("control_frozen_engaged_redundancy")[1] > 0,
    ),
    (
        f"discriminative baseline (lambda_TC = 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        lambda e: abs(e("network_discriminative_frozen_percent_redundancy_last")[0]) <= FROZEN_BAND,
    ),
    (
        f"efficient-coding baseline (lambda_TC > 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        lambda e: abs(e("network_efficient_frozen_percent_redundancy_last")[0]) <= FROZEN_BAND,
    ),
)
"""The paper's claims as acceptance criteria, ``(text, check)``: ``check(e)`` reads effects
as ``e(name) -> (value, low, high)`` and returns True, False or
:data:`~bayescortex.experiments.criteria.INCONCLUSIVE` (the equivalence tests)."""

SANITY_CHECKS = (
    (
        "before learning, no within-trial rise (slope CI not above 0): the naive kernel is 0, "
        "so the belief cannot reach the neurons",
        lambda e: not e("within_trial_slope_early_engaged")[1] > 0,
    ),
    (
        "efficient-coding baseline: redundancy does not rise with training (CI lower end <= 0): "
        "its loss penalises total correlation",
        lambda e: not e("network_efficient_fresh_redundancy")[1] > 0,
    ),
)
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
