"""Feedback-learning throughput, as ratios measured in this run (never asserted).

1. Training trials per second at N_x = 256, N_g = 64 (the default TrainConfig: minibatches of 32;
   the conditional objective runs a clamped and a free behaving chain per trial, 20 + 100
   sweeps, the joint objective one exact clamped chain of 40 sweeps on a static frame), one
   whole compiled session (scan over minibatches, optax step and projection included);
   compile time apart.
2. The overhead of learning over plain sampling: the same trials and sweeps through
   simulate_trials (engaged, task cue, no gradient; one chain per trial).
3. One session's training against its recording blocks (engaged with the task cue + passive
   with the fixation cue, 9 contrasts x 64 trials, 20 + 100 sweeps per trial), and the wall
   time of one whole session.

    python benchmarks/bench_training.py           # full
    python benchmarks/bench_training.py --quick   # smoke run with small sizes
    python benchmarks/bench_training.py --objective joint
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp

from bayescortex.experiments import training
from bayescortex.experiments.blocks import conditions
from bayescortex.experiments.protocol import record_settings, train_settings
from bayescortex.inference import inference_mode, simulate_trials
from bayescortex.models import Stimulus


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def train_session(config: training.TrainConfig):
    """Compile time and seconds of one compiled training session (scan over minibatches)."""
    protocol, hyper = config.split()
    state = training.run.initial_state(config)
    key = jax.random.key(0)
    _, first = timed(lambda s: training.run._train(protocol, hyper, s, key, 1, 0), state)
    _, second = timed(lambda s: training.run._train(protocol, hyper, s, key, 2, 0), state)
    return first - second, second


def plain_sampling(config: training.TrainConfig) -> float:
    """Seconds to sample one session's training trials without clamping or gradient."""
    protocol, hyper = config.split()
    model = training.run.initial_state(config).model
    if config.objective == "joint":  # one static frame, train_sweeps sweeps
        settings = dataclasses.replace(
            train_settings(protocol, hyper), n_bins=1, burn_in=config.train_burn_in
        )
        stimulus = Stimulus()
    else:  # behaving trials with the recording's layout and noise frames
        settings = dataclasses.replace(record_settings(protocol, hyper), n_bins=1)
        stimulus = Stimulus(frame_every=config.frame_every)
    n = config.trials_per_session
    args = (
        model,
        stimulus,
        jnp.zeros(n, int),
        jnp.tile(jnp.asarray([6.0, -6.0]), n // 2),
        settings,
        inference_mode("engaged"),
    )
    timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(0))
    return timed(lambda k: simulate_trials(k, *args).counts, jax.random.key(1))[1]


def recording(config: training.TrainConfig):
    """Compile time and seconds for one session's recording blocks (all modes at once)."""
    protocol, hyper = config.split()
    state = training.run.initial_state(config)
    recorded = config.recorded()  # (inference mode, cue) of every recorded condition
    conds = conditions(
        [inference_mode(m) for m, _ in recorded], [0] * len(recorded), [c for _, c in recorded]
    )
    key = jax.random.key(0)
    _, first = timed(lambda s: training.run._record(protocol, hyper, s, key, 0, conds), state)
    _, second = timed(lambda s: training.run._record(protocol, hyper, s, key, 1, conds), state)
    return first - second, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--objective", choices=("conditional", "joint"), default="conditional",
        help="the learning objective (default: conditional)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        config = training.TrainConfig(
            neurons=32, units=16, trials_per_session=64, batch=16, train_sweeps=20,
            train_burn_in=5, record_trials=8, samples=30, presignal=5, objective=args.objective,
        )  # fmt: skip
    else:
        config = training.TrainConfig(objective=args.objective)
    print(f"devices: {jax.devices()}")
    if config.objective == "joint":
        chains = (
            f"one exact clamped chain of {config.train_sweeps} sweeps per training trial "
            f"({config.train_burn_in} burn-in)"
        )
    else:
        chains = (
            f"a clamped and a free behaving chain of {config.presignal} + {config.samples} "
            "sweeps per training trial"
        )
    print(
        f"N_x = {config.neurons}, N_g = {config.units}, minibatch {config.batch}, "
        f"objective {config.objective}: {chains}"
    )
    compile_s, session_train = train_session(config)
    rate = config.trials_per_session / session_train
    print(
        f"training session: compile {compile_s:.1f} s, {session_train:.2f} s per session, "
        f"{rate:.1f} trials/s"
    )
    sample_s = plain_sampling(config)
    print(
        f"plain sampling of the same trials and sweeps: {sample_s:.2f} s; learning costs "
        f"{session_train / sample_s:.2f}x plain sampling"
    )
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
