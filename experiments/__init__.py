"""Experiments: one module per result, typed configs, the CLI, run folders."""

from .results import load_config, save_run

__all__ = ["load_config", "save_run"]
