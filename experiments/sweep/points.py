"""The points of a sweep: a grid of values, random draws, or both, each point a few fields of
the experiment's config set to other values (typed by the config's own field types)."""

from __future__ import annotations

import itertools
import json
import math
import typing

import numpy as np

from ..results import PLACE, _coerce

NOT_SWEPT = PLACE
"""Config fields that say where results go, not what is computed."""


def _field_hint(cls, name: str):
    hints = typing.get_type_hints(cls)
    if name not in hints or name in NOT_SWEPT:
        sweepable = sorted(set(hints) - set(NOT_SWEPT))
        raise ValueError(f"sweep: {name!r} is not a field one can sweep; choose from {sweepable}")
    return hints[name]


def parse_grid(cls, specs: list[str]) -> dict[str, list]:
    """``["name=v1,v2", ...]`` -> ``{name: [v1, v2]}``, values typed by the config field
    (``-`` in a name reads as ``_``; ``none`` is None where the field allows it)."""
    grid = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values:
            raise ValueError(f"--grid {spec!r}: expected name=v1,v2,...")
        hint = _field_hint(cls, name)
        if typing.get_origin(hint) is tuple:
            raise ValueError(f"--grid {name}: tuple fields are swept from Python (sweep(grid=))")
        grid[name] = [_typed(name, hint, v.strip()) for v in values.split(",")]
    return grid


def _typed(name, hint, text: str):
    if text.lower() == "none":
        return _coerce(name, hint, None)
    try:
        value = json.loads(text.lower() if text.lower() in ("true", "false") else text)
    except json.JSONDecodeError:
        value = text
    return _coerce(name, hint, value)


def random_points(cls, n: int, specs: list[str], seed: int) -> dict[str, list]:
    """``n`` random points: ``name=lo:hi`` uniform, ``name=lo:hi:log`` log-uniform (integer
    fields: integers in ``[lo, hi]``), drawn with ``numpy.random.default_rng([seed, n])``."""
    if n < 1:
        raise ValueError(f"--random: need at least one point, got {n}")
    rng = np.random.default_rng([seed, n])
    points = {}
    for spec in specs:
        name, sep, bounds = spec.partition("=")
        name = name.strip().replace("-", "_")
        parts = bounds.split(":")
        if not sep or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ValueError(f"--random {spec!r}: expected name=lo:hi or name=lo:hi:log")
        hint = _field_hint(cls, name)
        inner = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
        if inner not in (int, float):
            raise ValueError(f"--random {name}: only numeric fields can be drawn")
        lo, hi = float(parts[0]), float(parts[1])
        log = len(parts) == 3
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi) or (log and lo <= 0):
            raise ValueError(f"--random {spec!r}: need finite lo <= hi (and lo > 0 for log)")
        u = rng.uniform(size=n)
        values = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if log else lo + u * (hi - lo)
        if inner is int:
            values = np.clip(np.floor(values + 0.5), lo, hi).astype(int)
            points[name] = [int(v) for v in values]
        else:
            points[name] = [float(v) for v in values]
    return points


def points(grid: dict[str, list] | None, random: dict[str, list] | None = None) -> list[dict]:
    """Every point: the cartesian product of the grid's values, times the random draws (drawn
    points are zipped: point ``i`` takes draw ``i`` of every drawn field)."""
    grid, random = grid or {}, random or {}
    overlap = set(grid) & set(random)
    if overlap:
        raise ValueError(f"sweep: {sorted(overlap)} both on the grid and drawn at random")
    product = [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]
    if not random:
        return product
    n = len(next(iter(random.values())))
    draws = [{k: v[i] for k, v in random.items()} for i in range(n)]
    return [{**g, **d} for g in product for d in draws]
