"""The ``bayescortex`` command: ``simulate``, ``train``, ``analyse`` and ``run <experiment>``.

Each command is a frozen dataclass config (typed flags via tyro, help from the field
docstrings) and a ``main(config)``. Add a command to :data:`COMMANDS`, an experiment to
:data:`EXPERIMENTS`; a command or experiment may name presets (``--full``, ``--legacy``): a
preset supplies the defaults, explicit flags still override it, and the run writes the
resolved config.
"""

from __future__ import annotations

import sys

import tyro

from . import analyse, bci, redundancy, simulate, training
from .bci.config import FULL as BCI_FULL
from .compilation import CACHE_ENV, cache_from_environment, enable_cache
from .redundancy.config import FULL as REDUNDANCY_FULL
from .redundancy.config import LEGACY as REDUNDANCY_LEGACY
from .sweep import cli as sweep_cli
from .training.config import LEGACY as TRAINING_LEGACY

COMMANDS = {
    "simulate": (simulate.SimulateConfig, simulate.main, {}),
    "train": (training.TrainConfig, training.main, {"legacy": TRAINING_LEGACY}),
    "analyse": (analyse.AnalyseConfig, analyse.main, {}),
}
EXPERIMENTS = {
    "redundancy": (
        redundancy.RedundancyConfig, redundancy.main,
        {"full": REDUNDANCY_FULL, "legacy": REDUNDANCY_LEGACY},
    ),
    "bci": (bci.BCIConfig, bci.main, {"full": BCI_FULL}),
}  # fmt: skip
_NAMES = ",".join([*COMMANDS, "run", "sweep"])
USAGE = f"""usage: bayescortex [--compile-cache DIR] {{{_NAMES}}} [--help] ...

  simulate      simulate trials of the reference model at fixed feedback
  train         learn the feedback over sessions, with engaged and passive recordings
                (preset: --legacy, the first version's definitions)
  analyse       redundancy summary of a recorded NWB file
  run NAME      run an experiment: {", ".join(EXPERIMENTS)} (presets: --full, paper scale;
                --legacy, the first version's definitions: joint-likelihood learning of the
                coupling, no 'none' context, passive = top-down path cut, static frames)
                bci: vectorized instructive signals in dendrites during BCI learning
                (--full: 14 sessions, 8 animals, and the K = 64 speed-ratio comparison)
  sweep NAME    run an experiment at many configurations (--grid name=v1,v2 ...,
                --random N name=lo:hi): one compiled program per shape, resumable shards,
                local devices or a Ray cluster

'bayescortex COMMAND --help' lists a command's flags. --compile-cache DIR (or the environment
variable {CACHE_ENV}=DIR) keeps compiled programs in DIR, so a later run of the same
configuration skips most of its compiling.
"""


def with_preset(cls, presets: dict, args: list[str], prog: str):
    """Parse ``args`` into ``cls``; a ``--<preset>`` flag makes that preset the defaults."""
    chosen = [p for p in presets if f"--{p}" in args]
    if len(chosen) > 1:
        raise SystemExit(f"{prog}: choose one preset of {['--' + p for p in chosen]}")
    args = [a for a in args if a not in {f"--{p}" for p in presets}]
    default = presets[chosen[0]] if chosen else None
    return tyro.cli(cls, args=args, prog=prog, default=default)


def _parse(argv: list[str]):
    command, rest = argv[0], argv[1:]
    if command == "run":
        if not rest or rest[0] in ("-h", "--help"):
            flags = " ".join(
                f"[--{p}]" for p in dict.fromkeys(p for e in EXPERIMENTS.values() for p in e[2])
            )
            print(f"usage: bayescortex run {{{','.join(EXPERIMENTS)}}} [--help] {flags} [flags]")
            raise SystemExit(0 if rest else 2)
        if rest[0] not in EXPERIMENTS:
            raise SystemExit(
                f"bayescortex run: unknown experiment {rest[0]!r}; "
                f"expected one of {tuple(EXPERIMENTS)}"
            )
        (cls, fn, presets), prog = EXPERIMENTS[rest[0]], f"bayescortex run {rest[0]}"
        return command, with_preset(cls, presets, rest[1:], prog), fn
    if command in COMMANDS:
        cls, fn, presets = COMMANDS[command]
        return command, with_preset(cls, presets, rest, f"bayescortex {command}"), fn
    raise SystemExit(f"bayescortex: unknown command {command!r}\n\n{USAGE}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if argv else 2)
    try:
        if argv[0] == "--compile-cache":
            if len(argv) < 3:
                raise SystemExit("bayescortex: --compile-cache DIR must come before a command")
            enable_cache(argv[1])
            argv = argv[2:]
        else:
            cache_from_environment()
        if argv[0] == "sweep":
            sweep_cli.main(argv[1:])
            return
        command, config, fn = _parse(argv)
        fn(config)
    except (ValueError, FloatingPointError, FileExistsError, PermissionError) as err:
        raise SystemExit(f"bayescortex {argv[0]}: {err}") from err
    except KeyboardInterrupt:
        raise SystemExit(f"bayescortex {argv[0]}: interrupted") from None


if __name__ == "__main__":
    main()
