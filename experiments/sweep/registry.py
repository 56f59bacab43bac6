"""The sweepable experiments: what a sweep needs from an experiment, and the registry by name.

:class:`Experiment` bundles an experiment's config class, its ``run_configs``, its effects,
the measures that must be finite and the default placement of a shard; :func:`experiments`
lists the built-in ones (``redundancy``, ``bci``) and those added with :func:`register`, and
:func:`experiment_named` looks one up. Running the shards and merging them is
:mod:`.run`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..placement import Placement, like_runs


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What the sweep needs from an experiment.

    ``config``: its config dataclass (with ``split() -> (static, hyper)``);
    ``run_configs(configs, placement=, progress=) -> [Dataset]``: configurations sharing one
    static part, as one program; ``effects(ds) -> {name: (value, low, high)}``: the effects of
    one configuration's Dataset with their 95% intervals; ``required``: variables that must be
    finite for a configuration to count as ``ok``; ``headline``: effects the sweep's figure
    and summary show; ``layout(available devices, configurations) -> Placement``: the default
    placement of a shard, one that computes each configuration as its run does (see
    :mod:`.run`).
    """

    name: str
    config: type
    run_configs: Callable
    effects: Callable
    required: tuple[str, ...]
    headline: tuple[str, ...]
    layout: Callable[[int, int], Placement] = like_runs


def _one_at_a_time(available: int, n_configs: int) -> Placement:
    """Configurations split over the devices, one at a time on each: the layout of a run of
    an experiment whose run uses one device (no conditions to split)."""
    return Placement(devices=max(1, min(available, n_configs)), batch=1)


REGISTRY: dict[str, Experiment] = {}
"""Experiments added with :func:`register` (next to the built-in ones)."""


def register(experiment: Experiment) -> None:
    """Make ``experiment`` sweepable by name in this process (for a Ray cluster, register it
    in a module the workers import)."""
    REGISTRY[experiment.name] = experiment


def experiments() -> dict[str, Experiment]:
    """The sweepable experiments by name: the built-in ones and :data:`REGISTRY`."""
    from .. import redundancy

    builtin = Experiment(
        "redundancy", redundancy.RedundancyConfig, redundancy.run_configs, redundancy.effects,
        required=("accuracy", "information", "information_shuffled", "parameters"),
        headline=(
            "engagement_contrast_redundancy", "change_redundancy_bins_engaged",
            "change_redundancy_window_passive", "change_redundancy_engaged",
            "final_accuracy_engaged",
        ),
    )  # fmt: skip
    from .. import bci

    bci_experiment = Experiment(
        "bci", bci.BCIConfig, bci.run_configs, bci.effects,
        required=("hit_rate", "soma_rate", "feedback_alignment", "threshold"),
        headline=(
            "hit_rate_change_vectorized", "hit_rate_change_scalar", "sign_recovery_vectorized",
            "speed_ratio",
        ),
        layout=_one_at_a_time,
    )  # fmt: skip
    return {"redundancy": builtin, "bci": bci_experiment, **REGISTRY}


def experiment_named(name: str) -> Experiment:
    """The sweepable experiment ``name`` (ValueError listing the known ones)."""
    known = experiments()
    if name not in known:
        raise ValueError(f"experiment: unknown {name!r}; sweepable: {sorted(known)}")
    return known[name]
