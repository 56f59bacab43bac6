"""``bayescortex sweep <experiment>``: the command line of :func:`~.run.sweep`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np

from ..commands import refuse_repeats, with_preset
from ..experiment import experiment_named, names
from ..results import check_output, config_dict, run_folder
from .points import parse_grid, points, random_points
from .report import save
from .run import sweep

NOT_OK = ("nan", "invalid", "error")
"""Statuses that make ``bayescortex sweep`` exit non-zero (``pending``: another part's)."""


def main(argv: list[str]) -> None:
    """``bayescortex sweep <experiment> --grid name=v1,v2 [--random N name=lo:hi[:log] ...]
    [sweep flags] [experiment flags]``. Exits non-zero (after writing the sweep folder) when a
    configuration is not ok, naming each; Ctrl-C stops between shards and says how to resume."""
    args, part, base, grid, random = parse(argv)
    folder = run_folder(f"sweep/{args.experiment}", base)
    check_output(folder)  # an unwritable --output fails now, before any computation
    exp = experiment_named(args.experiment)
    try:
        ds = sweep(
            args.experiment, base, grid, random=random, folder=folder,
            shard_size=args.shard_size, devices=args.devices, batch=args.config_batch,
            executor="ray" if args.ray else "local", ray_gpus=args.ray_gpus, part=part,
        )  # fmt: skip
    except KeyboardInterrupt:
        shards = folder / "shards"
        done = len(list(shards.glob("*.nc"))) if shards.is_dir() else 0
        raise SystemExit(
            f"bayescortex sweep: interrupted; {done} finished shard(s) kept in {shards}: run the "
            f"same command with --run-id {folder.name} to resume"
        ) from None
    meta = {
        "experiment": args.experiment, "base": config_dict(base), "grid": grid,
        "random": random, "shard_size": args.shard_size, "devices": args.devices,
        "batch": args.config_batch, "executor": "ray" if args.ray else "local",
    }  # fmt: skip
    if part[1] > 1:
        print(f"part {part[0]}/{part[1]} done; shards in {folder / 'shards'}. Once every part "
              f"is done, run the same command without --part to merge them.")  # fmt: skip
    else:
        print(save(folder, ds, exp.headline, meta))
        print(f"written to {folder}")
    failed = failures(ds)
    if failed:
        raise SystemExit(
            f"bayescortex sweep: {len(failed)} of {ds.sizes['config']} configurations not ok "
            f"(results in {folder}):\n" + "\n".join(failed)
        )


def failures(ds) -> list[str]:
    """One line per configuration whose status is in :data:`NOT_OK`: its index, swept values,
    status and the first line of its message."""
    names = json.loads(ds.attrs.get("swept", "[]"))
    lines = []
    for i in np.flatnonzero(np.isin(ds.status.values.astype(str), NOT_OK)):
        where = ", ".join(f"{n}={ds[n].values[i]}" for n in names)
        why = (str(ds.message.values[i]).strip().splitlines() or ["no message"])[0]
        lines.append(f"  config {i} ({where}): {ds.status.values[i]}: {why}")
    return lines


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _gpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 1024):
        raise argparse.ArgumentTypeError(f"must lie in [0, 1024], got {value:g}")
    return value


def parse(argv: list[str]):
    """The sweep's flags, ``part``, base config, grid and random points (nothing runs)."""

    parser = argparse.ArgumentParser(
        prog="bayescortex sweep",
        allow_abbrev=False,
        description="Run an experiment at many configurations: one compiled program per "
        "shape, configurations vectorised and split over devices, shards that resume. Every "
        "other flag sets the base config (see 'bayescortex run <experiment> --help').",
    )
    parser.add_argument("experiment", choices=sorted(names()))
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values of one config field; several --grid: their product",
    )
    parser.add_argument(
        "--random",
        nargs="+",
        default=None,
        metavar="N NAME=LO:HI[:log]",
        help="N random points, each field drawn in [LO, HI] (log-uniform: :log)",
    )
    parser.add_argument(
        "--shard-size",
        type=_positive_int,
        default=None,
        help="configurations per shard, at least 1 (resume and Ray granularity; "
        "default: one shard per shape group)",
    )
    parser.add_argument(
        "--devices",
        type=_positive_int,
        default=None,
        help="local devices to split configurations over, at least 1 (default: every "
        "device, each configuration alone and laid out as 'run' lays it out, which gives its "
        "run's numbers; an explicit layout gives them to float rounding only, which the "
        "sampler can amplify)",
    )
    parser.add_argument(
        "--config-batch",
        type=_positive_int,
        default=None,
        help="configurations vectorised at once per device, at least 1 (memory bound; "
        "faster on an accelerator, but see --devices: default one at a time)",
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help="one Ray task per shard (RAY_ADDRESS, or a local cluster)",
    )
    parser.add_argument("--ray-gpus", type=_gpus, default=0.0, help="GPUs per Ray task, >= 0")
    parser.add_argument(
        "--part", default="0/1", metavar="I/N",
        help="run only the shards k with k %% N == I (N processes sharing --output)",
    )  # fmt: skip
    refuse_repeats(argv, repeatable=("--grid",))
    args, rest = parser.parse_known_args(argv)
    try:
        part = tuple(int(v) for v in args.part.split("/"))
    except ValueError as err:
        raise ValueError(f"--part: expected I/N, got {args.part!r}") from err
    exp = experiment_named(args.experiment)
    cls = exp.config
    base = with_preset(cls, exp.presets, rest, f"bayescortex sweep {args.experiment}")
    grid = parse_grid(cls, args.grid)
    random = None
    if args.random:
        try:
            n = int(args.random[0])
        except ValueError as err:
            raise ValueError(f"--random: the first value is the number of points, got "
                             f"{args.random[0]!r}") from err  # fmt: skip
        random = random_points(cls, n, args.random[1:], base.seed)
    if not grid and not random:
        raise ValueError("sweep: give at least one --grid or --random")
    if part[1] > 1 and base.run_id is None:
        raise ValueError("--part: give --run-id, the folder every part writes its shards to")
    check_points(base, grid, random)
    return args, part, base, grid, random


def check_points(base, grid, random) -> None:
    """ValueError naming the first point of the sweep whose config is refused (a value out of
    its range, a combination that is invalid): nothing runs before every point is valid."""
    for i, point in enumerate(points(grid, random)):
        try:
            dataclasses.replace(base, **point)
        except (ValueError, TypeError) as err:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"sweep: point {i} ({where}) is refused: {first}") from None
