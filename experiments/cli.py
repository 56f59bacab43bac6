"""The ``bayescortex`` command: ``simulate``, ``train`` and ``run <experiment>``.

Each command is a frozen dataclass config (typed flags via tyro) and a ``main(config)``.
Add a command to :data:`COMMANDS`, an experiment to :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import sys

import tyro

from . import redundancy, simulate, training

COMMANDS = {
    "simulate": (simulate.SimulateConfig, simulate.main),
    "train": (training.TrainConfig, training.main),
}
EXPERIMENTS = {
    "redundancy": (redundancy.RedundancyConfig, redundancy.main),
}
USAGE = f"""usage: bayescortex {{{",".join([*COMMANDS, "run"])}}} [--help] ...

  simulate      simulate trials of the reference model at fixed feedback
  train         learn the feedback over sessions, with engaged and passive recordings
  run NAME      run an experiment: {", ".join(EXPERIMENTS)}

'bayescortex COMMAND --help' lists a command's flags.
"""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command == "run":
        if not rest or rest[0] in ("-h", "--help"):
            print(f"usage: bayescortex run {{{','.join(EXPERIMENTS)}}} [--help] [flags]")
            raise SystemExit(0 if rest else 2)
        if rest[0] not in EXPERIMENTS:
            raise SystemExit(
                f"bayescortex run: unknown experiment {rest[0]!r}; "
                f"expected one of {tuple(EXPERIMENTS)}"
            )
        (cls, fn), prog, rest = EXPERIMENTS[rest[0]], f"bayescortex run {rest[0]}", rest[1:]
    elif command in COMMANDS:
        (cls, fn), prog = COMMANDS[command], f"bayescortex {command}"
    else:
        raise SystemExit(f"bayescortex: unknown command {command!r}\n\n{USAGE}")
    config = tyro.cli(cls, args=rest, prog=prog)
    try:
        fn(config)
    except ValueError as err:
        raise SystemExit(f"bayescortex {command}: {err}") from err


if __name__ == "__main__":
    main()
