"""The BCI experiment's acceptance criteria: each stated for a subject rule, each with the null
rules it must fail on, polarity fixed in advance, intervals (95% bootstrap over seeds) rather
than point estimates."""

from __future__ import annotations

from typing import NamedTuple

import xarray as xr

from bayescortex.analysis.bci import POLARITY

from ..criteria import Criterion, Interval, above_zero, below_zero, evaluate_criteria
from .run import LEARNED_MARGIN

COMPARED_WITH = ("random_feedback", "shuffled")
"""Nulls every rule's decoder-projection change is compared with (paired over seeds)."""


def _opposite(plus: Interval, minus: Interval) -> bool:
    """The two groups' intervals lie on opposite sides of 0 (either polarity: used only to
    report whether a null fakes a group-opposite pattern)."""
    return (plus[1] > 0 and minus[2] < 0) or (plus[2] < 0 and minus[1] > 0)


def _polarity(plus: Interval, minus: Interval, sign_plus: int) -> bool:
    """The P+ interval lies strictly on the side ``sign_plus`` of 0 and the P- interval on the
    other side: the polarity is fixed, not either."""
    if sign_plus > 0:
        return plus[1] > 0 and minus[2] < 0
    return plus[2] < 0 and minus[1] > 0


_LEARNS = ("projection_change_{v}", "learned_fraction_{v}")
"""The effects of "learns" (criterion (a)), in the order :func:`_learns` takes them."""


def _learns(projection: Interval, learned_fraction: Interval) -> bool:
    return projection[1] > 0 and learned_fraction[0] >= 0.75


def _learns_and_beats(projection: Interval, learned_fraction: Interval, advantage: Interval):
    """ "Learns" (:func:`_learns`), and the paired advantage over a null lies above 0."""
    return _learns(projection, learned_fraction) and advantage[1] > 0


class Claim(NamedTuple):
    """An acceptance criterion stated for a rule: ``criterion``'s effect names hold ``{v}``,
    the rule; ``subject`` the rule it is stated for; ``excludes`` the null rules on which it
    must fail (evaluated with ``v`` set to each: a criterion that a null also meets does not
    discriminate)."""

    criterion: Criterion
    subject: str
    excludes: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.criterion.text

    def on(self, rule: str) -> Criterion:
        """The criterion on the effects of ``rule``."""
        return self.criterion.on(v=rule)


RULES = (
    Claim(
        Criterion(
            "(a) learns: decoder-projection change (P+ minus P- rate, last session minus "
            f"baseline) 95% CI > 0 and hit rate >= baseline + {LEARNED_MARGIN:g} in >= 75% of "
            "seeds",
            _LEARNS, _learns,
        ),
        "vectorized", ("blocked", "shuffled"),
    ),
    Claim(
        Criterion(
            "(c) apical block abolishes learning: hit-rate change < 0.1, <= 25% of seeds "
            "learned, decoder-projection change 95% CI reaches 0 or below",
            ("hit_rate_change_{v}", "learned_fraction_{v}", "projection_change_{v}"),
            lambda hit, learned, projection: (
                hit[0] < 0.1 and learned[0] <= 0.25 and projection[1] <= 0
            ),
        ),
        "blocked", ("vectorized", "soma_dimmed"),
    ),
    Claim(
        Criterion(
            "(a) residual-error coupling, polarity fixed: mean sign P+ > 0, P- < 0 (95% CIs)",
            ("residual_sign_plus_{v}", "residual_sign_minus_{v}"),
            lambda plus, minus: _polarity(plus, minus, POLARITY["coupling"][0]),
        ),
        "vectorized", ("blocked", "scalar_perturbation", "shuffled"),
    ),
    Claim(
        Criterion(
            "(a) error-decrease minus error-increase contrast, polarity fixed: P+ < 0, P- > 0 "
            "(95% CIs)",
            ("contrast_plus_{v}", "contrast_minus_{v}"),
            lambda plus, minus: _polarity(plus, minus, POLARITY["contrast"][0]),
        ),
        "vectorized", ("blocked", "scalar", "scalar_perturbation", "shuffled"),
    ),
    Claim(
        Criterion(
            "(a) sign(B_i) recovered from the residual contrast: seed mean >= 0.8, 95% CI > 0.5",
            ("sign_recovery_{v}",), lambda recovery: recovery[0] >= 0.8 and recovery[1] > 0.5,
        ),
        "vectorized", ("blocked", "scalar_perturbation", "shuffled"),
    ),
    Claim(
        above_zero(
            "(b) group-specific, not broadcast: the contrast's group split (P- minus P+, "
            "polarity fixed) above the node-perturbation scalar rule's (paired, 95% CI > 0)",
            "contrast_split_advantage_{v}",
        ),
        "vectorized", ("scalar", "scalar_nonlinear", "blocked"),
    ),
    Claim(
        below_zero("(a) P- somatic activity falls over learning (95% CI < 0)",
                   "minus_rate_change_{v}"),
        "vectorized", ("blocked", "shuffled"),
    ),
    Claim(
        above_zero("(a) corr(B~, B) rises from 0 (last session, 95% CI > 0)",
                   "feedback_alignment_last_{v}"),
        "vectorized", ("blocked",),
    ),
    Claim(
        above_zero(
            "(f) each neuron's residual predicts its own next change of activity: mean "
            "per-neuron correlation across sessions, targets above the non-target control "
            "(paired, 95% CI > 0)",
            "change_prediction_advantage_{v}",
        ),
        "vectorized", ("blocked", "scalar_perturbation"),
    ),
    Claim(
        Criterion(
            "somatic-gain control still learns (criterion (a) learns, on soma_dimmed)",
            _LEARNS, _learns,
        ),
        "soma_dimmed", ("blocked",),
    ),
    Claim(
        Criterion(
            "(d) learns, and more than fixed random feedback (paired decoder-projection "
            "change, 95% CI > 0)",
            (*_LEARNS, "projection_advantage_{v}_over_random_feedback"),
            _learns_and_beats,
        ),
        "vectorized", ("blocked", "shuffled"),
    ),
    Claim(
        Criterion(
            "(e) learns, and more than shuffled feedback signs (paired decoder-projection "
            "change, 95% CI > 0)",
            (*_LEARNS, "projection_advantage_{v}_over_shuffled"),
            _learns_and_beats,
        ),
        "vectorized", ("blocked", "random_feedback"),
    ),
)  # fmt: skip
"""The acceptance criteria, each with the rule it is stated for and the nulls it excludes."""

CRITERIA = tuple(c.on(c.subject) for c in RULES)
"""Each acceptance criterion on its subject rule."""

JUDGED = CRITERIA + tuple(c.on(null) for c in RULES for null in c.excludes)
"""Every criterion the report evaluates: on its subject and on each null it excludes (those
of rules that were not run are n/a). A non-finite effect in any makes the command exit
non-zero."""


def criteria(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each criterion and whether it holds: None where its variants were not run, False
    (never a pass) where a value it uses is not finite."""
    return evaluate_criteria(ds, CRITERIA)


def discrimination(ds: xr.Dataset) -> list[tuple[str, str, bool | None]]:
    """Each criterion evaluated on each null rule it excludes (that was run): ``(text, null,
    holds)``; a criterion discriminates when it fails (``False``) on its nulls."""
    out = []
    for c in RULES:
        for null in c.excludes:
            if null not in ds.variant.values:
                continue
            ((_, ok),) = evaluate_criteria(ds, [c.on(null)])
            out.append((c.text, null, ok))
    return out
