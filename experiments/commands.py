"""The registry of commands and experiments, and how their flags become a config.

Add a command to :data:`COMMANDS`: ``name -> (config class, main, presets)``; an experiment
(``bayescortex run NAME``) is an :class:`~.experiment.Experiment` (:mod:`.experiment`). A
command or experiment may name presets (``--full``, ``--legacy``): a
preset supplies the defaults, explicit flags still override it, and the run writes the
resolved config. Both ``bayescortex`` (:mod:`.cli`) and ``bayescortex sweep``
(:mod:`.sweep.cli`) parse flags with :func:`with_preset`.
"""

from __future__ import annotations

import dataclasses
import typing

import tyro

from .results import config_dict


def _simulate():
    from . import simulate

    return simulate.SimulateConfig, simulate.main, {}


def _train():
    from . import training
    from .training.config import LEGACY

    return training.TrainConfig, training.main, {"legacy": LEGACY}


def _analyse():
    from . import analyse

    return analyse.AnalyseConfig, analyse.main, {}


class Registry(dict):
    """``name -> (config class, main, presets)``, each imported on first use: ``bayescortex
    analyse`` then needs only the estimators' dependencies, and a command that needs the model
    stack says which extra installs it."""

    def __getitem__(self, name: str):
        entry = super().__getitem__(name)
        if callable(entry):
            try:
                entry = entry()
            except ModuleNotFoundError as err:
                raise SystemExit(
                    f"bayescortex: {name!r} needs the model stack ({err.name} is not installed): "
                    "pip install 'bayescortex[models]'"
                ) from err
            super().__setitem__(name, entry)
        return entry


COMMANDS = Registry(simulate=_simulate, train=_train, analyse=_analyse)


def refuse_repeats(args: list[str], *, repeatable=(), booleans=()) -> None:
    """ValueError ``--seeds given twice`` for a flag that appears twice in ``args`` (the last
    one would silently win). ``--name=value`` counts as ``--name``, ``_`` as ``-``, and
    ``--no-name`` as ``--name`` for the flags in ``booleans``; flags in ``repeatable`` (such
    as ``--grid``) may repeat."""
    seen = set()
    for arg in args:
        if not arg.startswith("--") or arg == "--":
            continue
        name = arg.split("=", 1)[0].replace("_", "-")
        if name.startswith("--no-") and name[5:] in booleans:
            name = "--" + name[5:]
        if name in repeatable:
            continue
        if name in seen:
            raise ValueError(f"{name} given twice")
        seen.add(name)


def with_preset(cls, presets: dict, args: list[str], prog: str):
    """Parse ``args`` into ``cls``; a ``--<preset>`` flag makes that preset the defaults. A
    flag given twice is refused (ValueError), and so is a value that could not be written to
    config.json (non-finite)."""
    chosen = [p for p in presets if f"--{p}" in args]
    if len(chosen) > 1:
        raise SystemExit(f"{prog}: choose one preset of {['--' + p for p in chosen]}")
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    refuse_repeats(args, booleans={n.replace("_", "-") for n, h in hints.items() if h is bool})
    args = [a for a in args if a not in {f"--{p}" for p in presets}]
    default = presets[chosen[0]] if chosen else None
    config = tyro.cli(cls, args=args, prog=prog, default=default)
    if dataclasses.is_dataclass(config):
        config_dict(config)  # a non-finite value fails now, not when config.json is written
    return config
