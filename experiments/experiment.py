"""The experiment protocol: what the command line and the sweep need from an experiment.

An experiment is one package that builds an :class:`Experiment`: its config class and
presets, ``run`` (one configuration, resumable) and ``run_configs`` (many configurations
sharing one compiled program, for sweeps), its effects, acceptance criteria, summary text and
figures. ``bayescortex run NAME`` is :meth:`Experiment.main`; ``bayescortex sweep NAME`` runs
``run_configs`` and ``effects`` (:mod:`.sweep`). The built-in experiments (``redundancy``,
``bci``) are imported on first use; :func:`register` adds another, which both commands then
know by name: adding an experiment is writing the package that builds its
:class:`Experiment`, nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .criteria import Criterion
from .placement import Placement, like_runs
from .results import run_and_save


def one_at_a_time(available: int, n_configs: int) -> Placement:
    """Configurations split over the devices, one at a time on each: the sweep layout of an
    experiment whose run uses one device (no conditions to split)."""
    return Placement(devices=max(1, min(available, n_configs)), batch=1)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What the command line and the sweep need from an experiment.

    ``config``: its config dataclass (with ``split() -> (static, hyper)``); ``presets``:
    configs a flag selects (``--full`` -> ``presets["full"]``); ``run(config,
    checkpoint_dir=, progress=) -> Dataset``: one configuration, resuming from its
    checkpoints; ``run_configs(configs, placement=, progress=) -> [Dataset]``: configurations
    sharing one static part, as one program; ``effects(ds) -> {name: (value, low, high)}``:
    the effects of one configuration with their 95% intervals, and ``with_effects(ds)`` the
    Dataset with them as ``effect_value``/``effect_low``/``effect_high`` along ``effect``;
    ``criteria``: every :class:`~.criteria.Criterion` the summary judges (a non-finite effect
    in one makes ``run`` exit non-zero); ``summary(config, ds) -> str`` and ``figures(ds) ->
    {name: Figure}``: the report; ``required``: variables that must be finite for a sweep's
    configuration to count as ``ok``; ``headline``: the effects a sweep's figure and summary
    show; ``layout(available devices, configurations) -> Placement``: the sweep's default
    placement of a shard, one that computes each configuration as its run does.
    """

    name: str
    config: type
    run: Callable
    run_configs: Callable
    effects: Callable
    with_effects: Callable
    summary: Callable
    figures: Callable
    criteria: Sequence[Criterion] = ()
    presets: Mapping[str, object] = dataclasses.field(default_factory=dict)
    required: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()
    layout: Callable[[int, int], Placement] = like_runs

    def main(self, config) -> Path:
        """``bayescortex run NAME``: run (resuming an unfinished run of the same ``run_id``),
        write the run folder ``<output>/<name>/<run_id>/`` (config.json, versions.json,
        results.nc, figures, summary.txt, checkpoints/), print the summary and return the
        folder; exits non-zero if a criterion met a non-finite effect
        (:func:`~.results.run_and_save`)."""
        return run_and_save(
            self.name, config, lambda c, **kw: self.with_effects(self.run(c, **kw)),
            summary=self.summary, figures=self.figures, criteria=self.criteria,
        )  # fmt: skip


BUILTIN = {"redundancy": "bayescortex.experiments.redundancy", "bci": "bayescortex.experiments.bci"}
"""The built-in experiments: name -> the package whose ``EXPERIMENT`` is its :class:`Experiment`
(imported on first use: ``bayescortex analyse`` needs none of the model stack)."""

REGISTRY: dict[str, Experiment] = {}
"""Experiments added with :func:`register` (next to the built-in ones)."""


def register(experiment: Experiment) -> None:
    """Make ``experiment`` known to ``bayescortex run`` and ``bayescortex sweep`` by name in
    this process (for a Ray cluster, register it in a module the workers import)."""
    REGISTRY[experiment.name] = experiment


def names() -> list[str]:
    """Every experiment's name, without importing any."""
    return list(dict.fromkeys([*BUILTIN, *REGISTRY]))


def experiment_named(name: str) -> Experiment:
    """The experiment ``name`` (ValueError listing the known ones; ModuleNotFoundError where
    a built-in one's dependencies are not installed)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name not in BUILTIN:
        raise ValueError(f"experiment: unknown {name!r}; expected one of {names()}")
    return importlib.import_module(BUILTIN[name]).EXPERIMENT


def experiments() -> dict[str, Experiment]:
    """Every experiment by name (imports the built-in ones)."""
    return {name: experiment_named(name) for name in names()}
