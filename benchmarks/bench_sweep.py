"""Sweeps: one vectorised program over many configurations against a Python loop over the
same configurations, the scaling with the number of configurations and of (host) devices, and
compile time, all measured in this run.

Each device count runs in its own process (``XLA_FLAGS=--xla_force_host_platform_device_count
=D`` must be set before jax starts). In every process, after one call that compiles:

- ``loop``: ``redundancy.run(config)`` for each configuration in turn (one program, compiled
  once, reused: the hyperparameters are arrays);
- ``sweep``: ``sweep("redundancy", base, grid)``, every configuration in one program with the
  configuration axis split over the D devices.

Prints seconds per configuration, the ratio loop / sweep and the compile seconds;
``--json`` writes them as JSON. (On a 2-core machine 4 host devices share 2 cores: the device
axis shows the sharded program's overhead, not a speed-up; on a multi-GPU host it is the
speed-up.)

    python benchmarks/bench_sweep.py                 # 16 configurations, 1, 2 and 4 devices
    python benchmarks/bench_sweep.py --configs 4 --devices 1 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

SMALL = dict(
    seeds=2, sessions=2, neurons=16, units=8, trials_per_session=32, batch=16,
    record_trials=16, coherences=(6.0, 12.0), samples=20, presignal=4, subset_size=8,
    subsets=8, bootstrap=8, bootstrap_subsets=4, controls=False, chunk=16,
)  # fmt: skip
"""A small configuration (the sweep's natural unit on a laptop): 16 neurons, 2 seeds."""


def _grid(n: int) -> dict:
    """``n`` learning rates, log-spaced over [10^-2.5, 10^-1]."""
    return {"learning_rate": [float(10 ** (-2.5 + 1.5 * i / max(n - 1, 1))) for i in range(n)]}


def worker(n_configs: int, loop: bool, scaling: list[int]) -> dict:
    """Timings in this process (its device count is fixed by XLA_FLAGS)."""
    import jax

    from bayescortex.experiments.redundancy import RedundancyConfig, run
    from bayescortex.experiments.results import compile_time
    from bayescortex.experiments.sweep import sweep

    base = RedundancyConfig(**SMALL)
    devices = jax.local_device_count()
    out = {"devices": devices, "configs": n_configs, "backend": jax.default_backend()}

    def timed(fn):
        with compile_time() as ct:
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
        t0 = time.perf_counter()
        fn()
        return first, ct.seconds, time.perf_counter() - t0

    for n in sorted({*scaling, n_configs}):
        grid = _grid(n)
        first, compiled, warm = timed(
            lambda g=grid: sweep("redundancy", base, g, devices=devices, progress=False)
        )
        out[f"sweep_{n}"] = {"first_s": first, "compile_s": compiled, "seconds": warm,
                             "per_config_s": warm / n}  # fmt: skip
    if loop:
        configs = [
            dataclasses.replace(base, learning_rate=v) for v in _grid(n_configs)["learning_rate"]
        ]
        with compile_time() as ct:
            run(configs[0], progress=False)
        t0 = time.perf_counter()
        for c in configs:
            run(c, progress=False)
        seconds = time.perf_counter() - t0
        out["loop"] = {"compile_s": ct.seconds, "seconds": seconds,
                       "per_config_s": seconds / n_configs}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--json", default=None, help="write the measurements to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scaling", type=int, nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.configs, args.loop, args.scaling)))
        return
    results = []
    for d in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}")
        first = d == args.devices[0]
        cmd = [sys.executable, __file__, "--worker", "--configs", str(args.configs)]
        if first:  # the loop and the scaling with configurations, on the first device count
            cmd += ["--loop", "--scaling", *map(str, sorted({1, 4, args.configs}))]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-4000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['devices']} device(s), {r['backend']}:")
        for key, v in r.items():
            if key.startswith("sweep_"):
                n = int(key.split("_")[1])
                print(f"  sweep of {n:3d} configurations: {v['seconds']:7.2f} s "
                      f"({v['per_config_s']:.3f} s per configuration), compile "
                      f"{v['compile_s']:.1f} s")  # fmt: skip
        if "loop" in r:
            loop, sw = r["loop"], r[f"sweep_{args.configs}"]
            print(f"  Python loop over {args.configs}:      {loop['seconds']:7.2f} s "
                  f"({loop['per_config_s']:.3f} s per configuration), compile "
                  f"{loop['compile_s']:.1f} s")  # fmt: skip
            print(f"  sweep / loop speed-up at {args.configs} configurations: "
                  f"{loop['seconds'] / sw['seconds']:.1f}x")  # fmt: skip
    base = results[0][f"sweep_{args.configs}"]["seconds"]
    for r in results[1:]:
        print(f"{r['devices']} devices vs {results[0]['devices']}: "
              f"{base / r[f'sweep_{args.configs}']['seconds']:.2f}x")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"small_config": SMALL, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
