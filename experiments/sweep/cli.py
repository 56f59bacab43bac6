"""``bayescortex sweep <experiment>``: the command line of :func:`~.run.sweep`."""

from __future__ import annotations

import argparse

from ..results import check_output, config_dict, run_folder
from .points import parse_grid, random_points
from .report import save
from .run import experiment_named, experiments, sweep


def main(argv: list[str]) -> None:
    """``bayescortex sweep <experiment> --grid name=v1,v2 [--random N name=lo:hi[:log] ...]
    [sweep flags] [experiment flags]``."""
    args, part, base, grid, random = parse(argv)
    folder = run_folder(f"sweep/{args.experiment}", base)
    check_output(folder)  # an unwritable --output fails now, before any computation
    exp = experiment_named(args.experiment)
    ds = sweep(
        args.experiment, base, grid, random=random, folder=folder, shard_size=args.shard_size,
        devices=args.devices, batch=args.config_batch, executor="ray" if args.ray else "local",
        ray_gpus=args.ray_gpus, part=part,
    )  # fmt: skip
    meta = {
        "experiment": args.experiment, "base": config_dict(base), "grid": grid,
        "random": random, "shard_size": args.shard_size, "devices": args.devices,
        "batch": args.config_batch, "executor": "ray" if args.ray else "local",
    }  # fmt: skip
    if part[1] > 1:
        print(f"part {part[0]}/{part[1]} done; shards in {folder / 'shards'}. Once every part "
              f"is done, run the same command without --part to merge them.")  # fmt: skip
        return
    print(save(folder, ds, exp.headline, meta))
    print(f"written to {folder}")


def parse(argv: list[str]):
    """The sweep's flags, ``part``, base config, grid and random points (nothing runs)."""

    from ..cli import EXPERIMENTS, with_preset

    parser = argparse.ArgumentParser(
        prog="bayescortex sweep",
        allow_abbrev=False,
        description="Run an experiment at many configurations: one compiled program per "
        "shape, configurations vectorised and split over devices, shards that resume. Every "
        "other flag sets the base config (see 'bayescortex run <experiment> --help').",
    )
    parser.add_argument("experiment", choices=sorted(experiments()))
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
        type=int,
        default=None,
        help="configurations per shard (resume and Ray granularity; "
        "default: one shard per shape group)",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help="local devices to split configurations over (default: all)",
    )
    parser.add_argument(
        "--config-batch",
        type=int,
        default=None,
        help="configurations vectorised at once per device (memory bound)",
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help="one Ray task per shard (RAY_ADDRESS, or a local cluster)",
    )
    parser.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per Ray task")
    parser.add_argument(
        "--part", default="0/1", metavar="I/N",
        help="run only the shards k with k %% N == I (N processes sharing --output)",
    )  # fmt: skip
    args, rest = parser.parse_known_args(argv)
    try:
        part = tuple(int(v) for v in args.part.split("/"))
    except ValueError as err:
        raise ValueError(f"--part: expected I/N, got {args.part!r}") from err
    cls = experiment_named(args.experiment).config
    presets = EXPERIMENTS[args.experiment][2] if args.experiment in EXPERIMENTS else {}
    base = with_preset(cls, presets, rest, f"bayescortex sweep {args.experiment}")
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
    return args, part, base, grid, random
