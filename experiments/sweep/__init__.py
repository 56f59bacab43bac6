"""Sweeps: many configurations of an experiment in one compiled program per shape, in
resumable shards, on local devices or a Ray cluster.

:mod:`.points` (grid and random points), :mod:`.registry` (the sweepable experiments by name),
:mod:`.run` (grouping, shards, executors, merge: :func:`sweep`), :mod:`.interrupts` (Ctrl-C
stops between shards), :mod:`.report` (summary, figure, the sweep folder), :mod:`.cli`
(``bayescortex sweep``: exits non-zero naming every configuration that is not ok).
"""

from .points import parse_grid, points, random_points
from .registry import Experiment, experiments, register
from .report import figure, save, summary_text
from .run import STATUSES, run_shard, shard_name, sweep

__all__ = [
    "STATUSES",
    "Experiment",
    "experiments",
    "figure",
    "parse_grid",
    "points",
    "random_points",
    "register",
    "run_shard",
    "save",
    "shard_name",
    "summary_text",
    "sweep",
]
