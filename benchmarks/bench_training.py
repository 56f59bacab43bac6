"""Feedback-learning throughput, as ratios measured in this run (never asserted).

1. Training trials per second at N_x = 256, N_g = 64 (the default TrainConfig: minibatches of 32,
   40 clamped sweeps per trial), the optax step and projection included; compile time apart.
2. The overhead of learning over plain sampling: the same sweeps through simulate_trials
   (engaged, no gradient) on the same batch.
3. One session's training against its recording blocks (engaged + passive, 9 contrasts x 64
   trials, 20 + 100 sweeps per trial), and the wall time of one whole session.

    python benchmarks/bench_training.py           # full
    python benchmarks/bench_training.py --quick   # smoke run with small sizes
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.experiments import training
from bayescortex.inference import inference_mode, learning, simulate_chunked, simulate_trials
from bayescortex.models import Stimulus


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def train_steps(config: training.TrainConfig, n_steps: int):
    """Compile time and seconds per training step (mean over ``n_steps`` steps)."""
    model = training.initial_model(config)
    optimizer = training.make_optimizer(config.optimizer, config.step_size)
    state = optimizer.init(eqx.filter(model, learning.learnable(model)))
    tasks = jnp.zeros(config.batch, jnp.int32)
    contrasts = jnp.tile(jnp.asarray([6.0, -6.0]), config.batch // 2)
    args = (Stimulus(), tasks, contrasts, config.train_settings())

    def step(key, model, state):
        return learning.train_step(key, model, state, optimizer, *args)

    (model, state, _), first = timed(step, jax.random.key(0), model, state)
    t0 = time.perf_counter()
    for i in range(n_steps):
        model, state, info = step(jax.random.key(i + 1), model, state)
    jax.block_until_ready(info.log_joint)
    per_step = (time.perf_counter() - t0) / n_steps
    return first - per_step, per_step


def plain_sampling(config: training.TrainConfig) -> float:
    """Seconds for the same batch and sweeps, sampled without clamping or gradient."""
    model = training.initial_model(config)
    settings = dataclasses.replace(config.train_settings(), n_bins=1, burn_in=config.train_burn_in)
    args = (
        model,
        Stimulus(),
        jnp.zeros(config.batch, int),
        jnp.tile(jnp.asarray([6.0, -6.0]), config.batch // 2),
        settings,
        inference_mode("engaged"),
    )
    timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(0))
    return timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(1))[1]


def recording(config: training.TrainConfig):
    """Compile time and seconds for one session's recording blocks (all modes)."""
    model = training.initial_model(config)
    contrasts = np.repeat(np.asarray(config.contrasts), config.record_trials)

    def blocks(seed):
        out = []
        for mode in config.record_modes:
            rec = simulate_chunked(
                jax.random.key(seed),
                model,
                Stimulus(),
                np.zeros(contrasts.shape, int),
                contrasts,
                config.record_settings(),
                inference_mode(mode),
                chunk_size=config.chunk,
            )
            out.append(rec.counts)
        return out

    _, first = timed(blocks, 0)
    _, second = timed(blocks, 1)
    return first - second, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        config = training.TrainConfig(
            neurons=32, units=16, trials_per_session=64, batch=16, train_sweeps=20,
            train_burn_in=5, record_trials=8, samples=30, presignal=5,
        )  # fmt: skip
        n_steps = 3
    else:
        config = training.TrainConfig()
        n_steps = 8
    print(f"devices: {jax.devices()}")
    print(
        f"N_x = {config.neurons}, N_g = {config.units}, minibatch {config.batch}, "
        f"{config.train_sweeps} clamped sweeps per training trial ({config.train_burn_in} burn-in)"
    )
    compile_s, step_s = train_steps(config, n_steps)
    rate = config.batch / step_s
    print(f"training step: compile {compile_s:.1f} s, {step_s:.3f} s per step, {rate:.1f} trials/s")
    sample_s = plain_sampling(config)
    print(
        f"plain sampling of the same sweeps: {sample_s:.3f} s per batch; learning costs "
        f"{step_s / sample_s:.2f}x plain sampling"
    )
    steps = config.trials_per_session // config.batch
    session_train = steps * step_s
    rec_compile, rec_s = recording(config)
    n_rec = len(config.contrasts) * config.record_trials * len(config.record_modes)
    print(
        f"one session: training {config.trials_per_session} trials {session_train:.1f} s; "
        f"recording {n_rec} trials ({config.presignal} + {config.samples} sweeps) {rec_s:.1f} s "
        f"(compile {rec_compile:.1f} s); training / recording = {session_train / rec_s:.2f}"
    )
    print(
        f"one whole session: {session_train + rec_s:.1f} s; {config.sessions} sessions "
        f"~ {config.sessions * (session_train + rec_s) / 60:.1f} min after compilation"
    )


if __name__ == "__main__":
    main()
