"""Acceptance criteria and their verdicts: every experiment's claims, judged on its effects.

An experiment states each claim as a :class:`Criterion`: its text, the effects it uses (by
name, declared) and a check on their values. :func:`evaluate_criteria` judges each on a run's
effects (``effect_value``, ``effect_low``, ``effect_high`` along ``effect``) as PASS, FAIL,
:data:`INCONCLUSIVE` or n/a (:func:`verdict_label`): n/a where an effect it uses was not
computed, FAIL (never a pass) where one is not finite. :func:`not_finite` names the criteria
that met non-finite effects, so a command can write its results and still exit non-zero
(:class:`NotEvaluable`; :func:`~bayescortex.experiments.results.run_and_save`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import xarray as xr

Interval = tuple[float, float, float]
"""An effect as ``(value, low, high)``: its estimate and 95% interval."""


class NotEvaluable(ValueError):
    """Acceptance criteria met non-finite effects (they count as FAIL; a command exits non-zero)."""


class _Inconclusive:
    """The type of :data:`INCONCLUSIVE` (one instance; false in a boolean context)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False  # never read as a pass

    def __repr__(self) -> str:
        return "INCONCLUSIVE"


INCONCLUSIVE = _Inconclusive()
"""The verdict of a criterion that the run cannot resolve (an equivalence test whose interval
is wider than its margin allows): neither PASS nor FAIL. It is false in a boolean context, so
a reader that knows only PASS and FAIL never takes it for a pass."""


class Criterion(NamedTuple):
    """A claim judged on a run's effects.

    ``uses``: the effects it reads, by name, in the order the report shows them; ``check``
    receives each as an :data:`Interval`, in that order, and returns True, False or
    :data:`INCONCLUSIVE`. Names may hold ``{fields}`` filled by :meth:`on` (a criterion
    stated once for several variants).

    >>> c = above_zero("x rises (CI > 0)", "change_{v}").on(v="engaged")
    >>> c.uses, c.check((0.3, 0.1, 0.5))
    (('change_engaged',), True)
    """

    text: str
    uses: tuple[str, ...]
    check: Callable[..., object]

    def on(self, **fields) -> Criterion:
        """The criterion with ``{field}`` in its effect names filled in."""
        return self._replace(uses=tuple(name.format(**fields) for name in self.uses))


def above_zero(text: str, effect: str) -> Criterion:
    """The effect's interval lies above 0 (its lower end > 0)."""
    return Criterion(text, (effect,), lambda e: e[1] > 0)


def below_zero(text: str, effect: str) -> Criterion:
    """The effect's interval lies below 0 (its upper end < 0)."""
    return Criterion(text, (effect,), lambda e: e[2] < 0)


def effect_interval(ds: xr.Dataset, name: str) -> Interval:
    """The effect ``name`` of ``ds`` as an :data:`Interval` (KeyError where it is absent)."""
    row = ds.sel(effect=name)
    return float(row.effect_value), float(row.effect_low), float(row.effect_high)


def _not_finite(ds: xr.Dataset, criterion: Criterion) -> list[str]:
    """The effects ``criterion`` uses that are present and not finite (KeyError: one absent)."""
    values = {name: effect_interval(ds, name) for name in criterion.uses}
    return [n for n, v in values.items() if not all(math.isfinite(x) for x in v)]


def verdict_label(ok) -> str:
    """``PASS``, ``FAIL``, ``INCONCLUSIVE`` or ``n/a`` (None: its data were not run).

    >>> [verdict_label(v) for v in (True, False, INCONCLUSIVE, None)]
    ['PASS', 'FAIL', 'INCONCLUSIVE', 'n/a']
    """
    if ok is INCONCLUSIVE:
        return "INCONCLUSIVE"
    return "PASS" if ok else "FAIL" if ok is not None else "n/a"


def evaluate_criteria(ds: xr.Dataset, criteria: Sequence[Criterion]) -> list[tuple[str, object]]:
    """Each criterion's text and whether it holds on the effects of ``ds``: True, False or
    :data:`INCONCLUSIVE` (kept as such); None where an effect it uses was not computed (its
    data were not run); False, never a pass, where one is not finite (:func:`not_finite`)."""
    out = []
    for c in criteria:
        try:
            if _not_finite(ds, c):
                out.append((c.text, False))
                continue
        except KeyError:
            out.append((c.text, None))
            continue
        ok = c.check(*(effect_interval(ds, name) for name in c.uses))
        out.append((c.text, ok if ok is INCONCLUSIVE else bool(ok)))
    return out


def not_finite(ds: xr.Dataset, criteria: Sequence[Criterion]) -> list[str]:
    """The criteria that met non-finite effects, as ``'text (not finite: effect, ...)'`` (each
    once; criteria with an effect not computed are n/a, not listed)."""
    found: list[str] = []
    for c in criteria:
        try:
            bad = _not_finite(ds, c)
        except KeyError:
            continue
        entry = f"{c.text} (not finite: {', '.join(dict.fromkeys(bad))})"
        if bad and entry not in found:
            found.append(entry)
    return found
