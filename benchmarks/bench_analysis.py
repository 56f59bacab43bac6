"""Benchmark: the redundancy summary (jitted, vmapped subsets) against a numpy loop.

Workload (defaults): 256 neurons, 9 signal levels (0 and +-4 coherences) x 512 trials,
1000 random subsets of 32 neurons; per subset and coherence I, I_shuffle, var(I), the
inverse-variance combination, then medians over subsets. Both implementations compute f' and
S0 once for the whole population and factorise one 32 x 32 matrix per subset; numpy loops
over the subsets, jax vmaps them in one compiled program. Prints times measured in this
run and their ratio (never asserts on time); compile time is reported separately.

    python benchmarks/bench_analysis.py            # full size
    python benchmarks/bench_analysis.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import solve_triangular

from bayescortex.analysis import (
    estimate_redundancy,
    group_by_signal,
    random_subsets,
    redundancy_summary,
)


def synthetic_recording(n_neurons, n_coherences, trials_per_level, seed):
    """Gaussian counts with random correlations and information-limiting noise."""
    rng = np.random.default_rng(seed)
    coherences = np.arange(1, n_coherences + 1, dtype=float) * 3.0
    levels = np.concatenate([-coherences[::-1], [0.0], coherences])
    signal = np.repeat(levels, trials_per_level)
    a = rng.normal(size=(n_neurons, n_neurons)) / np.sqrt(n_neurons)
    fprime = rng.normal(size=n_neurons) * 0.05
    cov = a @ a.T + np.eye(n_neurons) + 2.0 * np.outer(fprime, fprime)
    noise = rng.normal(size=(signal.size, n_neurons)) @ np.linalg.cholesky(cov).T
    return 10.0 + signal[:, None] * fprime[None, :] + noise, signal


def numpy_summary(counts, signal, subsets):
    """The same formulas in plain numpy, looping over subsets and coherences."""
    grouped = group_by_signal(signal)
    layout = grouped.layout
    x = counts[grouped.order]
    starts = np.concatenate([[0], np.cumsum(layout.sizes)])
    means = np.stack([x[starts[b] : starts[b + 1]].mean(0) for b in range(len(layout.sizes))])
    ds = layout.ds
    fp = (means[1::2] - means[2::2]) / ds[:, None]
    cov = np.cov(x[: layout.t0], rowvar=False)
    t0, t1, t2 = layout.t0, np.asarray(layout.t_plus, float), np.asarray(layout.t_minus, float)
    k = subsets.shape[1]
    g = (t1 + t2) / (t1 * t2 * ds**2)
    nu = t0 - 1.0
    a = 2.0 / ((nu - k) * (nu - k - 3))
    b = (nu - k - 1) / ((nu - k) * (nu - k - 3))
    per_subset = []
    for idx in subsets:
        f = fp[:, idx]
        s = cov[np.ix_(idx, idx)]
        chol = np.linalg.cholesky(s)
        z = solve_triangular(chol, f.T, lower=True)
        info = (z**2).sum(0) * (t0 - k - 2) / (t0 - 1) - g * k
        shuffled = (f**2 / np.diag(s)).sum(1) * (t0 - 3) / (t0 - 1) - g * k
        var = (a + 2 * b) * info**2 + (6 * a + 12 * b + 4) * g * info
        var = var + (3 * a + 6 * b + 2) * g**2 * k
        w = np.where(np.isfinite(var) & (var > 0), 1.0 / var, 0.0)
        i_c, ish_c = (w * info).sum() / w.sum(), (w * shuffled).sum() / w.sum()
        per_subset.append([i_c, ish_c, ish_c - i_c, 100 * (ish_c - i_c) / ish_c])
    return np.median(np.asarray(per_subset), axis=0)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--coherences", type=int, default=4, help="nonzero |c| levels")
    parser.add_argument("--trials", type=int, default=512, help="trials per signal level")
    parser.add_argument("--subsets", type=int, default=1000)
    parser.add_argument("--subset-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.neurons, args.trials, args.subsets, args.repeats = 64, 128, 100, 2

    counts, signal = synthetic_recording(args.neurons, args.coherences, args.trials, args.seed)
    key = jax.random.key(args.seed)
    grouped = group_by_signal(signal)
    x = jnp.asarray(counts[grouped.order], dtype=jnp.result_type(float))
    static = dict(layout=grouped.layout, subset_size=args.subset_size, n_subsets=args.subsets)
    print(
        f"{args.neurons} neurons, {2 * args.coherences + 1} signal levels x {args.trials} "
        f"trials, {args.subsets} subsets of {args.subset_size}; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, {jnp.result_type(float)}"
    )

    t = time.perf_counter()
    compiled = estimate_redundancy.lower(x, key, **static).compile()
    compile_s = time.perf_counter() - t

    def run_jax():
        return jax.block_until_ready(compiled(x, key))

    result = run_jax()
    jax_best, jax_median = best_of(run_jax, args.repeats)

    def run_summary():
        return redundancy_summary(
            counts, signal, subset_size=args.subset_size, n_subsets=args.subsets, key=key
        )

    run_summary()  # warm: compiles the boundary ops once
    summary_best, _ = best_of(run_summary, args.repeats)

    # The subsets estimate_redundancy drew from this key, for the numpy reference.
    subsets = np.asarray(random_subsets(key, args.neurons, args.subset_size, args.subsets))
    reference = numpy_summary(counts, signal, subsets)
    numpy_best, numpy_median = best_of(lambda: numpy_summary(counts, signal, subsets), 2)

    combined = result.combined
    ours = np.array(
        [
            combined.information,
            combined.information_shuffled,
            combined.redundancy,
            combined.percent_redundancy,
        ],
        dtype=float,
    )
    rel = np.max(np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-12))
    print(f"compile (jit, once)         : {compile_s * 1e3:9.1f} ms")
    print(
        f"jax estimate (jitted)       : {jax_best * 1e3:9.1f} ms best, "
        f"{jax_median * 1e3:.1f} ms median of {args.repeats}"
    )
    print(
        f"redundancy_summary (warm)   : {summary_best * 1e3:9.1f} ms best "
        "(checks, sorting, Dataset included)"
    )
    print(
        f"numpy loop over subsets     : {numpy_best * 1e3:9.1f} ms best, "
        f"{numpy_median * 1e3:.1f} ms median of 2"
    )
    print(f"ratio numpy / jax estimate  : {numpy_best / jax_best:9.1f} x")
    print(f"ratio numpy / summary       : {numpy_best / summary_best:9.1f} x")
    print(f"max relative difference of combined I, I_shuffle, I_red, % (jax vs numpy): {rel:.1e}")


if __name__ == "__main__":
    main()
