"""Acceptance criteria and their verdicts: every experiment's claims, judged on its effects.

An experiment states its criteria as ``(text, check)`` pairs, ``check`` reading the run's
effects (``effect_value``, ``effect_low``, ``effect_high`` along ``effect``);
:func:`evaluate_criteria` judges each as PASS, FAIL, :data:`INCONCLUSIVE` or n/a
(:func:`verdict_label`). A criterion whose effects are not finite counts as FAIL and is
collected by an open :func:`not_evaluable`, so a command can write its results and still exit
non-zero (:class:`NotEvaluable`; :func:`~bayescortex.experiments.results.run_and_save`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import xarray as xr


class NotEvaluable(ValueError):
    """Acceptance criteria met non-finite effects (they count as FAIL; a command exits non-zero)."""


_NOT_EVALUABLE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "not_evaluable", default=None
)


@contextlib.contextmanager
def not_evaluable():
    """Collect, while the block runs, every criterion :func:`evaluate_criteria` could not
    evaluate on finite numbers (as ``'text (not finite: effect, ...)'``, each once)."""
    found: list[str] = []
    token = _NOT_EVALUABLE.set(found)
    try:
        yield found
    finally:
        _NOT_EVALUABLE.reset(token)


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


def verdict_label(ok) -> str:
    """``PASS``, ``FAIL``, ``INCONCLUSIVE`` or ``n/a`` (None: its data were not run).

    >>> [verdict_label(v) for v in (True, False, INCONCLUSIVE, None)]
    ['PASS', 'FAIL', 'INCONCLUSIVE', 'n/a']
    """
    if ok is INCONCLUSIVE:
        return "INCONCLUSIVE"
    return "PASS" if ok else "FAIL" if ok is not None else "n/a"


def evaluate_criteria(ds: xr.Dataset, criteria) -> list[tuple[str, bool | None]]:
    """Each ``(text, check)`` of ``criteria`` and whether it holds on the effects of ``ds``
    (``effect_value``, ``effect_low``, ``effect_high`` along ``effect``); ``check(e)`` reads an
    effect as ``e(name) -> (value, low, high)`` and returns whether it holds, or
    :data:`INCONCLUSIVE` (kept as such). None where an effect it uses was not
    computed (its data were not run); False, never a pass, where one is not finite (such
    criteria are also collected by an open :func:`not_evaluable`, so a command can exit
    non-zero)."""

    def e(name):
        row = ds.sel(effect=name)
        return float(row.effect_value), float(row.effect_low), float(row.effect_high)

    def names_used(check) -> list[str]:
        seen: list[str] = []
        check(lambda name: seen.append(name) or (0.0, 0.0, 0.0))
        return seen

    out = []
    collected = _NOT_EVALUABLE.get()
    for text, check in criteria:
        try:
            bad = [n for n in names_used(check) if not all(math.isfinite(v) for v in e(n))]
            if bad:
                out.append((text, False))
                entry = f"{text} (not finite: {', '.join(dict.fromkeys(bad))})"
                if collected is not None and entry not in collected:
                    collected.append(entry)
                continue
            ok = check(e)
            out.append((text, ok if ok is INCONCLUSIVE else bool(ok)))
        except KeyError:
            out.append((text, None))
    return out
