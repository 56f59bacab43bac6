"""``bayescortex train``: learn the top-down feedback from training on the discrimination task.

A naive model is trained in *sessions* (the animal's days). Each session runs
``trials_per_session`` training trials in minibatches of ``batch``; each trial shows one static
image of a training contrast, the outcome reveals the correct category, and the feedback
parameters take one optax step per minibatch by stochastic EM
(:func:`bayescortex.inference.learning.fisher_step`). After every session (and once before
training, as session 0) the same block of stimuli is recorded in every ``record_modes`` mode
(engaged and passive by default, identical keys, so identical images) with the full trial
simulation, and a checkpoint is written. Training and recording are the compiled protocol of
:mod:`bayescortex.experiments.protocol` (the same programs the redundancy experiment runs;
recorded trials stream into statistics, of which accuracy is kept here), driven by the session
runner of :mod:`bayescortex.experiments.session`.

Naive means the feedback cannot act: no coupling (``delta = 0``, so the category belief never
reaches the sensory layer and choices are at chance) and a uniform task prior; the parametric
feedback keeps the reference's category kernel ``kappa_o = 1`` (the authors' "before learning"
model). Why not ``kappa_o = 0`` too: while ``delta = 0`` the likelihood does not depend on
``kappa_o`` or the task prior at all (``g`` and ``T`` never reach the image; their gradients are
exactly 0), and at ``kappa_o = 0`` the gradient wrt ``delta`` is negative for these stimuli
(most neurons' posterior means lie below the prior mean 1), so projected gradient ascent stays
at ``delta = kappa_o = 0``. At ``kappa_o = 1`` the ``delta`` gradient is positive and learning
starts. The free-form feedback starts at near-zero coupling and a unit table at the rate ``1 / N_g``
with random initial asymmetry between units, which is enough to escape.

What maximum-likelihood learning finds (measured, N_x = 256): ``delta`` and ``kappa_o`` rise and
accuracy with them (about 0.5 -> 0.85 by ``delta ~ 0.1 - 0.2``), but the likelihood keeps rising
past the accuracy optimum, to ``delta ~ 0.5, kappa_o ~ 1.4``, where the middle layer is almost
silent in recorded trials and the engaged readout falls back towards chance. With the defaults
accuracy peaks around sessions 2-5 (``delta ~ 0.06 - 0.2``) and is falling by session 10
(``delta ~ 0.3``); a larger learning rate reaches the silent regime within a few sessions. The
free-form feedback (default learning rate 0.02) rises steadily over 10 sessions.

Learning curves come back as an xarray Dataset with dims ``session`` (0 = before training),
``mode``, ``contrast``, ``parameter``, ``task``, ``category``, ``neuron``, ``unit``:

- ``accuracy (session, mode, contrast)``: fraction correct (zero contrast: fraction choosing
  the first category);
- ``log_likelihood_gain (session)``: an estimate of how much the expected log marginal
  likelihood per training trial, ``E log p(y, O | theta)``, has risen since the naive model: the
  Fisher-gradient estimates path-integrated along the parameter trajectory,
  ``sum_b grad(theta_b; minibatch b) . (theta_b - theta_(b-1))`` (the gradient comes from trials
  independent of the step it multiplies, so the sum is unbiased up to the Riemann error);
  ``log_likelihood_change`` is the per-session increment;
- ``log_joint (session)``: the session's mean complete-data log joint
  ``log p(T) + log p(O) + log p(g | T, O) + log p(x | g)`` over the posterior samples of its
  training trials (EM's Q-function; it omits the posterior entropy, so it can fall while the
  likelihood rises; NaN at session 0);
- ``task_match (session)``: fraction of those samples whose task latent is the trained task;
- ``parameters (session, parameter)``: delta, kappa_o, kappa_g and the task logits (parametric
  feedback only);
- ``coupling (session, neuron, unit)``, ``unit_probability (session, task, category, unit)``,
  ``task_prior (session, task)``: the learned feedback, whatever its parametrisation;
- ``feedback_alignment (session, task, axis)``: correlation over neurons of task table ``T``'s
  category-specific top-down drive ``C (p(g | T, O=0) - p(g | T, O=1))`` with the category axis
  of task ``A``, ``cos 2(phi_i - phi_{A,0})`` (1: aligned; ~0: no such structure; see
  :func:`feedback_alignment`);
- ``trained_task (session)``: the task trained in that session (session 0: the first task).

Keys: session ``s`` uses ``fold_in(key(seed), s)`` (training minibatch ``b``:
``fold_in(fold_in(session key, 0), b)``; recording: ``fold_in(session key, 1)``; training
contrasts: ``fold_in(session key, 2)``; free-form initial noise: ``fold_in(session-0 key, 3)``),
so a run resumed from any checkpoint replays exactly what an uninterrupted run does.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescortex.inference import inference_mode
from bayescortex.models import (
    CATEGORY_ORIENTATIONS,
    TASKS,
    HierarchicalModel,
    preferred_orientations,
    task_index,
)

from .. import checkpoint
from ..protocol import (
    PARAMETER_NAMES,
    Hyper,
    Protocol,
    SeedState,
    TrainInfo,
    accuracy,
    bootstrap_key,
    conditions,
    feedback_parameters,
    init_state,
    record,
    session_key,
    train_session,
)
from ..results import config_dict, versions
from ..session import run_sessions
from .config import RESUMABLE, TrainConfig


class SessionOutput(NamedTuple):
    """One session's slice of the learning curves."""

    accuracy: jax.Array  # (modes, levels)
    train: TrainInfo
    parameters: jax.Array  # delta, kappa_o, kappa_g, task logits (parametric; else empty)
    coupling: jax.Array
    unit_probability: jax.Array
    task_prior: jax.Array


@functools.partial(jax.jit, static_argnums=0)
def _train(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, task):
    return train_session(protocol, hyper, state, session_key(key, session), task)


@functools.partial(jax.jit, static_argnums=0)
def _record(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, conds):
    skey = session_key(key, session)
    stats = record(protocol, hyper, state.model, jax.random.fold_in(skey, 1),
                   bootstrap_key(key), conds)  # fmt: skip
    fb = state.model
    out = SessionOutput(
        accuracy(stats),
        TrainInfo(*(jnp.full((), jnp.nan),) * 2, jnp.zeros(())),
        feedback_parameters(fb.feedback),
        fb.feedback.coupling(),
        fb.unit_probabilities(),
        jnp.exp(fb.feedback.task_log_prior()),
    )
    return out


def session_step(config: TrainConfig, protocol: Protocol, hyper: Hyper):
    """``step(state, session) -> (state, SessionOutput)`` for :func:`run_sessions`: train
    session ``session`` (from 1) on its scheduled task, then record every mode."""
    key = jax.random.key(config.seed)

    def step(state: SeedState, session: int):
        task = task_index(config.session_task(session))
        info = TrainInfo(*(jnp.full((), jnp.nan),) * 2, jnp.zeros(()))
        if session > 0:
            state, info = _train(protocol, hyper, state, key, session, task)
        conds = conditions([inference_mode(m) for m in config.record_modes],
                           [task] * len(config.record_modes))  # fmt: skip
        out = _record(protocol, hyper, state, key, session, conds)
        return state, out._replace(train=info)

    return step


def initial_state(config: TrainConfig) -> SeedState:
    """The naive model and a fresh optimiser state (see :func:`protocol.initial_model`)."""
    protocol, hyper = config.split()
    return jax.jit(init_state, static_argnums=0)(protocol, hyper, jax.random.key(config.seed))


def train(
    config: TrainConfig, *, progress: bool = True, checkpoint_dir: str | os.PathLike | None = None
) -> tuple[HierarchicalModel, xr.Dataset]:
    """Train the feedback for ``config.sessions`` sessions; return the final model and the
    learning curves (see the module docstring).

    ``checkpoint_dir``: write a checkpoint after every session there and, if it already holds
    checkpoints of this config, resume after the last one with ``session <= config.sessions``
    (the result equals an uninterrupted run's). Fields in :data:`RESUMABLE` may differ from the
    checkpoint's config, but every finished session's task must agree; any other difference
    raises a ``ValueError`` naming the field.

    >>> cfg = TrainConfig(sessions=1, neurons=16, units=8, trials_per_session=8, batch=8,
    ...     train_sweeps=6, train_burn_in=2, record_trials=4, samples=10, presignal=2, bins=2)
    >>> model, curves = train(cfg, progress=False)
    >>> curves.accuracy.dims
    ('session', 'mode', 'contrast')
    """
    protocol, hyper = config.split()
    step = session_step(config, protocol, hyper)

    def describe(session, out):
        acc = np.asarray(out.accuracy)[0, 1:].mean()
        task = config.session_task(session)
        return f"session {session} ({task}): {config.record_modes[0]} accuracy {acc:.3f}"

    state, outputs = run_sessions(
        step, initial_state(config), config.sessions, checkpoint_dir=checkpoint_dir,
        config=config_dict(config), may_differ=RESUMABLE, progress=progress, describe=describe,
        session_meta=lambda s: {"tasks": config.session_task(s)},
    )  # fmt: skip
    return state.model, learning_curves(config, protocol, outputs)


def load_model(
    checkpoint_dir: str | os.PathLike, session: int, config: TrainConfig
) -> HierarchicalModel:
    """The model saved after session ``session`` of the run ``config`` in ``checkpoint_dir``."""
    protocol, hyper = config.split()
    state = initial_state(config)
    out_like = eqx.filter_eval_shape(session_step(config, protocol, hyper), state, session)[1]
    out_like = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_like)
    (state, _), _, _ = checkpoint.load_checkpoint(
        checkpoint_dir, session, (state, out_like), config=config_dict(config),
        may_differ=RESUMABLE,
    )  # fmt: skip
    return state.model


def feedback_alignment(coupling: np.ndarray, unit_probability: np.ndarray) -> np.ndarray:
    """Correlations over neurons of each task table's category-specific top-down drive
    ``C (p(g | T, 0) - p(g | T, 1))`` with each task's category axis ``cos 2(phi_i - phi_{A,0})``:
    a (table task T, axis task A) matrix, 0 where there is no drive.

    The diagonal says whether a table is aligned with its own task (parametric feedback: by
    construction once ``delta, kappa_o > 0``). Free-form task tables carry no built-in
    orientation, so which table serves which task is up to learning: read the rows.
    """
    p = np.asarray(unit_probability, dtype=float)
    drive = np.asarray(coupling, dtype=float) @ (p[:, 0] - p[:, 1]).T  # (neurons, tables)
    drive = drive - drive.mean(axis=0)
    phi = np.asarray(preferred_orientations(drive.shape[0]), dtype=float)
    axes = np.cos(2 * (phi[:, None] - np.asarray(CATEGORY_ORIENTATIONS)[None, :, 0]))
    axes = axes - axes.mean(axis=0)
    norm = np.linalg.norm(drive, axis=0)[:, None] * np.linalg.norm(axes, axis=0)[None, :]
    return np.where(norm > 1e-12, drive.T @ axes / np.maximum(norm, 1e-300), 0.0)


def learning_curves(config: TrainConfig, protocol: Protocol, outputs) -> xr.Dataset:
    """Stack the sessions' outputs into the learning-curve Dataset (dim ``session``)."""
    levels = protocol.levels
    keep = levels != 0 if protocol.zero_trials == 0 else np.ones(levels.size, bool)
    stack = lambda get: np.stack([np.asarray(get(o)) for o in outputs])  # noqa: E731
    coupling, units = stack(lambda o: o.coupling), stack(lambda o: o.unit_probability)
    change = stack(lambda o: o.train.log_likelihood_change)
    data = {
        "accuracy": (("session", "mode", "contrast"), stack(lambda o: o.accuracy)[..., keep]),
        "log_joint": ("session", stack(lambda o: o.train.log_joint)),
        "task_match": ("session", stack(lambda o: o.train.task_match)),
        "log_likelihood_change": ("session", change),
        "log_likelihood_gain": ("session", np.cumsum(change)),
        "coupling": (("session", "neuron", "unit"), coupling),
        "unit_probability": (("session", "task", "category", "unit"), units),
        "task_prior": (("session", "task"), stack(lambda o: o.task_prior)),
        "feedback_alignment": (
            ("session", "task", "axis"),
            np.stack([feedback_alignment(c, u) for c, u in zip(coupling, units, strict=True)]),
        ),
        "trained_task": ("session", [config.session_task(s) for s in range(len(outputs))]),
    }
    coords = {
        "session": np.arange(len(outputs)),
        "mode": list(config.record_modes),
        "contrast": levels[keep],
        "task": list(TASKS),
        "axis": list(TASKS),
        "category": [0, 1],
        "neuron_orientation": ("neuron", np.asarray(preferred_orientations(config.neurons))),
    }
    if config.feedback == "parametric":
        data["parameters"] = (("session", "parameter"), stack(lambda o: o.parameters))
        coords["parameter"] = list(PARAMETER_NAMES)
    return xr.Dataset(data, coords=coords).assign_attrs(
        feedback=config.feedback,
        log_joint=(
            "EM Q-function: mean over the session's training trials and post-burn-in clamped "
            "samples of log p(T) + log p(O) + log p(g|T,O) + log p(x|g) (not a likelihood)"
        ),
        log_likelihood_gain=(
            "estimate of E log p(y, O | theta) per training trial minus its value for the naive "
            "model: path integral of the Fisher gradient along the training trajectory, "
            "sum_b grad(theta_b; minibatch b) . (theta_b - theta_(b-1)), up to the parameters "
            "before each session's last step"
        ),
        accuracy="fraction correct; at contrast 0 the fraction choosing the first category",
        session_0="recorded before any training",
    )


def summary_text(ds: xr.Dataset) -> str:
    """Accuracy (mean over signal contrasts) per session and mode, and the parameters."""
    signal = ds.accuracy.where(ds.contrast != 0).mean("contrast")
    head = "session  task      " + "  ".join(f"{m:>9}" for m in ds["mode"].values)
    if "parameters" in ds:
        head += "  " + "  ".join(f"{p:>18}" for p in ds["parameter"].values)
    lines = [f"feedback: {ds.attrs.get('feedback')}", head]
    for s in ds.session.values:
        row = f"{s:7d}  {ds.trained_task.values[s]:8}  "
        row += "  ".join(f"{float(signal.sel(session=s, mode=m)):9.3f}" for m in ds["mode"].values)
        if "parameters" in ds:
            row += "  " + "  ".join(f"{float(v):18.4f}" for v in ds.parameters.sel(session=s))
        lines.append(row)
    return "\n".join(lines) + "\n"


def _write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


def main(config: TrainConfig) -> Path:
    """Train (resuming the run's checkpoints if any) and write the run folder
    ``<output>/train/<run_id>/``: config.json, versions.json, results.nc (the learning curves),
    model.eqx (the final model), summary.txt and checkpoints/."""
    run_id = config.run_id or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = Path(config.output) / "train" / run_id
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)  # fails now if unwritable
    model, ds = train(config, progress=True, checkpoint_dir=folder / "checkpoints")
    cfg = config_dict(config)
    ds = ds.assign_attrs(experiment="train", config=json.dumps(cfg))
    text = summary_text(ds)
    _write(folder / "config.json", lambda p: p.write_text(json.dumps(cfg, indent=2)))
    _write(folder / "versions.json", lambda p: p.write_text(json.dumps(versions(), indent=2)))
    _write(folder / "results.nc", lambda p: ds.to_netcdf(p, engine="h5netcdf"))
    _write(folder / "model.eqx", lambda p: eqx.tree_serialise_leaves(p, model))
    _write(folder / "summary.txt", lambda p: p.write_text(text))
    print(text, end="")
    print(f"written to {folder}")
    return folder
