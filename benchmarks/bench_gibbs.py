"""Gibbs sampler throughput, as ratios measured in this run (never asserted).

1. Trials per second of the full trial simulation (N_x = 256, N_g = 64, 20 pre-signal + 100
   sweeps, 512 trials in one batch), compile time separately.
2. The same work as a fraction of this machine's dense float32 matmul throughput, measured here.
3. Cost against the reference MATLAB implementation's reported 5-7 s per trial (SCIENCE.md).
4. Scaling in neurons (N_x = 64, 128, 256).
5. Effective samples per second of the x-block: exact Gibbs vs numpyro NUTS on the same
   posterior p(x | g, s, y).
6. The memory model: bytes of device memory per trial in flight (XLA's own buffer assignment
   of the compiled batch at 256 and 512 trials, differenced), and how many trials that lets a
   device of a given size hold at once.

    python benchmarks/bench_gibbs.py           # full
    python benchmarks/bench_gibbs.py --quick   # smoke run with small sizes
    python benchmarks/bench_gibbs.py --trials 1024,4096 --neurons 256 --json   # chunk sizes

``--trials`` times only the throughput (1.) at the given trials per batch (the chunk sizes of a
run), at ``--neurons``; ``--json`` then prints one JSON object per line: the machine first,
then one per batch size as it is measured (so a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size

from bayescortex.experiments.compilation import cache_if_named
from bayescortex.experiments.redundancy.run import REFERENCE_SECONDS_PER_TRIAL
from bayescortex.inference import SamplerSettings, gibbs, inference_mode, simulate_trials
from bayescortex.inference.reference import nuts_neurons
from bayescortex.models import Stimulus, reference_model


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    timed(f, a)
    _, t = timed(lambda a: [f(a) for _ in range(repeats)], a)
    return 2 * n**3 * repeats / t / 1e9


def trial_throughput(n_x: int, n_g: int, n_trials: int, settings: SamplerSettings):
    model = reference_model(n_x, n_g, delta=0.08)
    contrasts = jnp.tile(jnp.array([6.0, -6.0]), n_trials // 2)
    args = (
        model,
        Stimulus(),
        jnp.zeros(n_trials, int),
        contrasts,
        settings,
        inference_mode("engaged"),
    )
    _, first = timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(0))
    _, second = timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(1))
    # Linear algebra per sweep and trial: x conditionals (G rows times x) and g conditionals.
    flops = n_trials * settings.n_sweeps * (2 * n_x * n_x + 6 * n_x * n_g)
    return first - second, second, flops / second / 1e9


def bytes_per_trial(n_x: int, n_g: int, settings: SamplerSettings) -> float:
    """Device bytes per trial in flight: the compiled batch's temporaries and outputs at 512
    trials minus those at 256, per trial (XLA's buffer assignment; nothing is run)."""
    from bayescortex.inference.trial import _simulate_batch

    model = reference_model(n_x, n_g, delta=0.08)
    mode = inference_mode("engaged")

    def size(n_trials: int) -> int:
        def batch(model, tasks, contrasts, ids):
            key = jax.random.key(0)
            return _simulate_batch(
                key, model, Stimulus(), tasks, contrasts, settings, mode, ids, jnp.asarray(0)
            )

        args = (model, jnp.zeros(n_trials, int), jnp.zeros(n_trials), jnp.arange(n_trials))
        memory = jax.jit(batch).lower(*args).compile().memory_analysis()
        return memory.temp_size_in_bytes + memory.output_size_in_bytes

    return (size(512) - size(256)) / 256


def ess_per_second(n_x: int, quick: bool):
    model = reference_model(n_x, 8, delta=0.08)
    latents, image = model.sample(jax.random.key(3), contrast=1.0, context=0)
    cond = gibbs.conditionals(model)
    proj, tau = model.project(image), model.means(latents.units)
    n_chains, n_draws = (16, 200) if quick else (64, 1000)

    @jax.jit
    def gibbs_chains(key):
        def chain(key):
            def body(x, k):
                x = gibbs.update_neurons_gibbs(k, x, tau, jnp.asarray(1.0), proj, cond)
                return x, x

            return jax.lax.scan(body, tau, jax.random.split(key, n_draws))[1]

        return jax.vmap(chain)(jax.random.split(key, n_chains))

    timed(gibbs_chains, jax.random.key(0))
    draws, t_gibbs = timed(gibbs_chains, jax.random.key(1))
    ess_gibbs = float(np.min(effective_sample_size(np.asarray(draws[:, n_draws // 5 :]))))

    warm, samples = (200, 200) if quick else (500, 1000)
    t0 = time.perf_counter()
    nuts = nuts_neurons(
        jax.random.key(2),
        model,
        latents.units,
        image,
        1.0,
        num_warmup=warm,
        num_samples=samples,
        num_chains=4,
    )
    t_nuts = time.perf_counter() - t0  # includes compilation and warm-up: NUTS's real cost
    ess_nuts = float(np.min(effective_sample_size(np.asarray(nuts))))
    return ess_gibbs / t_gibbs, ess_nuts / t_nuts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--trials",
        help="comma-separated trials per batch (chunk sizes): time only the throughput at these",
    )
    parser.add_argument("--neurons", type=int, help="N_x of --trials (default 256; --quick 32)")
    parser.add_argument("--json", action="store_true", help="with --trials: JSON lines output")
    args = parser.parse_args()
    cache_if_named()  # BAYESCORTEX_COMPILE_CACHE, where it names a folder (else cold)
    if args.trials:
        chunk_sizes(args)
        return
    if args.json or args.neurons:
        parser.error("--json and --neurons go with --trials")
    n_trials = 64 if args.quick else 512
    settings = SamplerSettings(n_samples=20, n_presignal=4) if args.quick else SamplerSettings()
    sizes = [(32, 16)] if args.quick else [(64, 64), (128, 64), (256, 64)]

    peak = matmul_gflops(256 if args.quick else 1024)
    print(f"devices: {jax.devices()}")
    print(f"dense float32 matmul on this machine: {peak:.1f} GFLOP/s")
    print(f"trials per batch: {n_trials}, sweeps per trial: {settings.n_sweeps}")
    print(
        f"{'N_x':>5} {'N_g':>5} {'compile s':>10} {'run s':>8} {'trials/s':>9} "
        f"{'GFLOP/s':>8} {'of matmul':>9} {'vs MATLAB':>10}"
    )
    for n_x, n_g in sizes:
        compile_s, run_s, gflops = trial_throughput(n_x, n_g, n_trials, settings)
        rate = n_trials / run_s
        print(
            f"{n_x:5d} {n_g:5d} {compile_s:10.1f} {run_s:8.2f} {rate:9.1f} {gflops:8.2f} "
            f"{gflops / peak:9.3f} {rate * REFERENCE_SECONDS_PER_TRIAL:9.0f}x"
        )
    for n_x, n_g in sizes:
        per_trial = bytes_per_trial(n_x, n_g, settings)
        print(
            f"memory: N_x = {n_x}: {per_trial / 1024:.1f} KiB per trial in flight; a 16 GiB "
            f"device holds {16 * 2**30 / per_trial:,.0f} trials at once"
        )
    gibbs_rate, nuts_rate = ess_per_second(8 if args.quick else 32, args.quick)
    print(
        f"x-block posterior (N_x = {8 if args.quick else 32}): min-ESS per second "
        f"Gibbs {gibbs_rate:.0f}, NUTS {nuts_rate:.0f}, ratio {gibbs_rate / nuts_rate:.1f}x"
    )


def chunk_sizes(args) -> None:
    """Throughput at each of ``args.trials`` trials per batch, at ``args.neurons``."""
    n_x = args.neurons or (32 if args.quick else 256)
    n_g = 16 if args.quick else 64
    settings = SamplerSettings(n_samples=20, n_presignal=4) if args.quick else SamplerSettings()
    peak = matmul_gflops(256 if args.quick else 1024)
    device = jax.devices()[0]
    head = {
        "kind": "machine",
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "matmul_gflops": peak,
        "sweeps": settings.n_sweeps,
    }
    print(json.dumps(head) if args.json else f"devices: {head['devices']}; matmul {peak:.1f} "
          f"GFLOP/s; {settings.n_sweeps} sweeps per trial", flush=True)  # fmt: skip
    for n_trials in (int(t) for t in args.trials.split(",")):
        compile_s, run_s, gflops = trial_throughput(n_x, n_g, n_trials, settings)
        stats = device.memory_stats() or {}  # None on CPU
        row = {
            "kind": "throughput",
            "neurons": n_x,
            "units": n_g,
            "trials": n_trials,
            "compile_seconds": compile_s,
            "run_seconds": run_s,
            "trials_per_second": n_trials / run_s,
            "gflops": gflops,
            "fraction_of_matmul": gflops / peak,
            "vs_matlab": n_trials / run_s * REFERENCE_SECONDS_PER_TRIAL,
            "peak_device_bytes": stats.get("peak_bytes_in_use"),
        }
        print(json.dumps(row) if args.json else f"N_x {n_x}, {n_trials} trials: compile "
              f"{compile_s:.1f} s, run {run_s:.2f} s, {row['trials_per_second']:.0f} trials/s",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
