"""Sweeps: many configurations of an experiment in one compiled program per shape, in
resumable shards, on local devices or a Ray cluster.

:mod:`.points` (grid and random points), :mod:`.run` (grouping, shards, executors, merge:
:func:`sweep`), :mod:`.interrupts` (Ctrl-C stops between shards), :mod:`.report` (summary,
figure, the sweep folder), :mod:`.cli` (``bayescortex sweep``: exits non-zero naming every
configuration that is not ok). The experiments a sweep knows by name are those of
:mod:`bayescortex.experiments.experiment` (the built-in ones and any added with ``register``).
"""

from .points import parse_grid, points, random_points
from .report import figure, save, summary_text
from .run import STATUSES, run_shard, shard_name, sweep

__all__ = [
    "STATUSES",
    "figure",
    "parse_grid",
    "points",
    "random_points",
    "run_shard",
    "save",
    "shard_name",
    "summary_text",
    "sweep",
]
