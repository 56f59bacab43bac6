"""Run folders: every result is written with its config and the versions that made it.

``results/<experiment>/<run-id>/`` holds ``config.json``, ``versions.json``, ``results.nc`` (the
xarray Dataset, config also in its attributes), any figures (PNG and PDF) and ``summary.txt``.
The folder is assembled under a temporary name and renamed into place, so a crashed run never
leaves a half-written result where a finished one is expected.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import sys
import types
import typing
from importlib import metadata
from pathlib import Path

import jax
import xarray as xr


def check_fields(config, *, positive=(), non_negative=()) -> None:
    """ValueError naming the first field of ``config`` out of range (NaN is out of range).

    >>> check_fields(types.SimpleNamespace(trials=0), positive=("trials",))
    Traceback (most recent call last):
    ValueError: trials: must be positive, got 0
    """
    for name in positive:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name}: must be positive, got {getattr(config, name)}")
    for name in non_negative:
        if not getattr(config, name) >= 0:
            raise ValueError(f"{name}: must be >= 0, got {getattr(config, name)}")


def config_dict(config) -> dict:
    """A dataclass config as a JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


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
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    (tmp / "versions.json").write_text(json.dumps(versions(), indent=2))
    dataset = dataset.assign_attrs(experiment=experiment, config=json.dumps(cfg))
    dataset.to_netcdf(tmp / "results.nc", engine="h5netcdf")
    for stem, fig in (figures or {}).items():
        fig.savefig(tmp / f"{stem}.png", dpi=120, bbox_inches="tight")
        fig.savefig(tmp / f"{stem}.pdf", bbox_inches="tight")
    if summary is not None:
        (tmp / "summary.txt").write_text(summary)
    os.replace(tmp, final)
    return final


def run_folder(experiment: str, config) -> Path:
    """``<config.output>/<experiment>/<run id>`` (run id: the config's, or a timestamp).

    >>> run_folder("train", types.SimpleNamespace(output="out", run_id="../elsewhere"))
    Traceback (most recent call last):
    ValueError: run_id: a folder name without path separators, got '../elsewhere'
    """
    run_id = config.run_id or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    if Path(run_id).name != run_id or run_id in (".", "..") or "\\" in run_id:
        raise ValueError(f"run_id: a folder name without path separators, got {run_id!r}")
    return Path(config.output) / experiment / run_id


def run_and_save(experiment: str, config, run, *, summary, figures) -> Path:
    """The ``main`` of an experiment command: ``run(config, checkpoint_dir=...)`` (resuming an
    unfinished run of the same run id from its checkpoints), then write the run folder
    (:func:`save_run`, with ``summary(config, ds)`` and ``figures(ds)``) with the checkpoints
    moved into it, print the summary and return the folder."""
    folder = run_folder(experiment, config)
    checkpoints = folder.with_name(f"{folder.name}.checkpoints")
    if folder.exists():
        raise ValueError(f"run_id: {folder} exists already; choose another run_id")
    checkpoints.mkdir(parents=True, exist_ok=True)  # fails now, not after the run, if unwritable
    ds = run(config, checkpoint_dir=checkpoints)
    text = summary(config, ds)
    final = save_run(
        experiment, config, ds, root=config.output, run_id=folder.name, figures=figures(ds),
        summary=text,
    )  # fmt: skip
    shutil.move(os.fspath(checkpoints), os.fspath(final / "checkpoints"))
    print(text)
    print(f"written to {final}")
    return final


def evaluate_criteria(ds: xr.Dataset, criteria) -> list[tuple[str, bool | None]]:
    """Each ``(text, check)`` of ``criteria`` and whether it holds on the effects of ``ds``
    (``effect_value``, ``effect_low``, ``effect_high`` along ``effect``); ``check(e)`` reads an
    effect as ``e(name) -> (value, low, high)``. None where an effect it uses was not
    computed (its data were not run); False, never a pass, where one is not finite."""

    def e(name):
        row = ds.sel(effect=name)
        return float(row.effect_value), float(row.effect_low), float(row.effect_high)

    def names_used(check) -> list[str]:
        seen: list[str] = []
        check(lambda name: seen.append(name) or (0.0, 0.0, 0.0))
        return seen

    out = []
    for text, check in criteria:
        try:
            if any(not all(math.isfinite(v) for v in e(n)) for n in names_used(check)):
                out.append((text, False))
                continue
            out.append((text, bool(check(e))))
        except KeyError:
            out.append((text, None))
    return out
