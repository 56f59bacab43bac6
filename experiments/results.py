"""Run folders: every result is written with its config and the versions that made it.

``results/<experiment>/<run-id>/`` holds ``config.json``, ``versions.json``, ``results.nc`` (the
xarray Dataset, config also in its attributes), any figures (PNG and PDF) and ``summary.txt``.
The folder is assembled under a temporary name and renamed into place, so a crashed run never
leaves a half-written result where a finished one is expected. Every run folder also holds
``manifest.json``, written last: each final file with its size and SHA-256.
:func:`check_complete` reads it back (``train``, which rewrites the final files of a folder
that keeps its checkpoints, relies on it: see :func:`write_together`). The acceptance criteria's
verdicts, which :func:`run_and_save` collects, are :mod:`.criteria`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import types
import typing
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import jax
import xarray as xr

from .checkpoint import atomic_write
from .criteria import Criterion, NotEvaluable, not_finite

MANIFEST = "manifest.json"
"""The file, written last, that lists a run folder's final files (see :func:`write_together`)."""


def check_fields(config, *, positive=(), non_negative=(), at_most=None) -> None:
    """ValueError naming the first field of ``config`` out of range (NaN is out of range).

    ``at_most`` maps field names to the largest sensible magnitude of their value (a
    ceiling that keeps absurd inputs such as ``1e30`` from overflowing the computation into
    NaN).

    >>> check_fields(types.SimpleNamespace(trials=0), positive=("trials",))
    Traceback (most recent call last):
    ValueError: trials: must be positive, got 0
    >>> check_fields(types.SimpleNamespace(rate=1e30), at_most={"rate": 1.0})
    Traceback (most recent call last):
    ValueError: rate: must be at most 1.0 in magnitude, got 1e+30
    """
    for name in positive:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name}: must be positive, got {getattr(config, name)}")
    for name in non_negative:
        if not getattr(config, name) >= 0:
            raise ValueError(f"{name}: must be >= 0, got {getattr(config, name)}")
    for name, ceiling in (at_most or {}).items():
        if not abs(getattr(config, name)) <= ceiling:
            raise ValueError(
                f"{name}: must be at most {ceiling} in magnitude, got {getattr(config, name)}"
            )


RUN_ID_RULE = (
    "a folder name of 1 to 200 printable characters, without a path separator, not starting "
    "with a dot"
)
"""What :func:`check_run_id` accepts: the one rule of every command's run id."""


def check_run_id(run_id: str | None) -> None:
    """ValueError unless ``run_id`` is None or follows :data:`RUN_ID_RULE` (so no newline or
    other control character, no ``/``, no hidden or relative name such as ``..``).

    >>> check_run_id("first run")
    >>> check_run_id("../elsewhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: run_id: a folder name of 1 to 200 printable characters, ...; got '../elsewhere'
    """
    if run_id is None:
        return
    if (
        not isinstance(run_id, str) or not 1 <= len(run_id.encode()) <= 200
        or not run_id.isprintable() or any(c in run_id for c in "/" + chr(92))
        or run_id.startswith(".")
    ):  # fmt: skip
        raise ValueError(f"run_id: {RUN_ID_RULE}; got {run_id!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Where a command writes its run and the root of its random numbers: the fields of every
    command that writes a run folder (``run``, ``train``, ``simulate``, ``analyse``; inherit
    them). Keyword-only, so a config may still declare required fields of its own."""

    seed: int = 0
    """Root seed: every random number of the run is derived from it (jax.random.fold_in), so
    the same seed gives the same results whatever the batching."""
    output: str = "results"
    """Root folder: the run goes to <output>/<command>/<run_id>/."""
    run_id: str | None = None
    """Run folder name (default: a timestamp). Where the command resumes (run, train), an
    unfinished run of that name is resumed; elsewhere an existing one is an error."""

    def check_run(self) -> None:
        """ValueError unless ``run_id`` follows the one rule of every command
        (:func:`check_run_id`)."""
        check_run_id(self.run_id)


PLACE = ("output", "run_id")
"""The :class:`RunOptions` fields that say where a run goes, not what it computes: a resumed
run may change them, a sweep does not sweep them."""


def config_dict(config) -> dict:
    """A dataclass config as a JSON-ready dict (tuples become lists).

    A non-finite value (NaN, inf) is a ``ValueError`` naming the field: strict JSON has no
    such values, and a config.json holding one could not be read back.
    """
    data = dataclasses.asdict(config)
    for name, value in data.items():
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise ValueError(f"{name}: must be finite, got {value!r}") from None
    return json.loads(json.dumps(data, allow_nan=False))


def check_output(root: str | os.PathLike) -> Path:
    """Make sure run folders can be written under ``root`` (created if missing) before any
    computation: a ``ValueError`` in one line names the folder and the reason otherwise.

    >>> check_output("/proc/no-such-folder")
    Traceback (most recent call last):
    ValueError: output: cannot write run folders to /proc/no-such-folder (No such file or directory)
    """
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output: {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(
            f"output: cannot write run folders to {path} ({err.strerror or err})"
        ) from None
    return path


def load_config(cls, source: str | os.PathLike | dict):
    """Build config ``cls`` from a JSON file or a dict, naming any unknown or mistyped field.

    >>> from bayescortex.experiments.simulate import SimulateConfig
    >>> load_config(SimulateConfig, {"trials": 8}).trials
    8
    """
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"config file {source}: not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"config file {source}: expected a JSON object of fields")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"config: unknown field(s) {unknown} for {cls.__name__}")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(name, hints[name], value)
    return cls(**values)


def _coerce(name, hint, value):
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"config field {name!r}: {value!r} not one of {typing.get_args(hint)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config field {name!r}: expected a list, got {value!r}")
        (inner, *_) = typing.get_args(hint)
        return tuple(_coerce(name, inner, v) for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return _coerce(name, inner, value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is not hint:
        raise ValueError(f"config field {name!r}: expected {hint.__name__}, got {value!r}")
    return value


def versions() -> dict:
    """Versions and platform that produced a result."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in (
        "bayescortex",
        "jax",
        "jaxlib",
        "equinox",
        "numpyro",
        "optax",
        "flax",
        "xarray",
        "numpy",
    ):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    out["devices"] = [str(d) for d in jax.devices()]
    return out


def save_run(
    experiment: str,
    config,
    dataset: xr.Dataset,
    *,
    root: str | os.PathLike = "results",
    run_id: str | None = None,
    figures: dict | None = None,
    summary: str | None = None,
) -> Path:
    """Write a finished run atomically to ``root/experiment/run_id`` and return that folder.

    ``figures`` maps file stems to matplotlib figures (saved as PNG and PDF).
    """
    check_run_id(run_id)
    if run_id is None:
        run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    final = Path(root) / experiment / run_id
    if final.exists():
        raise FileExistsError(f"run_id: {final} exists already")
    tmp = final.with_name(f".{run_id}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    cfg = config_dict(config)
    files = {
        "config.json": lambda p: p.write_text(json.dumps(cfg, indent=2)),
        "versions.json": lambda p: p.write_text(json.dumps(versions(), indent=2)),
    }
    dataset = dataset.assign_attrs(experiment=experiment, config=json.dumps(cfg))
    files["results.nc"] = lambda p: dataset.to_netcdf(p, engine="h5netcdf")
    for stem, fig in (figures or {}).items():
        files[f"{stem}.png"] = lambda p, f=fig: f.savefig(
            p, format="png", dpi=120, bbox_inches="tight"
        )
        files[f"{stem}.pdf"] = lambda p, f=fig: f.savefig(p, format="pdf", bbox_inches="tight")
    if summary is not None:
        files["summary.txt"] = lambda p: p.write_text(summary)
    write_together(tmp, files)
    os.replace(tmp, final)
    return final


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_together(folder: str | os.PathLike, files: dict) -> Path:
    """Write a run's final files into ``folder`` as one unit: ``files`` maps names to
    ``write(path)``; the old :data:`MANIFEST` is removed first, every file is written under a
    temporary name and renamed, and the manifest (each file's size and SHA-256) comes last. A
    reader that finds the manifest and the files it lists (:func:`check_complete`) reads one
    complete set; a run killed while writing leaves no manifest. Returns the manifest's path.
    """
    folder = Path(folder)
    manifest = folder / MANIFEST
    manifest.unlink(missing_ok=True)
    for name, write in files.items():
        atomic_write(folder / name, write)
    listing = {
        name: {"bytes": (folder / name).stat().st_size, "sha256": _digest(folder / name)}
        for name in files
    }
    atomic_write(manifest, lambda p: p.write_text(json.dumps({"files": listing}, indent=2)))
    return manifest


def check_complete(folder: str | os.PathLike) -> list[str]:
    """The final files of run folder ``folder``, checked against its :data:`MANIFEST`: a
    ``ValueError`` naming the folder if the manifest is missing (the run did not finish writing)
    or a file is missing or differs from it."""
    folder = Path(folder)
    try:
        listing = json.loads((folder / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        raise ValueError(
            f"{folder}: incomplete run folder (no {MANIFEST}: the run did not finish writing)"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{folder / MANIFEST}: unreadable ({err})") from err
    for name, entry in listing.items():
        path = folder / name
        if not path.exists():
            raise ValueError(f"{folder}: incomplete run folder ({name} is missing)")
        if path.stat().st_size != entry["bytes"] or _digest(path) != entry["sha256"]:
            raise ValueError(f"{folder}: {name} differs from {MANIFEST} (changed or partial)")
    return list(listing)


def run_folder(experiment: str, config) -> Path:
    """``<config.output>/<experiment>/<run id>`` (run id: the config's, or a timestamp).

    >>> run_folder("train", types.SimpleNamespace(output="out", run_id="a\\nb"))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: run_id: a folder name of 1 to 200 printable characters, ...; got 'a\\nb'
    """
    check_run_id(config.run_id)
    run_id = config.run_id or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(config.output) / experiment / run_id


def run_and_save(
    experiment: str, config, run, *, summary, figures, criteria: Sequence[Criterion] = ()
) -> Path:
    """The ``main`` of an experiment command: ``run(config, checkpoint_dir=...)`` (resuming an
    unfinished run of the same run id from its checkpoints), then write the run folder
    (:func:`save_run`, with ``summary(config, ds)`` and ``figures(ds)``) with the checkpoints
    moved into it, print the summary and return the folder. The output folder and the config
    are checked before anything runs. If one of ``criteria`` (every criterion the summary
    judges) met a non-finite effect (:func:`~.criteria.not_finite`), the folder is still
    written and then :class:`NotEvaluable` is raised (the command exits non-zero)."""
    folder = run_folder(experiment, config)
    config_dict(config)  # a non-finite field fails now, not when config.json is written
    check_output(folder.parent)  # fails now, not after the run, if unwritable
    checkpoints = folder.with_name(f"{folder.name}.checkpoints")
    if folder.exists():
        raise ValueError(f"run_id: {folder} exists already; choose another run_id")
    checkpoints.mkdir(parents=True, exist_ok=True)
    ds = run(config, checkpoint_dir=checkpoints)
    try:
        text = summary(config, ds)
        figs = figures(ds)
    except Exception as err:  # re-raised: says how to get the finished sessions back
        raise RuntimeError(
            f"the report failed after every session had run ({type(err).__name__}: {err}); the "
            f"sessions are checkpointed in {checkpoints}: the same command with --run-id "
            f"{folder.name} resumes there and only redoes the report"
        ) from err
    final = save_run(
        experiment, config, ds, root=config.output, run_id=folder.name, figures=figs,
        summary=text,
    )  # fmt: skip
    shutil.move(os.fspath(checkpoints), os.fspath(final / "checkpoints"))
    print(text)
    print(f"written to {final}")
    unevaluable = not_finite(ds, criteria)
    if unevaluable:
        raise NotEvaluable(
            f"{len(unevaluable)} acceptance criteria not evaluable (an effect they use is not "
            f"finite; counted as FAIL): {'; '.join(unevaluable)}. Results written to {final}"
        )
    return final
