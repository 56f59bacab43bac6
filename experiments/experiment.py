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

import numpy as np
import xarray as xr

from .criteria import Criterion, Interval
from .placement import Placement, like_runs
from .results import run_and_save


def one_at_a_time(available: int, n_configs: int) -> Placement:
    """Configurations split over the devices, one at a time on each: the sweep layout of an
    experiment whose run uses one device (no conditions to split)."""
    return Placement(devices=max(1, min(available, n_configs)), batch=1)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What the command line and the sweep need from an experiment.

    ``config``: its config dataclass (with ``split() -> (static, hyper)``; a subclass of
    :class:`~.results.RunOptions`, for ``seed``, ``output`` and ``run_id``);
    ``run_configs(configs, placement=, progress=) -> [Dataset]``: configurations sharing one
    static part, as one program; ``effects(ds) -> {name: (value, low, high)}``: the effects
    of one configuration with their 95% intervals;
    ``summary(config, ds) -> str`` and ``figures(ds) -> {name: Figure}``: the report. Optional:
    ``run(config, checkpoint_dir=, progress=) -> Dataset``, one configuration resuming from its
    checkpoints (default: ``run_configs([config])``, no resume); ``with_effects(ds)``, the
    Dataset with its effects (default: :func:`assign_effects`; the redundancy experiment adds
    per-session bands); ``stacked_effects``: ``effects`` also takes a sweep shard's
    configurations stacked along a ``config`` dimension and returns arrays over it, every
    configuration's effects in one pass (else the sweep calls it once per configuration);
    ``criteria``: every :class:`~.criteria.Criterion` the summary judges (a
    non-finite effect in one makes ``run`` exit non-zero); ``presets``: configs a flag selects
    (``--full`` -> ``presets["full"]``); ``required``: variables that must be finite for a
    sweep's configuration to count as ``ok``; ``headline``: the effects a sweep's figure and
    summary show; ``layout(available devices, configurations) -> Placement``: the sweep's
    default placement of a shard, one that computes each configuration as its run does.
    """

    name: str
    config: type
    run_configs: Callable
    effects: Callable
    summary: Callable
    figures: Callable
    run: Callable | None = None
    with_effects: Callable | None = None
    stacked_effects: bool = False
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
            self.name, config, lambda c, **kw: self.add_effects(self.run_one(c, **kw)),
            summary=self.summary, figures=self.figures, criteria=self.criteria,
        )  # fmt: skip

    def run_one(self, config, *, checkpoint_dir=None, progress: bool = True):
        """One configuration: ``run`` where given, else ``run_configs([config])`` (no
        resume)."""
        if self.run is not None:
            return self.run(config, checkpoint_dir=checkpoint_dir, progress=progress)
        return self.run_configs([config], progress=progress)[0]

    def add_effects(self, ds: xr.Dataset) -> xr.Dataset:
        """``ds`` with its effects: ``with_effects`` where given, else :func:`assign_effects`
        of ``effects(ds)``."""
        if self.with_effects is not None:
            return self.with_effects(ds)
        return assign_effects(ds, self.effects(ds))


def assign_effects(ds: xr.Dataset, found: Mapping[str, Interval]) -> xr.Dataset:
    """``ds`` with the effects ``found`` (``name -> (value, low, high)``) as ``effect_value``,
    ``effect_low`` and ``effect_high`` along ``effect``: the layout the criteria read.

    >>> assign_effects(xr.Dataset(), {"rise": (0.3, 0.1, 0.5)}).effect_low.values
    array([0.1])
    """
    values = np.array(list(found.values()), float).reshape(-1, 3)
    return ds.assign(
        effect_value=("effect", values[:, 0]),
        effect_low=("effect", values[:, 1]),
        effect_high=("effect", values[:, 2]),
    ).assign_coords(effect=list(found))


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
