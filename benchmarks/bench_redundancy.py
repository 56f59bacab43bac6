"""Wall time of the whole redundancy reproduction, as measured in this run (never asserted).

Runs ``bayescortex run redundancy`` (default or paper-scale) without writing a run folder and
prints:

1. wall time of the simulation (training plus every recorded block, all seeds) and of the
   analysis (estimators, subsets, bootstrap), each split into compilation and the rest;
2. the number of model trials and the time per trial after compilation;
3. the same trials at the authors' MATLAB cost (5 s per trial, the lower end of SCIENCE.md's
   5-7 s), and the ratio to this run's wall time, compilation included;
4. the peak resident memory of the process.

    python benchmarks/bench_redundancy.py           # the default run (~4 min on 2 cores)
    python benchmarks/bench_redundancy.py --full    # the paper-scale run
    python benchmarks/bench_redundancy.py --quick   # smoke run with tiny sizes
"""

from __future__ import annotations

import argparse
import resource

from bayescortex.experiments.redundancy import (
    REFERENCE_SECONDS_PER_TRIAL,
    RedundancyConfig,
    run,
)

QUICK = dict(
    seeds=2,
    sessions=1,
    neurons=16,
    units=8,
    trials_per_session=32,
    record_trials=24,
    subset_size=8,
    subsets=8,
    bootstrap=8,
    bootstrap_subsets=4,
    network_steps=20,
    network_hidden=16,
)


def report(config: RedundancyConfig, attrs: dict) -> str:
    sim, sim_c = attrs["simulation_seconds"], attrs["simulation_compile_seconds"]
    ana, ana_c = attrs["analysis_seconds"], attrs["analysis_compile_seconds"]
    trials = attrs["trials_simulated"]
    per_trial = (sim - sim_c) / trials
    matlab = trials * REFERENCE_SECONDS_PER_TRIAL
    total = sim + ana
    c = config.resolved()
    return "\n".join(
        [
            f"redundancy run: {c.seeds} seeds x {c.sessions} sessions, {c.neurons} neurons, "
            f"{c.record_trials} trials per contrast",
            f"  simulation  {sim:8.1f} s   compile {sim_c:7.1f} s   run {sim - sim_c:8.1f} s",
            f"  analysis    {ana:8.1f} s   compile {ana_c:7.1f} s   run {ana - ana_c:8.1f} s",
            f"  total       {total:8.1f} s   compile {sim_c + ana_c:7.1f} s",
            f"  model trials {trials}: {1e3 * per_trial:.2f} ms per trial after compilation",
            f"  reference MATLAB at {REFERENCE_SECONDS_PER_TRIAL:g} s per trial: {matlab:.0f} s "
            f"({matlab / 3600:.1f} h) for the same trials",
            f"  ratio MATLAB / this run: {REFERENCE_SECONDS_PER_TRIAL / per_trial:.0f}x per trial "
            f"after compilation, {matlab / total:.0f}x on the whole wall time",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    group.add_argument("--full", action="store_true", help="the paper-scale preset")
    args = parser.parse_args()
    config = RedundancyConfig(**QUICK) if args.quick else RedundancyConfig(full=args.full)
    ds = run(config, progress=True)
    print(report(config, ds.attrs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
    print(f"  peak resident memory {peak:.1f} GiB")


if __name__ == "__main__":
    main()
