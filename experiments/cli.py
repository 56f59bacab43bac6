"""The ``bayescortex`` command: ``simulate``, ``train``, ``analyse`` and ``run <experiment>``.

Each command is a frozen dataclass config (typed flags via tyro, help from the field
docstrings) and a ``main(config)``. Add a command to :data:`COMMANDS`, an experiment to
:data:`EXPERIMENTS`; an experiment may name presets (``--full``): a preset supplies the
defaults, explicit flags still override it, and the run writes the resolved config.
"""

from __future__ import annotations

import sys

import tyro

from . import analyse, redundancy, simulate, training

COMMANDS = {
    "simulate": (simulate.SimulateConfig, simulate.main),
    "train": (training.TrainConfig, training.main),
    "analyse": (analyse.AnalyseConfig, analyse.main),
}
EXPERIMENTS = {
    "redundancy": (redundancy.RedundancyConfig, redundancy.main, {"full": redundancy.FULL}),
}
USAGE = f"""usage: bayescortex {{{",".join([*COMMANDS, "run"])}}} [--help] ...

  simulate      simulate trials of the reference model at fixed feedback
  train         learn the feedback over sessions, with engaged and passive recordings
  analyse       redundancy summary of a recorded NWB file
  run NAME      run an experiment: {", ".join(EXPERIMENTS)} (preset: --full, paper scale)

'bayescortex COMMAND --help' lists a command's flags.
"""


def _parse(argv: list[str]):
    command, rest = argv[0], argv[1:]
    if command == "run":
        if not rest or rest[0] in ("-h", "--help"):
            print(f"usage: bayescortex run {{{','.join(EXPERIMENTS)}}} [--help] [--full] [flags]")
            raise SystemExit(0 if rest else 2)
        if rest[0] not in EXPERIMENTS:
            raise SystemExit(
                f"bayescortex run: unknown experiment {rest[0]!r}; "
                f"expected one of {tuple(EXPERIMENTS)}"
            )
        (cls, fn, presets), prog = EXPERIMENTS[rest[0]], f"bayescortex run {rest[0]}"
        rest = rest[1:]
        chosen = [p for p in presets if f"--{p}" in rest]
        if len(chosen) > 1:
            raise SystemExit(f"{prog}: choose one preset of {['--' + p for p in chosen]}")
        rest = [a for a in rest if a not in {f"--{p}" for p in presets}]
        default = presets[chosen[0]] if chosen else None
        return command, tyro.cli(cls, args=rest, prog=prog, default=default), fn
    if command in COMMANDS:
        cls, fn = COMMANDS[command]
        return command, tyro.cli(cls, args=rest, prog=f"bayescortex {command}"), fn
    raise SystemExit(f"bayescortex: unknown command {command!r}\n\n{USAGE}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if argv else 2)
    try:
        command, config, fn = _parse(argv)
        fn(config)
    except (ValueError, FloatingPointError, FileExistsError, PermissionError) as err:
        raise SystemExit(f"bayescortex {argv[0]}: {err}") from err
    except KeyboardInterrupt:
        raise SystemExit(f"bayescortex {argv[0]}: interrupted") from None


if __name__ == "__main__":
    main()
