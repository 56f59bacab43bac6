"""Wall time and memory of the whole redundancy reproduction, measured in this run.

Runs ``bayescortex run redundancy`` (default or paper-scale) without writing a run folder and
prints, as measured (never asserted):

1. wall time of training, recording and measures (one compiled pipeline), split into
   compilation and the rest, and of the report;
2. the number of model trials and the time per trial after compilation;
3. the ratio to the previous implementation's recorded wall time for the same configuration
   (Python loops over seeds, modes and bootstrap pieces, raw trials held in memory; measured
   on this kind of machine, 2 cores, at commit 0e1e453: default 219 s, paper scale 4149 s),
   and to the authors' MATLAB cost (5 s per trial);
4. the peak resident memory of the process, and the bytes raw recorded counts would take
   against the bytes of the streamed statistics; with ``--memory``, the peak memory of a
   one-session run at 1x and 4x the recorded trials (each in a fresh process), to show that
   memory no longer grows with the number of trials;
5. with ``--growth``, how the time after compilation grows with seeds, recorded trials and
   neurons (a small one-session configuration, each factor doubled twice), as ratios to the
   smallest.

Like the command line, it splits the CPU into two host devices, so a recording's two
conditions run on two cores (``--one-device``: not; the time to compare against).
``--compile-cache DIR`` runs with the persistent compilation cache in DIR (run twice to see
a warm start); ``--json`` prints the measured numbers as one JSON object instead.

    python benchmarks/bench_redundancy.py           # the default run
    python benchmarks/bench_redundancy.py --full    # the paper-scale run
    python benchmarks/bench_redundancy.py --quick   # smoke run with tiny sizes
    python benchmarks/bench_redundancy.py --quick --memory
    python benchmarks/bench_redundancy.py --growth
    python benchmarks/bench_redundancy.py --compile-cache ~/.cache/bayescortex   # twice
    python benchmarks/bench_redundancy.py --one-device   # recordings on one device
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys

from bayescortex.experiments.compilation import CompileTime, enable_cache
from bayescortex.experiments.placement import split_cpu
from bayescortex.experiments.redundancy import FULL, RedundancyConfig, run
from bayescortex.experiments.redundancy.run import REFERENCE_SECONDS_PER_TRIAL

PREVIOUS_SECONDS = {"default": 219.0, "full": 4149.0}
"""Recorded wall time of the previous implementation (commit 0e1e453, 2 cores)."""

QUICK = RedundancyConfig(
    seeds=2, sessions=1, neurons=16, units=8, trials_per_session=32, record_trials=24,
    subset_size=8, subsets=8, bootstrap=8, bootstrap_subsets=4, network_steps=20,
    network_hidden=16,
)  # fmt: skip


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)


def report(config: RedundancyConfig, attrs: dict, preset: str) -> str:
    sim, sim_c = attrs["simulation_seconds"], attrs["simulation_compile_seconds"]
    rep = attrs["analysis_seconds"]
    trials = attrs["trials_simulated"]
    per_trial = (sim - sim_c) / trials
    matlab = trials * REFERENCE_SECONDS_PER_TRIAL
    total = sim + rep
    lines = [
        f"redundancy run ({preset}): {config.seeds} seeds x {config.sessions} sessions, "
        f"{config.neurons} neurons, {config.record_trials} trials per contrast, "
        f"{config.bootstrap} bootstrap resamples",
        f"  pipeline    {sim:8.1f} s   compile {sim_c:7.1f} s   run {sim - sim_c:8.1f} s",
        f"  compiling: {CompileTime.from_attrs(sim_c, attrs).describe()}",
        f"  report      {rep:8.1f} s",
        f"  placement   {attrs.get('placement', '?')} on {attrs.get('backend', '?')}",
        f"  model trials {trials}: {1e3 * per_trial:.2f} ms per trial after compilation",
        f"  MATLAB at {REFERENCE_SECONDS_PER_TRIAL:g} s per trial: {matlab / 3600:.1f} h; "
        f"{REFERENCE_SECONDS_PER_TRIAL / per_trial:.0f}x per trial, {matlab / total:.0f}x wall",
    ]
    if preset in PREVIOUS_SECONDS:
        prev = PREVIOUS_SECONDS[preset]
        lines.append(f"  previous implementation {prev:.0f} s: {prev / total:.2f}x faster now")
    p = config.split()[0].protocol
    blocks = (config.sessions + 1) * 2 + (8 if config.controls else 0)
    raw = config.seeds * blocks * p.record_trials * (p.bins + 1) * p.neurons * 4
    stats = config.seeds * 2 * (p.resamples + 1) * (p.bins + 1) * p.neurons**2 * 4
    lines.append(
        f"  raw recorded counts would take {raw / 2**30:.2f} GiB (grows with trials); the "
        f"streamed statistics in flight take {stats / 2**30:.2f} GiB (does not)"
    )
    lines.append(f"  peak resident memory {peak_gib():.2f} GiB")
    return "\n".join(lines)


def memory_check() -> None:
    """Peak memory of a one-session run at 1x and 4x the recorded trials, fresh processes."""
    peaks = {}
    base = RedundancyConfig(seeds=1, sessions=1, bootstrap=20, controls=False)
    for factor in (1, 4):
        cfg = dataclasses.replace(base, record_trials=base.record_trials * factor)
        code = (
            "import json, resource, dataclasses\n"
            "from bayescortex.experiments.redundancy import RedundancyConfig, run\n"
            f"run(RedundancyConfig(**json.loads({json.dumps(json.dumps(dataclasses.asdict(cfg)))})),"
            " progress=False)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        peaks[factor] = float(out.stdout.strip().splitlines()[-1])
        print(f"  {cfg.record_trials} trials per contrast: peak {peaks[factor]:.2f} GiB")
    print(f"  4x the trials -> {peaks[4] / peaks[1]:.2f}x the peak memory")


GROWTH_BASE = RedundancyConfig(
    seeds=1, sessions=1, neurons=16, units=8, trials_per_session=32, record_trials=24,
    subset_size=8, subsets=8, bootstrap=8, bootstrap_subsets=4, controls=False,
)  # fmt: skip


def growth() -> dict[str, list[dict]]:
    """Seconds of a second, already compiled run as seeds, recorded trials and neurons double,
    twice each (the first run of each size compiles; its compile time is reported too)."""
    factors = {"seeds": (1, 2, 4), "record_trials": (24, 48, 96), "neurons": (16, 32, 64)}
    table = {}
    for field, values in factors.items():
        rows = []
        for value in values:
            changes = {field: value}
            if field == "neurons":
                changes["subset_size"] = value // 2
            cfg = dataclasses.replace(GROWTH_BASE, **changes)
            first = run(cfg, progress=False).attrs  # compiles
            again = run(cfg, progress=False).attrs  # the same programs, already compiled
            rows.append({field: value, "run_seconds": again["simulation_seconds"],
                         "compile_seconds": first["simulation_compile_seconds"]})  # fmt: skip
        for row in rows:
            row["ratio"] = row["run_seconds"] / rows[0]["run_seconds"]
        table[field] = rows
    return table


def print_growth(table: dict[str, list[dict]]) -> None:
    print("time after compilation as one factor doubles (1 session, 16 neurons, 1 seed, ...)")
    for field, rows in table.items():
        cells = ", ".join(f"{r[field]}: {r['run_seconds']:.2f} s ({r['ratio']:.2f}x)" for r in rows)
        print(f"  {field:14s} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    group.add_argument("--full", action="store_true", help="the paper-scale preset")
    parser.add_argument("--memory", action="store_true", help="peak memory at 1x and 4x trials")
    parser.add_argument("--growth", action="store_true", help="cost vs seeds, trials, neurons")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--compile-cache", metavar="DIR", help="persistent compilation cache")
    parser.add_argument("--one-device", action="store_true", help="recordings on one device")
    args = parser.parse_args()
    if not args.one_device:
        split_cpu()  # as `bayescortex run` does: a recording's conditions on two host devices
    if args.compile_cache:
        enable_cache(args.compile_cache)
    if args.growth:
        table = growth()
        if args.json:
            print(json.dumps(table))
        else:
            print_growth(table)
        return
    preset = "quick" if args.quick else "full" if args.full else "default"
    config = {"quick": QUICK, "full": FULL, "default": RedundancyConfig()}[preset]
    if args.memory:
        memory_check()
        return
    ds = run(config, progress=not args.json)
    if args.json:
        keep = {k: v for k, v in ds.attrs.items() if isinstance(v, (int, float, str))}
        print(json.dumps({"preset": preset, **keep, "peak_gib": peak_gib()}))
        return
    print(report(config, ds.attrs, preset))


if __name__ == "__main__":
    main()
