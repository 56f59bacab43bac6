"""Run the redundancy experiment: the session loop, seed resampling, the results Dataset."""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np
import xarray as xr

from bayescortex.models import CONTEXTS

from ..compilation import compile_time
from ..named import variable
from ..placement import Placement, kernel_placement, one_run, shared_static, take_config
from ..protocol import signed_levels
from ..results import PLACE, config_dict
from ..session import run_sessions
from .config import RedundancyConfig, Static
from .measures import ORIENTATION_BINS, population_sizes
from .network import BASELINES, NOISE, network_measures
from .pipeline import (
    RECORDED_MODES,
    controls,
    controls_step,
    init_states,
    parameter_names,
    seed_keys,
    session_step,
    stack_configs,
)
from .selection import selection_protocol

REFERENCE_SECONDS_PER_TRIAL = 5.0
"""The authors' MATLAB sampler: 5-7 s per trial at N_x = 64..256 on one core.

The lower end, so ratios against it are conservative."""

ORIENTATION_CENTRES = (np.arange(ORIENTATION_BINS) + 0.5) * 180.0 / ORIENTATION_BINS
"""Preferred orientation relative to the task axis, degrees: centres of the correlation bins."""

RESUMABLE = (*PLACE, "chunk")
"""Config fields that may differ when a run resumes (where it is written; how it is batched)."""


def seed_resample(per_seed_rep: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Combine trial resamples with a resampling of seeds.

    ``per_seed_rep``: ``(resample, seed, ...)``, each seed's value under trial resample ``b``;
    ``pick``: ``(resample, seed)`` seeds drawn with replacement. Resample ``b`` is the mean over
    its drawn seeds of their values under trial resample ``b``.
    """
    b = np.arange(per_seed_rep.shape[0])[:, None]
    return per_seed_rep[b, pick].mean(axis=1)


def _pick(seed: int, n_resamples: int, n_seeds: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0xB007])
    return rng.integers(0, n_seeds, size=(n_resamples, n_seeds))


def _block_vars(prefix, point, resampled, lead, pick, skip=()):
    """Variables of :class:`~..named.Named` measures with leading axes ``(seed, *lead)``
    (point) and ``(seed, *lead, resample)`` (resampled): per seed, seed mean, and resamples,
    each measure's own axes named as it declared them; names containing any of ``skip`` are
    left out."""
    data = {}
    for name, measure in point.items():
        if any(s in name for s in skip):
            continue
        (_, *dims), value = variable(("seed", *lead), measure)
        _, rep = variable(("seed", *lead, "resample"), resampled[name])
        rep = np.moveaxis(rep, 1 + len(lead), 0)
        data[f"{prefix}{name}_per_seed"] = (("seed", *dims), value)
        data[f"{prefix}{name}"] = (tuple(dims), value.mean(axis=0))
        data[f"{prefix}{name}_resampled"] = (("resample", *dims), seed_resample(rep, pick))
    return data


def _stack(outputs, get):
    return jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a], axis=1),
                        *[get(o) for o in outputs])  # fmt: skip


def run(config: RedundancyConfig, *, progress: bool = True, checkpoint_dir=None) -> xr.Dataset:
    """Run the experiment; returns the results Dataset (see the README for its variables).

    With ``checkpoint_dir``, every session is checkpointed there and an interrupted run resumes
    after its last finished session.
    """
    return run_configs([config], progress=progress, checkpoint_dir=checkpoint_dir)[0]


def run_configs(
    configs: list[RedundancyConfig], *, placement: Placement | None = None, progress: bool = True,
    checkpoint_dir=None,
) -> list[xr.Dataset]:  # fmt: skip
    """Run configurations that share one static part as one compiled program: their
    hyperparameters and seed keys are a leading configuration axis (laid out by
    ``placement``), and configuration ``i`` gives the Dataset :func:`run` gives for it alone
    (to float rounding). Padded to a multiple of ``placement.devices`` by repeating the last
    configuration (its copies are dropped). ``placement`` None: :func:`~..placement.one_run`
    (configurations vectorised on one device, each block's conditions split over two devices
    where two are available)."""
    placement = one_run() if placement is None else placement
    static, padded = shared_static(configs, placement)
    n = len(configs)
    hypers = stack_configs([c.split()[1] for c in padded])
    keys = stack_configs([seed_keys(c.seed, c.seeds) for c in padded])
    last = static.sessions
    t_start = time.perf_counter()

    def step(states, session):
        states, out = session_step(static, hypers, states, keys, session, placement)
        ctl = None
        if static.controls and session in (0, last):
            ctl = controls_step(static, hypers, states, keys, session, placement)
        return states, (out, ctl)

    def describe(session, out):
        acc = np.asarray(out[0].point["accuracy"].value)[:n, :, 0].mean()
        return f"session {session}: engaged accuracy {acc:.3f}"

    saved = config_dict(configs[0]) if n == 1 else {"configs": [config_dict(c) for c in configs]}
    ran: dict = {}
    with compile_time() as sim_compile:
        states = init_states(static, hypers, keys)
        _, outputs = run_sessions(
            step, states, last, checkpoint_dir=checkpoint_dir, config=saved,
            may_differ=RESUMABLE, progress=progress, describe=describe, ran=ran,
            extra={"keys": "seed s: fold_in(key(seed), s); session: fold_in(seed key, session)"},
        )  # fmt: skip
        start = ran.get("start", 0)
        if start and progress:
            print(f"resumed at session {start}: sessions 0 to {start - 1} read from the "
                  f"checkpoints, {max(last + 1 - start, 0)} run in this process (its timing "
                  "counts those alone)", file=sys.stderr, flush=True)  # fmt: skip
        networks = None
        if static.controls:
            if progress:  # a bar-less step: say why nothing moves while it compiles
                print("classic baselines: compiling, then training to the model's accuracy ...",
                      file=sys.stderr, flush=True)  # fmt: skip
            # The baselines train to the sampling model's engaged accuracy of each session.
            target = np.stack(
                [np.asarray(o[0].point["accuracy"].value)[:, :, 0] for o in outputs], 2
            )
            where = kernel_placement(placement)
            networks = jax.block_until_ready(
                network_measures(static, hypers, keys, target, placement=where)
            )
    t_sim = time.perf_counter() - t_start
    datasets = []
    for i, config in enumerate(configs):
        t1 = time.perf_counter()
        mine = [take_config(o, i) for o in outputs]
        ds = _dataset(config, static, mine, take_config(networks, i))
        ds.attrs.update(
            simulation_seconds=t_sim,
            simulation_compile_seconds=sim_compile.seconds,
            **sim_compile.cache_attrs(),
            analysis_seconds=time.perf_counter() - t1,
            # Seconds and trials of the whole program (all its configurations together), in
            # this process: a resumed run counts the sessions it ran, not those it read back.
            trials_simulated=np.int64(trials_simulated(static, start) * len(padded)),
            resumed_at_session=start,
            configurations_together=len(padded),
            placement=json.dumps(placement._asdict()),
            backend=jax.default_backend(),
            task=config.task,
        )
        datasets.append(ds)
    return datasets


def trials_simulated(static: Static, start: int = 0) -> int:
    """Model trials run (training and every recorded block), all seeds, by a run that ran
    sessions ``start..sessions`` (a resumed run read the earlier ones from checkpoints)."""
    p = static.protocol
    ran = range(start, static.sessions + 1)
    n_controls = len(controls(static)) if static.controls else 0
    # Sessions >= 1 train; every session records the main blocks; 0 and the last the controls.
    control_sessions = len({0, static.sessions} & set(ran))
    blocks = len(ran) * len(RECORDED_MODES) + control_sessions * n_controls
    # conditional and trial: a clamped and a free chain per trial; reward: the +- perturbed pair
    chains = 2 if p.objective in ("conditional", "reward", "trial") else 1
    training = chains * sum(1 for s in ran if s >= 1) * p.trials_per_session
    # Every recorded block comes with its held-out selection block (the d' groups).
    block = p.record_trials + selection_protocol(p).record_trials
    return static.seeds * (training + blocks * block)


def _dataset(config, static: Static, outputs, networks) -> xr.Dataset:
    coherences = sorted(float(c) for c in config.coherences)
    pick = _pick(config.seed, config.bootstrap, config.seeds)
    main = [o[0] for o in outputs]
    point = _stack(main, lambda o: o.point)
    resampled = _stack(main, lambda o: o.resampled)
    data = _block_vars("", point, resampled, ("session", "mode"), pick)
    acc = np.stack([np.asarray(o.accuracy) for o in main], axis=1)
    data["accuracy_by_contrast"] = (("seed", "session", "mode", "contrast"), acc)
    for name in ("objective", "context_match", "correct", "log_likelihood_change"):
        values = np.stack([np.asarray(getattr(o.train, name)) for o in main], axis=1)
        data[f"train_{name}"] = (("seed", "session"), values)
    ctx = np.stack([np.asarray(o.context) for o in main], axis=1)
    data["context_posterior"] = (("seed", "session", "mode", "time", "context"), ctx)
    coords = {
        "session": np.arange(static.sessions + 1),
        "mode": list(RECORDED_MODES),
        "contrast": signed_levels(coherences, np),
        "context": list(CONTEXTS),
        "seed": np.arange(config.seeds),
        "coherence": coherences,
        "orientation_row": ORIENTATION_CENTRES,
        "orientation_column": ORIENTATION_CENTRES,
    }
    sizes = population_sizes(static.subset_size)
    if sizes:  # the population sizes of the *_by_size measures
        coords["size"] = list(sizes)
    names = parameter_names(static)
    if names:
        data["parameters"] = (
            ("seed", "session", "parameter"),
            np.stack([np.asarray(o.parameters) for o in main], axis=1),
        )
        coords["parameter"] = names
    if static.controls:
        ctl = [o[1] for o in outputs if o[1] is not None]
        ctl_point = _stack(ctl, lambda c: c[0])
        ctl_rep = _stack(ctl, lambda c: c[1])
        # The d' groups are ranked in a control pair's second block, which is not passive.
        data |= _block_vars(
            "control_", ctl_point, ctl_rep, ("phase", "condition"), pick, skip=("dprime",)
        )
        net = jax.tree.map(np.asarray, networks)
        data |= _block_vars(
            "network_", net.point, net.resampled, ("session", "baseline", "noise"), pick
        )
        data["network_loss"] = (("seed", "baseline", "step"), net.loss)
        data["network_steps"] = (("seed", "session", "baseline"), net.steps)
        for name in ("private_fraction", "shared_fraction"):
            data[f"network_{name}"] = (("seed", "session", "baseline"), getattr(net, name))
        coords |= {
            "phase": ["before", "after"], "condition": list(controls(static)),
            "baseline": list(BASELINES), "noise": list(NOISE),
        }  # fmt: skip
    return xr.Dataset(data, coords=coords)
