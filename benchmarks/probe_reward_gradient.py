"""Where the reward objective still pushes: the gradient of behaving accuracy along one
parameter at a time, at the parameters a training run reached after chosen sessions.

    bayescortex train --neurons 64 --units 64 --sessions 12 --output out --run-id r
    python benchmarks/probe_reward_gradient.py out/train/r --trials 4096 --sessions 4,8,12

For each session's saved model (``load_model`` of the run's checkpoints) and each probed
parameter (the task cue's logit of the trained task's context, and that task's category kernel
``kappa_o``), ``trials`` training trials (the run's training contrasts, the task cue, its
behaving inference and choice temperature) are each run twice with common random numbers at
``theta +- c e`` (``c`` the run's SPSA perturbation, ``e`` the parameter's unit vector;
:func:`~bayescortex.inference.reward.spsa_trial` with that direction). Printed per parameter:
accuracy (the pairs' mean reward, and their mean final belief), and the derivative of the
expected reward two ways: from the pair's rewards, ``(R_+ - R_-) / 2c``, and from their final
beliefs in the revealed category, ``(b_+ - b_-) / 2c``, which at ``choice_temperature = 1`` has
the same expectation (a sampled choice is correct with probability ``b``) and a smaller
variance. Also the training's own SPSA estimate for the same two components (every outcome
leaf perturbed at once, as in training): its mean, SE and per-trial sd. Means +- SE over
trials; one JSON line per session with ``--json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.experiments import protocol
from bayescortex.experiments.results import load_config
from bayescortex.experiments.training.config import TrainConfig
from bayescortex.experiments.training.run import load_model
from bayescortex.inference.reward import outcome_spec, perturbation_centre, spsa_trial
from bayescortex.models import task_index

PROBE_KEY = 0x9E3B
"""``fold_in(key(seed), PROBE_KEY + session)`` keys a session's probe trials."""


def unit_directions(model, perturbation, task: int) -> dict:
    """Model-shaped directions (``None`` off the outcome leaves) along the task cue's logit of
    context ``task`` and along ``kappa_o[task]``."""
    params = eqx.filter(perturbation_centre(model, perturbation), outcome_spec(model))
    zero = jax.tree.map(jnp.zeros_like, params)
    logits = zero.feedback.context_logits.at[0, task].set(1.0)
    kappa = zero.feedback.kappa_o.at[task].set(1.0)
    return {
        "context_logit": eqx.tree_at(lambda d: d.feedback.context_logits, zero, logits),
        "kappa_o": eqx.tree_at(lambda d: d.feedback.kappa_o, zero, kappa),
    }


def probe(config: TrainConfig, model, key, trials: int, task: int) -> dict:
    """Per-trial rewards and beliefs of the ``+-c`` pairs along each unit direction, and the
    training SPSA estimate's two components (arrays over trials). ``config`` must train with
    the reward objective (its trials are then the behaving trials the probe needs)."""
    proto, hyper = config.split()
    stimulus, settings, mode, _ = protocol.training_trials(proto, hyper)  # as training runs them
    c = jnp.asarray(hyper.perturbation, jnp.float32)
    table = jnp.asarray(hyper.train_contrasts, jnp.float32)
    picks = jax.random.randint(jax.random.fold_in(key, 1), (trials,), 0, table.shape[0])
    ids, contrasts = jnp.arange(trials), table[picks]
    directions = unit_directions(model, c, task)

    def pair(n, contrast, direction):
        k = jax.random.fold_in(key, n)
        est, _, reward, belief, _ = spsa_trial(
            k, model, stimulus, jnp.int32(task), contrast, settings, mode, c, direction
        )
        return est, reward, belief

    @eqx.filter_jit
    def run(model_directions):
        out = {}
        for name, d in model_directions.items():
            _, r, b = jax.lax.map(lambda a, d=d: pair(*a, d), (ids, contrasts), batch_size=64)
            out[name] = (r, b)
        est, _, _ = jax.lax.map(lambda a: pair(*a, None), (ids, contrasts), batch_size=64)
        out["spsa"] = (est.feedback.context_logits[:, 0, task], est.feedback.kappa_o[:, task])
        return out

    return run(directions), float(c)


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def session_row(config: TrainConfig, folder: Path, session: int, trials: int) -> dict:
    model = load_model(folder / "checkpoints", session, config)
    task = task_index(config.session_task(session))
    key = jax.random.fold_in(jax.random.key(config.seed), PROBE_KEY + session)
    out, c = probe(config, model, key, trials, task)
    prior = np.asarray(jax.nn.softmax(model.feedback.context_logits, axis=-1))[0]
    row = {
        "session": session, "trials": trials, "kappa_o": float(model.feedback.kappa_o[task]),
        "p_task_given_task": float(prior[task]),
    }  # fmt: skip
    for name in ("context_logit", "kappa_o"):
        r, b = out[name]
        row[f"accuracy_{name}_pairs"] = mean_se(np.asarray(r).mean(axis=1))
        row[f"belief_{name}_pairs"] = mean_se(np.asarray(b).mean(axis=1))
        row[f"d_reward_{name}"] = mean_se((r[:, 0] - r[:, 1]) / (2 * c))
        row[f"d_belief_{name}"] = mean_se((b[:, 0] - b[:, 1]) / (2 * c))
    for name, est in zip(("context_logit", "kappa_o"), out["spsa"], strict=True):
        row[f"spsa_{name}"] = (*mean_se(est), float(np.std(np.asarray(est), ddof=1)))
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a `bayescortex train` run folder")
    parser.add_argument("--trials", type=int, default=4096, help="probe trials per session")
    parser.add_argument("--sessions", default=None, help="e.g. 4,8,12 (default: every 4th)")
    parser.add_argument("--json", action="store_true", help="one JSON line per session")
    args = parser.parse_args(argv)
    config = load_config(TrainConfig, args.run / "config.json")
    if config.objective != "reward":
        raise SystemExit(f"{args.run}: trained with objective {config.objective!r}, not 'reward'")
    sessions = (
        [int(s) for s in args.sessions.split(",")] if args.sessions
        else list(range(config.sessions % 4 or 4, config.sessions + 1, 4))
    )  # fmt: skip
    rows = []
    for session in sessions:
        row = session_row(config, args.run, session, args.trials)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        f = lambda m: f"{m[0]:+.4f} +- {m[1]:.4f}"  # noqa: E731
        print(
            f"session {session}: kappa_o {row['kappa_o']:.3f}, p(task | task) "
            f"{row['p_task_given_task']:.3f}, accuracy {row['accuracy_kappa_o_pairs'][0]:.3f}"
        )
        for name in ("context_logit", "kappa_o"):
            print(
                f"  d accuracy / d {name:13s}  beliefs {f(row[f'd_belief_{name}'])}  rewards "
                f"{f(row[f'd_reward_{name}'])}  training SPSA {f(row[f'spsa_{name}'])}"
            )
    return rows


if __name__ == "__main__":
    main()
