"""The criteria layer shared by the experiments: declared effects, verdicts, non-finite ones."""

from __future__ import annotations

import math

import xarray as xr

from bayescortex.experiments.criteria import (
    INCONCLUSIVE,
    Criterion,
    above_zero,
    below_zero,
    evaluate_criteria,
    not_finite,
)


def _effects(**rows) -> xr.Dataset:
    names = list(rows)
    return xr.Dataset(
        {
            key: ("effect", [float(rows[n][i]) for n in names])
            for i, key in enumerate(("effect_value", "effect_low", "effect_high"))
        },
        coords={"effect": names},
    )


DS = _effects(up=(0.3, 0.1, 0.5), down=(-0.3, -0.5, -0.1), wide=(0.0, -1.0, 1.0),
              nan=(math.nan, math.nan, math.nan))  # fmt: skip


def test_verdicts_read_the_declared_effects_in_order():
    both = Criterion("up above down", ("down", "up"), lambda d, u: d[2] < u[1])
    unresolved = Criterion("wide unresolved", ("wide",), lambda e: INCONCLUSIVE)
    found = evaluate_criteria(DS, [above_zero("up", "up"), below_zero("down", "down"),
                                   above_zero("wide", "wide"), both, unresolved])  # fmt: skip
    assert found == [("up", True), ("down", True), ("wide", False), ("up above down", True),
                     ("wide unresolved", INCONCLUSIVE)]  # fmt: skip


def test_an_effect_not_computed_is_n_a_even_where_the_rest_already_fails():
    """A conjunction whose first part fails but whose second effect was not computed is n/a
    (its data were not run), not FAIL: every declared effect must be there to judge."""
    c = Criterion("down above 0 and missing above 0", ("down", "missing"),
                  lambda d, m: d[1] > 0 and m[1] > 0)  # fmt: skip
    assert evaluate_criteria(DS, [c]) == [(c.text, None)]
    assert not_finite(DS, [c]) == []


def test_a_non_finite_effect_fails_and_is_named_once():
    c = Criterion("nan and up", ("nan", "up"), lambda n, u: True)  # never a pass on NaN
    assert evaluate_criteria(DS, [c]) == [(c.text, False)]
    assert not_finite(DS, [c, c]) == ["nan and up (not finite: nan)"]


def test_a_criterion_stated_for_a_variant_is_filled_in():
    c = above_zero("{v} rises", "change_{v}")
    ds = _effects(change_engaged=(1.0, 0.5, 1.5), change_passive=(0.0, -1.0, 1.0))
    assert c.on(v="engaged").uses == ("change_engaged",)
    assert evaluate_criteria(ds, [c.on(v="engaged"), c.on(v="passive")]) == [
        ("{v} rises", True),
        ("{v} rises", False),
    ]
