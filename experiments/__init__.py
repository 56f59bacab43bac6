"""Experiments: one module per result, typed configs, the CLI, run folders."""

from .experiment import Experiment, experiment_named, experiments, register
from .results import RunOptions, load_config, save_run

__all__ = [
    "Experiment",
    "experiment_named",
    "experiments",
    "load_config",
    "RunOptions",
    "register",
    "save_run",
]
