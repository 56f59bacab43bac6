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
5. with ``--profile``, where the time and memory go, stage by stage (training, recording, the
   reference d', measures, controls, classic baselines; compile and run apart, peak resident
   memory of each stage), from a shortened run of one trained session (``--seeds`` fewer than
   the preset's allowed), extrapolated to the preset's seeds and sessions;
6. with ``--growth``, how the time after compilation grows with seeds, recorded trials and
   neurons (a small one-session configuration, each factor doubled twice), as ratios to the
   smallest;
7. with ``--programs``, the memory each compiled program asks XLA for (temporaries, arguments,
   outputs; ``memory_analysis`` of the compiled program on one device, nothing run) at one
   seed and at the preset's seeds, with their ratio: a program whose temporaries grow with
   the seeds far beyond its outputs holds something per seed that it need not (the classic
   baselines held every bootstrap replicate's centred trials at once: 6.4 GiB at 5 seeds).

Like the command line, it splits the CPU into two host devices, so a recording's two
conditions run on two cores (``--one-device``: not; the time to compare against).
``--compile-cache DIR`` runs with the persistent compilation cache in DIR (run twice to see
a warm start; the environment variable ``BAYESCORTEX_COMPILE_CACHE``, where it names a folder,
does the same; without either nothing is cached); ``--json`` prints the measured numbers as
one JSON object instead.

    python benchmarks/bench_redundancy.py           # the default run
    python benchmarks/bench_redundancy.py --full    # the paper-scale run
    python benchmarks/bench_redundancy.py --quick   # smoke run with tiny sizes
    python benchmarks/bench_redundancy.py --quick --memory
    python benchmarks/bench_redundancy.py --growth
    python benchmarks/bench_redundancy.py --full --profile --seeds 1   # paper scale, by stage
    python benchmarks/bench_redundancy.py --full --programs   # each program's memory, compiled
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
import time
from pathlib import Path

import jax
import numpy as np

from bayescortex.experiments.compilation import (
    CompileTime,
    cache_if_named,
    compile_time,
    enable_cache,
)
from bayescortex.experiments.placement import (
    VECTORISED,
    kernel_placement,
    one_run,
    put,
    split_cpu,
)
from bayescortex.experiments.redundancy import FULL, RedundancyConfig, run
from bayescortex.experiments.redundancy import network as N
from bayescortex.experiments.redundancy import pipeline as P
from bayescortex.experiments.redundancy.network import network_measures
from bayescortex.experiments.redundancy.run import REFERENCE_SECONDS_PER_TRIAL
from bayescortex.models import Stimulus

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


def _reset_peak() -> None:
    """Reset this process's peak resident memory (Linux: VmHWM), so each stage has its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: peaks are then cumulative


def _peak_now_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return peak_gib()


def profile(config: RedundancyConfig) -> dict:
    """Time and peak memory of every stage of a run of ``config`` shortened to one trained
    session (``sessions=1``), each compiled program timed alone, then extrapolated to
    ``extrapolate_to`` = (seeds, sessions) of the preset: run times scale with seeds (an array
    axis) and with the number of sessions that run each stage; compile time is paid once."""
    short = dataclasses.replace(config, sessions=1)
    static, hyper = short.split()
    placement = one_run()
    hypers, keys = P.stack_configs([hyper]), P.seed_keys(short.seed, short.seeds)[None]
    rows = []

    def stage(name, fn):
        _reset_peak()
        with compile_time() as ct:
            start = time.perf_counter()
            out = jax.block_until_ready(fn())
            wall = time.perf_counter() - start
        run = max(wall - ct.seconds, 0.0)
        rows.append({"stage": name, "wall_seconds": wall, "compile_seconds": ct.seconds,
                     "run_seconds": run, "peak_gib": _peak_now_gib()})  # fmt: skip
        print(f"  {name:34s} {wall:7.1f} s (compile {ct.seconds:5.1f} s), peak "
              f"{rows[-1]['peak_gib']:.2f} GiB", file=sys.stderr, flush=True)  # fmt: skip
        return out

    def record_measure(label, states, session, conds, stream):
        args = put((hypers, states, keys), placement, 3, split=True)
        stats, dprimes = stage(f"record {label}", lambda: P.record_configs(
            static, placement, *args, session, conds))  # fmt: skip
        dp = stage(f"reference d' {label}", lambda: P.reference(dprimes, placement))
        return stage(f"measures {label}", lambda: P.measure_configs(
            static, placement, args[0], stats, dp, args[2], session, stream))  # fmt: skip

    states = stage("initial states", lambda: P.init_states(static, hypers, keys))
    out0 = record_measure("session 0", states, 0, P.main_conditions(static), 0)
    for i, conds in enumerate(P.control_conditions(static)):
        record_measure(f"control pair {i + 1}", states, 0, conds, i + 1)
    args = put((hypers, states, keys), placement, 3)
    states, _ = stage("train session 1", lambda: P.train_configs(static, placement, *args, 1))
    out1 = record_measure("session 1", states, 1, P.main_conditions(static), 0)
    # As run() does: the baselines train to the model's engaged accuracy of each session.
    target = np.stack([np.asarray(o[0]["accuracy"].value)[:, :, 0] for o in (out0, out1)], 2)
    where = kernel_placement(placement)
    stage("classic baselines (2 sessions)",
          lambda: network_measures(static, hypers, keys, target, placement=where))  # fmt: skip
    return {"rows": rows, "seeds": short.seeds, "extrapolate_to": [config.seeds, config.sessions]}


def extrapolate(prof: dict) -> dict:
    """The whole run's time from the profile: per seed scaled to the preset's seeds; recorded
    sessions (main blocks) ``sessions + 1``, trained ``sessions``, controls twice (after
    session 0 and the last), baselines over ``sessions + 1`` sessions; compiling once."""
    seeds, sessions = prof["extrapolate_to"]
    per = {r["stage"]: r for r in prof["rows"]}
    scale = seeds / prof["seeds"]
    run = lambda name: per[name]["run_seconds"] * scale  # noqa: E731
    main = sum(run(f"{k} session 1") for k in ("record", "reference d'", "measures"))
    controls = sum(run(f"{k} control pair {i}") for k in ("record", "reference d'", "measures")
                   for i in (1, 2, 3))  # fmt: skip
    parts = {
        "recorded sessions (main blocks)": (sessions + 1) * main,
        "training": sessions * run("train session 1"),
        "controls (twice)": 2 * controls,
        "classic baselines": run("classic baselines (2 sessions)") * (sessions + 1) / 2,
        "compiling (once)": sum(r["compile_seconds"] for r in prof["rows"]),
    }
    parts["total"] = sum(parts.values())
    return {k: round(v, 1) for k, v in parts.items()}


def print_profile(prof: dict, parts: dict) -> None:
    seeds, sessions = prof["extrapolate_to"]
    print(f"profile ({prof['seeds']} seed(s), session 0 with its controls, 1 trained session):")
    print("| stage | wall s | compile s | run s | peak GiB |\n| --- | --- | --- | --- | --- |")
    for r in prof["rows"]:
        print(f"| {r['stage']} | {r['wall_seconds']:.1f} | {r['compile_seconds']:.1f} | "
              f"{r['run_seconds']:.1f} | {r['peak_gib']:.2f} |")  # fmt: skip
    print(f"extrapolated to {seeds} seeds x {sessions} sessions (estimate, from the rows above):")
    for k, v in parts.items():
        print(f"  {k:34s} {v:8.1f} s ({v / 60:.1f} min)")


def program_memory(config: RedundancyConfig) -> list[dict]:
    """GiB of temporaries, arguments and outputs that XLA reserves for each compiled program of
    ``config`` (one trained session; every program compiled on one device, none run), at one
    seed and at ``config.seeds``."""

    return [row for seeds in sorted({1, config.seeds}) for row in _programs(config, seeds)]


def _programs(config: RedundancyConfig, seeds: int) -> list[dict]:
    rows = []
    static, hyper = dataclasses.replace(config, seeds=seeds, sessions=1).split()
    hypers, keys = P.stack_configs([hyper]), P.seed_keys(config.seed, seeds)[None]
    states = jax.eval_shape(lambda: P.init_states(static, hypers, keys))
    conds = P.main_conditions(static)
    stats, dp = jax.eval_shape(
        lambda s: P.record_configs(static, VECTORISED, hypers, s, keys, 0, conds), states
    )
    dprime = jax.ShapeDtypeStruct(dp.shape[:2] + dp.shape[3:], dp.dtype)
    target = jax.ShapeDtypeStruct((1, seeds, 2), np.float32)
    pixels = Stimulus().size ** 2
    graphdef, params = N.initial_network(pixels, static.network_hidden, 0, N.N_SHARED)
    params = jax.tree.map(lambda a: jax.ShapeDtypeStruct((seeds, *a.shape), a.dtype), params)
    programs = {
        "training": (P.train_configs, (static, VECTORISED, hypers, states, keys, 1)),
        "recording": (P.record_configs, (static, VECTORISED, hypers, states, keys, 0, conds)),
        "measures": (P.measure_configs, (static, VECTORISED, hypers, stats, dprime, keys, 0, 0)),
        "classic baselines": (
            N._networks,
            (static, graphdef, VECTORISED, hypers, keys, target, params),
        ),
    }
    for name, (program, args) in programs.items():
        m = program.lower(*args).compile().memory_analysis()
        rows.append({"program": name, "seeds": seeds,
                     "temp_gib": m.temp_size_in_bytes / 2**30,
                     "argument_gib": m.argument_size_in_bytes / 2**30,
                     "output_gib": m.output_size_in_bytes / 2**30})  # fmt: skip
        print(f"  {name:18s} {seeds} seed(s): temporaries {rows[-1]['temp_gib']:.2f} GiB",
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def print_program_memory(rows: list[dict]) -> None:
    seeds = max(r["seeds"] for r in rows)
    one = {r["program"]: r for r in rows if r["seeds"] == 1}
    print(f"memory XLA reserves per compiled program (GiB; one device; 1 and {seeds} seeds):")
    print("| program | seeds | temporaries | arguments | outputs | temporaries / 1 seed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = r["temp_gib"] / max(one[r["program"]]["temp_gib"], 1e-12)
        print(f"| {r['program']} | {r['seeds']} | {r['temp_gib']:.2f} | {r['argument_gib']:.3f} "
              f"| {r['output_gib']:.3f} | {ratio:.2f}x |")  # fmt: skip


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
    parser.add_argument("--profile", action="store_true", help="time and memory by stage")
    parser.add_argument("--seeds", type=int, help="seeds of the profiled run (fewer: faster)")
    parser.add_argument(
        "--programs",
        action="store_true",
        help="memory of each compiled program at 1 seed and the preset's seeds",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--compile-cache", metavar="DIR", help="persistent compilation cache")
    parser.add_argument("--one-device", action="store_true", help="recordings on one device")
    args = parser.parse_args()
    if not args.one_device:
        split_cpu()  # as `bayescortex run` does: a recording's conditions on two host devices
    if args.compile_cache:
        enable_cache(args.compile_cache)
    else:
        cache_if_named()  # BAYESCORTEX_COMPILE_CACHE, where it names a folder
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
    if args.programs:
        rows = program_memory(config)
        if args.json:
            print(json.dumps({"preset": preset, "programs": rows}))
        else:
            print_program_memory(rows)
        return
    if args.profile:
        prof = profile(dataclasses.replace(config, seeds=args.seeds) if args.seeds else config)
        prof["extrapolate_to"][0] = config.seeds
        parts = extrapolate(prof)
        if args.json:
            print(json.dumps({"preset": preset, **prof, "extrapolated_seconds": parts}))
        else:
            print_profile(prof, parts)
        return
    ds = run(config, progress=not args.json)
    if args.json:
        keep = {k: v for k, v in ds.attrs.items() if isinstance(v, (int, float, str))}
        print(json.dumps({"preset": preset, **keep, "peak_gib": peak_gib()}))
        return
    print(report(config, ds.attrs, preset))


if __name__ == "__main__":
    main()
