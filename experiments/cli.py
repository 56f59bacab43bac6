"""The ``bayescortex`` command: ``simulate``, ``train`` and ``run <experiment>``.

Each command is a frozen dataclass config (typed flags via tyro) and a ``main(config)``.
Add a command by adding it to :data:`COMMANDS`; add an experiment to :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Union

import tyro

from . import simulate

COMMANDS = {
    "simulate": (simulate.SimulateConfig, simulate.main),
}
EXPERIMENTS: dict = {}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    spec = {name: cls for name, (cls, _) in COMMANDS.items()}
    runners = {cls: fn for cls, fn in COMMANDS.values()}
    if EXPERIMENTS:
        options = [
            Annotated[cls, tyro.conf.subcommand(name)] for name, (cls, _) in EXPERIMENTS.items()
        ]
        spec["run"] = Union[tuple(options)] if len(options) > 1 else options[0]  # noqa: UP007
        runners.update({cls: fn for cls, fn in EXPERIMENTS.values()})
    config = tyro.extras.subcommand_cli_from_dict(spec, args=argv, prog="bayescortex")
    try:
        runners[type(config)](config)
    except ValueError as err:
        raise SystemExit(f"bayescortex: {err}") from err


if __name__ == "__main__":
    main()
