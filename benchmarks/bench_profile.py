"""Where a Gibbs sweep's time goes, measured in this run (never asserted).

Times each part of one sweep, compiled and vmapped over a batch of trials exactly as the
trial simulation runs it (``lax.scan`` over sweeps), at N_x = 256, N_g = 64, 512 trials:

- the whole sweep (:func:`gibbs.step`) and the whole trial (:func:`simulate_trials`, which adds
  the images, the recording transform and the scan over sweeps);
- the x block (sequential truncated-normal updates), the g block (sequential Bernoulli
  updates), the belief update with the draw of ``(K, O)``, the contrast draw;
- the truncated-normal draws alone, all of a sweep's at once (a lower bound for the x block's
  transcendental work);
- the measured bound: the same arithmetic as the x and g blocks with the sequential
  dependency removed (every neuron's conditional mean from one matrix product and all its
  truncated-normal draws at once; every unit's flip log-likelihood ratio, with its division
  per neuron and logarithm per four neurons, from the sweep's starting ``tau`` at once), plus
  the belief and the contrast. An exact Gibbs scan must do at least this work, so the ratio
  sweep / bound says how much the sequential structure costs;
- the dense float32 matmul rate of this machine, and each part's share of the sweep;
- with ``--devices N``: the sweep and the bound again with the batch's trials split over N
  jax devices (on CPU, N host devices in a child process; each device runs its own
  sequential scan on one core), against the one-device sweep of this run. A child that does
  not finish within its time limit is reported as such (jax's multi-device CPU runtime can
  deadlock in LAPACK kernels, which the sampler does not call).

    python benchmarks/bench_profile.py              # N_x = 256, 512 trials
    python benchmarks/bench_profile.py --devices 2  # and the trials split over 2 devices
    python benchmarks/bench_profile.py --quick      # small sizes
    python benchmarks/bench_profile.py --json       # one JSON object instead of the table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

from bayescortex.inference import SamplerSettings, gibbs, inference_mode, simulate_trials
from bayescortex.inference.truncnorm import positive_normal_from_uniform
from bayescortex.models import Stimulus, reference_model


def best_of(fn, *args, repeats: int = 3) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(n: int) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    return 2 * n**3 / best_of(f, a, repeats=5) / 1e9


BOUND = ("x work, no dependency", "g work, no dependency", "belief", "contrast")
"""The parts whose sum is the measured bound."""

SPLIT = ("sweep", *BOUND)
"""The parts timed again with the trials split over devices (the sweep and its bound)."""


def parts(
    n_x: int, n_g: int, n_trials: int, n_sweeps: int, names=None, devices: int = 1
) -> dict[str, float]:
    """Seconds per sweep of a batch of ``n_trials`` trials, for each part (``names``: those
    only; ``devices``: the trials split over that many devices)."""
    model = reference_model(n_x, n_g, delta=0.08)
    cond = gibbs.conditionals(model)
    mode = inference_mode("engaged")
    settings = SamplerSettings(n_samples=n_sweeps - 4, n_presignal=4)
    keys = jax.random.split(jax.random.key(0), n_trials)
    states = jax.vmap(lambda k: gibbs.init(k, cond, settings, mode))(keys)
    if devices > 1:  # every array with a leading trial axis split evenly; GSPMD does the rest
        mesh = jax.sharding.Mesh(jax.devices()[:devices], ("trials",))
        split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("trials"))
        keys, states = jax.device_put((keys, states), split)
    _, image = model.sample(jax.random.key(1), contrast=6.0, context=0)
    proj = model.project(image)
    coupling = mode.coupling_feedback * cond.coupling
    logits = gibbs._unit_prior_logits(cond, mode, 0, 0)

    def scanned(body):
        """``body(key, state) -> state`` run ``n_sweeps`` times on every trial."""

        def chain(key, state):
            def one(state, t):
                return body(jax.random.fold_in(key, t), state), None

            return jax.lax.scan(one, state, jnp.arange(n_sweeps))[0]

        return jax.jit(jax.vmap(chain))

    def sweep(k, s):
        return gibbs.step(k, s, cond, proj, jnp.asarray(True), settings, mode)[0]

    def x_block(k, s):
        x = gibbs.update_neurons_gibbs(k, s.neurons, s.means, s.contrast, proj, cond)
        return s._replace(neurons=x)

    def g_block(k, s):
        g, tau = gibbs.update_units(k, s.units, s.means, s.neurons, logits, coupling)
        return s._replace(units=g, means=tau)

    def belief(k, s):
        lb = gibbs.update_belief(s.log_belief, s.units, cond, mode, 0.05, jnp.asarray(True))
        flat = jax.random.categorical(k, lb.reshape(-1))
        return s._replace(log_belief=lb, context=flat // 2, category=flat % 2)

    def contrast(k, s):
        c = gibbs.update_contrast(k, s.contrast, s.neurons, proj, cond, settings.contrast_step)
        return s._replace(contrast=c)

    def draws_only(k, s):
        u = jax.random.uniform(k, s.neurons.shape, minval=jnp.finfo(jnp.float32).tiny)
        mean = s.neurons - 1.0  # a spread of standardised bounds, both sides of the branch
        return s._replace(neurons=positive_normal_from_uniform(mean, 0.5, u))

    s_min = 1e-6
    gram_diag = jnp.diagonal(cond.gram)

    def x_free(k, s):
        u = jax.random.uniform(k, s.neurons.shape, minval=jnp.finfo(jnp.float32).tiny)
        c = jnp.maximum(s.contrast, s_min)
        others = jnp.matmul(cond.gram, s.neurons, precision=jax.lax.Precision.HIGHEST)
        others = others - gram_diag * s.neurons
        mean = (c * proj - c**2 * others - cond.noise_var / s.means) / (c**2 * gram_diag)
        sd = jnp.sqrt(cond.noise_var / gram_diag) / c
        return s._replace(neurons=positive_normal_from_uniform(mean, sd, u))

    def g_free(k, s):
        u = jax.random.uniform(k, s.units.shape)
        sign = jnp.where(s.units > 0.5, -1.0, 1.0)
        other = s.means[None, :] + sign[:, None] * coupling.T  # (units, neurons)
        rate = jnp.sum(s.neurons[None, :] / other, axis=-1)
        log_tau = jax.vmap(gibbs._sum_log)(other)
        now = jnp.sum(s.neurons / s.means) + gibbs._sum_log(s.means)
        diff = (log_tau + rate) - now
        on = u < jax.nn.sigmoid(logits + jnp.where(s.units > 0.5, diff, -diff))
        return s._replace(units=on.astype(s.units.dtype))

    out = {}
    for name, body in [
        ("sweep", sweep),
        ("x block", x_block),
        ("g block", g_block),
        ("belief", belief),
        ("contrast", contrast),
        ("truncated normals alone", draws_only),
        ("x work, no dependency", x_free),
        ("g work, no dependency", g_free),
    ]:
        if names is None or name in names:
            out[name] = best_of(scanned(body), keys, states) / n_sweeps
    if names is not None:
        out["bound (no dependency)"] = sum(out[k] for k in BOUND)
        return out

    stimulus = Stimulus()
    tasks, contrasts = jnp.zeros(n_trials, int), jnp.tile(jnp.array([6.0, -6.0]), n_trials // 2)

    def trial(key):
        return simulate_trials(key, model, stimulus, tasks, contrasts, settings, mode).counts

    out["whole trial (per sweep)"] = best_of(trial, jax.random.key(2)) / settings.n_sweeps
    out["bound (no dependency)"] = sum(out[k] for k in BOUND)
    return out


def split_over_devices(n_devices: int, quick: bool, timeout: float) -> dict | str:
    """:data:`SPLIT` parts with the trials over ``n_devices`` devices, timed in a child process
    (host devices must be set before jax starts); the child's message if it fails or hangs."""
    env = dict(os.environ)
    if jax.default_backend() == "cpu":
        env["XLA_FLAGS"] = (
            f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_devices}"
        )
    cmd = [sys.executable, __file__, "--child-devices", str(n_devices)] + ["--quick"] * quick
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout:.0f} s (hung or too slow)"
    if out.returncode != 0:
        return f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else '?'}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--devices", type=int, default=1,
        help="also time the sweep and its bound with the trials split over this many devices",
    )  # fmt: skip
    parser.add_argument("--child-devices", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n_x, n_g, n_trials, n_sweeps = (32, 16, 64, 12) if args.quick else (256, 64, 512, 24)
    if args.child_devices:
        if jax.device_count() < args.child_devices:
            raise SystemExit(f"{jax.device_count()} devices, {args.child_devices} asked for")
        print(json.dumps(parts(n_x, n_g, n_trials, n_sweeps, SPLIT, args.child_devices)))
        return
    if args.devices < 1 or n_trials % args.devices:
        raise SystemExit(f"--devices: need a divisor of the {n_trials} trials, got {args.devices}")
    peak = matmul_gflops(256 if args.quick else 1024)
    times = parts(n_x, n_g, n_trials, n_sweeps)
    split = None
    if args.devices > 1:
        split = split_over_devices(args.devices, args.quick, 300 if args.quick else 1800)
    if args.json:
        print(json.dumps({"n_x": n_x, "n_g": n_g, "trials": n_trials, "matmul_gflops": peak,
                          "seconds_per_sweep": times, "devices": args.devices,
                          "seconds_per_sweep_split": split}))  # fmt: skip
        return
    sweep = times["sweep"]
    print(f"devices: {jax.devices()}; dense float32 matmul {peak:.1f} GFLOP/s")
    print(f"N_x = {n_x}, N_g = {n_g}, {n_trials} trials in one batch, {n_sweeps} sweeps timed")
    print(f"{'part':<26} {'ms/sweep':>9} {'us/trial':>9} {'of sweep':>9}")
    for name, t in times.items():
        print(f"{name:<26} {1e3 * t:9.2f} {1e6 * t / n_trials:9.2f} {t / sweep:9.2f}")
    flops = 2 * n_x * n_x + 6 * n_x * n_g
    print(
        f"linear algebra of a sweep at the matmul rate: "
        f"{1e6 * flops / peak / 1e9:.2f} us/trial ({flops / peak / 1e9 / (sweep / n_trials):.3f} "
        f"of the measured sweep)"
    )
    bound = times["bound (no dependency)"]
    print(f"sweep / measured bound (the same work, no sequential scan): {sweep / bound:.2f}")
    if split is None:
        return
    print(f"\ntrials split over {args.devices} devices:")
    if isinstance(split, str):
        print(f"  the child process {split}")
        return
    for name, t in split.items():
        print(f"{name:<26} {1e3 * t:9.2f} {1e6 * t / n_trials:9.2f} {t / sweep:9.2f}")
    s_split, b_split = split["sweep"], split["bound (no dependency)"]
    print(f"sweep on {args.devices} devices vs one: {sweep / s_split:.2f}x the throughput; "
          f"split sweep / split bound: {s_split / b_split:.2f}; "
          f"split sweep / one-device bound: {s_split / bound:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
