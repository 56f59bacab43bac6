"""Experiments: one module per result, typed configs, the CLI, run folders."""

from .experiment import Experiment, experiment_named, experiments, register
from .options import RunOptions
from .results import load_config, save_run

__all__ = [
    "Experiment",
    "experiment_named",
    "experiments",
    "load_config",
    "RunOptions",
    "register",
    "save_run",
]
