"""Sweeps: one program over many configurations against a Python loop over the same
configurations, the scaling with (host) devices, and compile time, all measured in this run.

Each device count runs in its own process (``XLA_FLAGS=--xla_force_host_platform_device_count
=D`` must be set before jax starts). In every process, each timing after a first call that
compiles (compile seconds reported separately):

- ``loop``: ``redundancy.run(config)`` for each configuration in turn (one program, compiled
  once and reused: the hyperparameters are arrays), then its effects (``redundancy.effects``),
  against the effects of every configuration stacked along ``config`` in one pass (what the
  sweep computes);
- ``program``: ``redundancy.run_configs(configs, placement)``, every configuration in one
  program: vectorised at once (``vmap``) and 4 at a time (``lax.map``);
- ``sweep``: ``sweep("redundancy", base, grid)`` end to end (the program, the stacked
  effects, the shard file, the merge), against the loop with its effects.

Two sizes: ``small`` (16 neurons, 2 seeds, 2 sessions) and ``tiny`` (12 neurons, 10 trials
per contrast: per-call overhead dominates). Prints seconds per configuration and the ratios;
``--json`` writes everything. (On a 2-core machine 4 host devices share 2 cores: the device
axis shows the sharded program's overhead, not a speed-up; on a multi-GPU host it is the
speed-up.)

    python benchmarks/bench_sweep.py                 # 16 configurations, 1, 2 and 4 devices
    python benchmarks/bench_sweep.py --configs 4 --devices 1 --json out.json
    python benchmarks/bench_sweep.py --quick         # smoke run: tiny size, 2 configurations
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

SIZES = {
    # burn_in 2: 18 read-out samples, 3 bins of 6 (the bins must divide them)
    "small": dict(
        seeds=2, sessions=2, neurons=16, units=8, trials_per_session=32, batch=16,
        record_trials=16, coherences=(6.0, 12.0), samples=20, presignal=4, burn_in=2,
        subset_size=8, subsets=8, bootstrap=8, bootstrap_subsets=4, controls=False, chunk=16,
    ),
    "tiny": dict(
        seeds=2, sessions=1, neurons=12, units=6, trials_per_session=16, batch=8,
        record_trials=10, zero_blocks=2, coherences=(6.0, 12.0), samples=12, presignal=3,
        subset_size=6, subsets=6, bootstrap=4, bootstrap_subsets=3, controls=False, chunk=8,
    ),
}  # fmt: skip


def _grid(n: int) -> dict:
    """``n`` learning rates, log-spaced over [10^-2.5, 10^-1]."""
    return {"learning_rate": [float(10 ** (-2.5 + 1.5 * i / max(n - 1, 1))) for i in range(n)]}


def _timed(fn) -> dict:
    """Compile seconds and wall of a first call, and the wall of a second one."""
    from bayescortex.experiments.compilation import compile_time

    with compile_time() as ct:
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    return {"compile_s": ct.seconds, "first_s": first, "seconds": time.perf_counter() - t0}


def worker(n: int, full: bool, sizes: tuple[str, ...] = tuple(SIZES), quick: bool = False) -> dict:
    """Timings in this process (its device count is fixed by XLA_FLAGS). ``full``: each of
    ``sizes``, the loop and both placements; else the first size's vectorised program only
    (``quick``: and the sweep end to end)."""
    import jax
    import xarray as xr

    from bayescortex.experiments.placement import Placement
    from bayescortex.experiments.redundancy import RedundancyConfig, effects, run, run_configs
    from bayescortex.experiments.sweep import sweep

    devices = jax.local_device_count()
    out = {"devices": devices, "configs": n, "backend": jax.default_backend()}
    for size in sizes if full else sizes[:1]:
        base = RedundancyConfig(**SIZES[size])
        configs = [dataclasses.replace(base, learning_rate=v) for v in _grid(n)["learning_rate"]]
        r = out[size] = {}
        placements = {"vmap": Placement(devices)}
        if full:
            placements["batch4"] = Placement(devices, 4)
        for label, placement in placements.items():
            r[f"program_{label}"] = _timed(
                lambda p=placement, cs=configs: run_configs(cs, placement=p, progress=False)
            )
        if not full:
            if quick:  # the sweep end to end, reusing the program just compiled
                r["sweep"] = _timed(
                    lambda b=base: sweep("redundancy", b, _grid(n), devices=devices, progress=False)
                )
            continue
        r["loop"] = _timed(lambda cs=configs: [run(c, progress=False) for c in cs])
        results = [run(c, progress=False) for c in configs]
        t0 = time.perf_counter()
        for ds in results:
            effects(ds)
        r["effects_s"] = time.perf_counter() - t0
        stacked = xr.concat(results, dim="config", join="outer", combine_attrs="drop_conflicts")
        t0 = time.perf_counter()
        effects(stacked)
        r["effects_stacked_s"] = time.perf_counter() - t0
        r["sweep"] = _timed(
            lambda b=base: sweep("redundancy", b, _grid(n), devices=devices, progress=False)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--json", default=None, help="write the measurements to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny, 2 configs")
    args = parser.parse_args()
    from bayescortex.experiments.compilation import cache_if_named

    cache_if_named()  # BAYESCORTEX_COMPILE_CACHE, where it names a folder (else cold)
    sizes = ("tiny",) if args.quick else tuple(SIZES)
    if args.quick:
        args.configs, args.devices = 2, [1]
    if args.worker:
        print(json.dumps(worker(args.configs, args.full, sizes, args.quick)))
        return
    n = args.configs
    results = []
    for d in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}")
        cmd = [sys.executable, __file__, "--worker", "--configs", str(n)]
        cmd += ["--quick"] if args.quick else []
        if d == args.devices[0] and not args.quick:
            cmd.append("--full")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-4000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['devices']} device(s), {r['backend']}, {n} configurations:")
        for size in SIZES:
            if size not in r:
                continue
            m = r[size]
            print(f"  {size}:")
            for key in ("loop", "program_vmap", "program_batch4", "sweep"):
                if key in m:
                    v = m[key]
                    print(f"    {key:15s} {v['seconds']:7.2f} s ({v['seconds'] / n:.3f} s per "
                          f"configuration), compile {v['compile_s']:.1f} s")  # fmt: skip
            if "loop" in m:
                loop = m["loop"]["seconds"]
                best = min(m["program_vmap"]["seconds"], m["program_batch4"]["seconds"])
                print(f"    effects of every configuration: {m['effects_s']:.2f} s one at a "
                      f"time, {m['effects_stacked_s']:.2f} s stacked (what the sweep computes): "
                      f"{m['effects_s'] / m['effects_stacked_s']:.1f}x")  # fmt: skip
                vmap, batch4 = m["program_vmap"]["seconds"], m["program_batch4"]["seconds"]
                print(f"    program / loop speed-up: vmap {loop / vmap:.2f}x, 4 at a time "
                      f"{loop / batch4:.2f}x (best {loop / best:.2f}x)")  # fmt: skip
                print(f"    sweep end to end / (loop + effects): "
                      f"{(loop + m['effects_s']) / m['sweep']['seconds']:.2f}x")  # fmt: skip
    first = results[0][sizes[0]]["program_vmap"]["seconds"]
    for r in results[1:]:
        print(f"{r['devices']} devices vs {results[0]['devices']} ({sizes[0]}, vmap): "
              f"{first / r[sizes[0]]['program_vmap']['seconds']:.2f}x")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": SIZES, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
