"""The ``bayescortex`` command: ``simulate``, ``train``, ``analyse`` and ``run <experiment>``.

Each command is a frozen dataclass config (typed flags via tyro, help from the field
docstrings) and a ``main(config)``, registered in :mod:`bayescortex.experiments.commands`
(``COMMANDS``, with their presets); ``run NAME`` runs an experiment of
:mod:`bayescortex.experiments.experiment` (``Experiment.main``, with the experiment's
presets). This module parses the command line and reports errors as one line.
"""

from __future__ import annotations

import sys

from . import experiment
from .commands import COMMANDS, with_preset
from .compilation import CACHE_ENV, cache_from_environment, default_cache_dir, enable_cache
from .placement import split_cpu

_NAMES = ",".join([*COMMANDS, "run", "sweep"])
USAGE = f"""usage: bayescortex [--compile-cache DIR | --no-compile-cache] {{{_NAMES}}} [--help] ...

  simulate      simulate trials of the reference model at fixed feedback
  train         learn the feedback over sessions, with engaged and passive recordings
                (preset: --legacy, the first version's definitions)
  analyse       redundancy summary of a recorded NWB file
  run NAME      run an experiment: {", ".join(experiment.names())} (presets: --full, paper scale;
                --legacy, the first version's definitions: joint-likelihood learning of the
                coupling, no 'none' context, passive = top-down path cut, static frames)
                bci: vectorized instructive signals in dendrites during BCI learning
                (--full: 14 sessions, 8 animals, and the K = 64 speed-ratio comparison)
  sweep NAME    run an experiment at many configurations (--grid name=v1,v2 ...,
                --random N name=lo:hi): one compiled program per shape, resumable shards,
                local devices or a Ray cluster

'bayescortex COMMAND --help' lists a command's flags. Compiled programs are kept in a
persistent cache ({default_cache_dir() or "off"} here), so a later run of the same
configuration skips most of its compiling: --compile-cache DIR (or the environment variable
{CACHE_ENV}=DIR) moves it, --no-compile-cache (or {CACHE_ENV}=off) turns it off.
"""


def _parse(argv: list[str]):
    command, rest = argv[0], argv[1:]
    if command == "run":
        known = experiment.names()
        if not rest or rest[0] in ("-h", "--help"):
            presets = (p for name in known for p in _experiment(name).presets)
            flags = " ".join(f"[--{p}]" for p in dict.fromkeys(presets))
            print(f"usage: bayescortex run {{{','.join(known)}}} [--help] {flags} [flags]")
            raise SystemExit(0 if rest else 2)
        if rest[0] not in known:
            raise SystemExit(
                f"bayescortex run: unknown experiment {rest[0]!r}; expected one of {tuple(known)}"
            )
        exp, prog = _experiment(rest[0]), f"bayescortex run {rest[0]}"
        return command, with_preset(exp.config, exp.presets, rest[1:], prog), exp.main
    if command in COMMANDS:
        cls, fn, presets = COMMANDS[command]
        return command, with_preset(cls, presets, rest, f"bayescortex {command}"), fn
    raise SystemExit(f"bayescortex: unknown command {command!r}\n\n{USAGE}")


def _experiment(name: str) -> experiment.Experiment:
    try:
        return experiment.experiment_named(name)
    except ModuleNotFoundError as err:
        raise SystemExit(
            f"bayescortex: {name!r} needs the model stack ({err.name} is not installed): "
            "pip install 'bayescortex[models]'"
        ) from err


def _sweep_cli():
    try:
        from .sweep import cli
    except ModuleNotFoundError as err:
        raise SystemExit(
            f"bayescortex: 'sweep' needs the model stack ({err.name} is not installed): "
            "pip install 'bayescortex[models]'"
        ) from err
    return cli


def parse(argv: list[str]):
    """The config ``bayescortex <argv>`` would run, resolved and validated; nothing runs.

    ``argv`` as after ``bayescortex`` (``--compile-cache DIR`` or ``--no-compile-cache``
    allowed first). For ``sweep``, the sweep's flags, part, base config, grid and random
    points. Unknown commands, flags or invalid values raise ``SystemExit`` or ``ValueError`` as
    the command would.
    """
    if argv[:1] == ["--compile-cache"]:
        argv = argv[2:]
    elif argv[:1] == ["--no-compile-cache"]:
        argv = argv[1:]
    if argv[:1] == ["sweep"]:
        return _sweep_cli().parse(argv[1:])
    return _parse(argv)[1]


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
        elif argv[0] == "--no-compile-cache":
            if len(argv) < 2:
                raise SystemExit("bayescortex: --no-compile-cache must come before a command")
            argv = argv[1:]
        else:
            cache_from_environment()
        if argv[0] in ("run", "sweep"):  # before anything starts jax's backends
            # Two host devices: a recording's two conditions (run), or the configurations
            # (sweep), on two cores.
            split_cpu()
        if argv[0] == "sweep":
            _sweep_cli().main(argv[1:])
            return
        command, config, fn = _parse(argv)
        fn(config)
    except FloatingPointError as err:
        raise SystemExit(
            f"bayescortex {argv[0]}: non-finite numbers during the run ({_first_line(err)}); "
            "check the inputs, or rerun with JAX_DEBUG_NANS=1 to find the operation"
        ) from err
    except (ValueError, OSError) as err:
        raise SystemExit(f"bayescortex {argv[0]}: {_first_line(err)}") from err
    except MemoryError as err:
        raise SystemExit(
            f"bayescortex {argv[0]}: out of memory ({_first_line(err) or 'no detail'}); run "
            "fewer trials, seeds or configurations at once, or a smaller --chunk"
        ) from err
    except KeyboardInterrupt:
        raise SystemExit(f"bayescortex {argv[0]}: interrupted") from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


if __name__ == "__main__":
    main()
