"""The BCI experiment's acceptance criteria: each stated for a subject rule, each with the null
rules it must fail on, polarity fixed in advance, intervals (95% bootstrap over seeds) rather
than point estimates."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import xarray as xr

from bayescortex.analysis.bci import POLARITY

from ..criteria import evaluate_criteria
from .run import LEARNED_MARGIN

COMPARED_WITH = ("random_feedback", "shuffled")
"""Nulls every rule's decoder-projection change is compared with (paired over seeds)."""


def _opposite(e, plus: str, minus: str) -> bool:
    """The two groups' intervals lie on opposite sides of 0 (either polarity: used only to
    report whether a null fakes a group-opposite pattern)."""
    p, m = e(plus), e(minus)
    return (p[1] > 0 and m[2] < 0) or (p[2] < 0 and m[1] > 0)


def _polarity(e, plus: str, minus: str, sign_plus: int) -> bool:
    """The P+ interval lies strictly on the side ``sign_plus`` of 0 and the P- interval on the
    other side: the polarity is fixed, not either."""
    p, m = e(plus), e(minus)
    if sign_plus > 0:
        return p[1] > 0 and m[2] < 0
    return p[2] < 0 and m[1] > 0


def _learns(e, v: str) -> bool:
    return e(f"projection_change_{v}")[1] > 0 and e(f"learned_fraction_{v}")[0] >= 0.75


class Criterion(NamedTuple):
    """An acceptance criterion: ``check(e, v)`` on the effects for the rule ``v``;
    ``subject`` the rule it is stated for; ``excludes`` the null rules on which it must fail
    (evaluated with ``v`` set to each: a criterion that a null also meets does not
    discriminate)."""

    text: str
    check: Callable
    subject: str
    excludes: tuple[str, ...]


RULES = (
    Criterion(
        "(a) learns: decoder-projection change (P+ minus P- rate, last session minus "
        f"baseline) 95% CI > 0 and hit rate >= baseline + {LEARNED_MARGIN:g} in >= 75% of seeds",
        _learns, "vectorized", ("blocked", "shuffled"),
    ),
    Criterion(
        "(c) apical block abolishes learning: hit-rate change < 0.1, <= 25% of seeds learned, "
        "decoder-projection change 95% CI reaches 0 or below",
        lambda e, v: (
            e(f"hit_rate_change_{v}")[0] < 0.1 and e(f"learned_fraction_{v}")[0] <= 0.25
            and e(f"projection_change_{v}")[1] <= 0
        ),
        "blocked", ("vectorized", "soma_dimmed"),
    ),
    Criterion(
        "(a) residual-error coupling, polarity fixed: mean sign P+ > 0, P- < 0 (95% CIs)",
        lambda e, v: _polarity(
            e, f"residual_sign_plus_{v}", f"residual_sign_minus_{v}", POLARITY["coupling"][0]
        ),
        "vectorized", ("blocked", "scalar_perturbation", "shuffled"),
    ),
    Criterion(
        "(a) error-decrease minus error-increase contrast, polarity fixed: P+ < 0, P- > 0 "
        "(95% CIs)",
        lambda e, v: _polarity(
            e, f"contrast_plus_{v}", f"contrast_minus_{v}", POLARITY["contrast"][0]
        ),
        "vectorized", ("blocked", "scalar", "scalar_perturbation", "shuffled"),
    ),
    Criterion(
        "(a) sign(B_i) recovered from the residual contrast: seed mean >= 0.8, 95% CI > 0.5",
        lambda e, v: e(f"sign_recovery_{v}")[0] >= 0.8 and e(f"sign_recovery_{v}")[1] > 0.5,
        "vectorized", ("blocked", "scalar_perturbation", "shuffled"),
    ),
    Criterion(
        "(b) group-specific, not broadcast: the contrast's group split (P- minus P+, polarity "
        "fixed) above the node-perturbation scalar rule's (paired, 95% CI > 0)",
        lambda e, v: e(f"contrast_split_advantage_{v}")[1] > 0,
        "vectorized", ("scalar", "scalar_nonlinear", "blocked"),
    ),
    Criterion(
        "(a) P- somatic activity falls over learning (95% CI < 0)",
        lambda e, v: e(f"minus_rate_change_{v}")[2] < 0,
        "vectorized", ("blocked", "shuffled"),
    ),
    Criterion(
        "(a) corr(B~, B) rises from 0 (last session, 95% CI > 0)",
        lambda e, v: e(f"feedback_alignment_last_{v}")[1] > 0,
        "vectorized", ("blocked",),
    ),
    Criterion(
        "(f) each neuron's residual predicts its own next change of activity: mean "
        "per-neuron correlation across sessions, targets above the non-target control "
        "(paired, 95% CI > 0)",
        lambda e, v: e(f"change_prediction_advantage_{v}")[1] > 0,
        "vectorized", ("blocked", "scalar_perturbation"),
    ),
    Criterion(
        "somatic-gain control still learns (criterion (a) learns, on soma_dimmed)",
        _learns, "soma_dimmed", ("blocked",),
    ),
    Criterion(
        "(d) learns, and more than fixed random feedback (paired decoder-projection change, "
        "95% CI > 0)",
        lambda e, v: _learns(e, v) and e(f"projection_advantage_{v}_over_random_feedback")[1] > 0,
        "vectorized", ("blocked", "shuffled"),
    ),
    Criterion(
        "(e) learns, and more than shuffled feedback signs (paired decoder-projection change, "
        "95% CI > 0)",
        lambda e, v: _learns(e, v) and e(f"projection_advantage_{v}_over_shuffled")[1] > 0,
        "vectorized", ("blocked", "random_feedback"),
    ),
)  # fmt: skip
"""The acceptance criteria, each with the rule it is stated for and the nulls it excludes."""

CRITERIA = tuple((c.text, functools.partial(c.check, v=c.subject)) for c in RULES)
"""Each acceptance criterion on its subject rule: text and a check on the effects
(``e(name) -> (value, low, high)``)."""


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
            ((_, ok),) = evaluate_criteria(ds, [(c.text, functools.partial(c.check, v=null))])
            out.append((c.text, null, ok))
    return out
