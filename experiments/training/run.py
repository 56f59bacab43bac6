"""``bayescortex train``: learn the top-down feedback from training on the discrimination task.

A naive model is trained in *sessions* (the animal's days). Each session runs
``trials_per_session`` training trials (task cue) in minibatches of ``batch``; the outcome of a
trial reveals the correct category, and the feedback parameters take one optax step per
minibatch (:func:`bayescortex.inference.learning.fisher_step`). After every session (and once
before training, as session 0) the same block of stimuli is recorded in every ``record_modes``
condition (engaged and passive by default, identical keys, so identical images) with the full
trial simulation, and a checkpoint is written. Training and recording are the compiled
programs of :mod:`bayescortex.experiments.protocol` and :mod:`bayescortex.experiments.blocks`
(the same programs the redundancy experiment runs; recorded trials stream into statistics, of
which accuracy and the context posterior are kept here), driven by the session runner of
:mod:`bayescortex.experiments.session`.

The default: the model starts as an adult sensory model that does not know the task: the
coupling ``delta = 0.08`` (the authors' trained value; it stays fixed unless
``sensory_rate > 0``, and is then learned from the images alone, never from the outcome),
category kernels ``kappa_o = 0`` (a task-free middle layer, so choices are at chance) and a
uniform context prior ``p(K | q)`` over cardinal, oblique and none for both cues. Learning
(``objective="reward"``) ascends the expected reward of the behaving decision, its accuracy, by
SPSA with common random numbers (:mod:`bayescortex.inference.reward`): the trained task's kernel
leaves 0 in the first session, where accuracy reaches its plateau, and then grows slowly, and
the task cue's prior on the trained task moves little (measured: about 0.4 to 0.5 after 4 to 8
sessions); measured, no overshoot (``docs/results.md``). ``objective="conditional"`` (the
default before 2026-12-06) ascends the conditional likelihood ``log p(O* | y)`` of the revealed
category instead (a clamped minus a free chain on the same images: exact Gibbs chains given the
current frame by default, ``learning_inference="behaving"`` for the decision's tempered
sampler); measured, its kernel keeps growing after accuracy has peaked (see
:mod:`bayescortex.inference.learning` for why), so choose the number of sessions with that in
mind. Passive viewing is recorded as the fixation cue with the same (engaged) inference
(``passive="fixation"``): whether the task structure shapes the responses is up to what the
model infers about the context, ``p(K | q, y)``; training trials carry the task cue, so the
fixation cue's prior keeps its initial value unless ``passive_exposure > 0``, which ends each
session with that many fixation trials whose images (no outcome) update it
(:func:`~bayescortex.experiments.protocol.expose`). ``passive="cut"`` records the authors'
passive condition instead (top-down path cut, alpha = 0). The free-form feedback starts from the
same coupling plus ``init_scale |N(0, 1)|`` and task rows near the rate ``1 / N_g`` with random
asymmetry.

The first version's behaviour stays reachable (:data:`~.config.LEGACY`, ``bayescortex train
--legacy``): ``objective="joint"`` (stochastic EM of ``log p(y, O*)`` on one static image,
``train_sweeps`` exact clamped sweeps per trial), the coupling learned from ``delta = 0``
(``sensory_rate = 1``), ``kappa_o = 1`` (at ``delta = 0`` nothing reaches the image, and at
``kappa_o = 0`` the ``delta`` gradient points out of the allowed region, so EM could not start
from ``delta = kappa_o = 0``), no ``none`` context (``none_logit = -30``), passive = cut, one
static frame per trial. Measured at N_x = 256: maximum likelihood keeps raising the coupling
past the accuracy optimum (accuracy 0.5 -> 0.85 by ``delta ~ 0.1``, then back towards chance
as ``delta -> 0.5``, where the middle layer is almost silent in recorded trials).

Learning curves come back as an xarray Dataset with dims ``session`` (0 = before training),
``mode``, ``contrast``, ``time``, ``context``, ``cue``, ``parameter``, ``task``, ``axis``,
``category``, ``neuron``, ``unit``:

- ``accuracy (session, mode, contrast)``: fraction correct (zero contrast: fraction choosing
  the first category);
- ``context_posterior (session, mode, time, context)``: the mean posterior over the context
  ``p_t(K | q, y)`` per time bin over the recorded block (:func:`protocol.context_posterior`),
  ``q`` the condition's cue;
- ``train_objective (session)``: the session's mean training objective: ``log p(O* | y)`` under
  the behaving inference after the last sweep (conditional), or the EM Q-function, the mean
  theta-dependent complete-data log joint ``log p(K | q) + log p(O) + log p(g | K, O) +
  log p(x | g)`` of the clamped samples (joint; it omits the posterior entropy, so it can fall
  while the likelihood rises), or the reward of the behaving decision, mean over the two
  SPSA-perturbed decisions of every trial (reward); NaN at session 0;
- ``train_context_match (session)``: fraction of the training chains' kept samples whose context
  is the trained task (free chain under conditional, clamped chain under joint, both chains of
  the perturbed pair under reward);
- ``train_correct (session)``: training accuracy of the free chains (reward: of both
  perturbed chains; NaN under joint);
- ``log_likelihood_gain (session)``: an estimate of how much the expected objective per training
  trial (``E log p(O* | y)``, conditional; ``E log p(y, O*)``, joint; ``E R``, the accuracy,
  reward) has risen since the naive
  model: the gradient estimates path-integrated along the parameter trajectory,
  ``sum_b grad(theta_b; minibatch b) . (theta_b - theta_(b-1))`` (the gradient comes from trials
  independent of the step it multiplies, so the sum is unbiased up to the Riemann error; a
  moving sensory coupling contributes its marginal-likelihood term); ``log_likelihood_change``
  is the per-session increment;
- ``parameters (session, parameter)``: :func:`protocol.feedback_parameters`, named by
  :func:`protocol.parameter_names` (parametric: delta, kappa_o per task, kappa_g and
  ``p_<context>_given_<cue>``; free-form: the context probabilities);
- ``coupling (session, neuron, unit)``, ``unit_probability (session, context, category, unit)``,
  ``context_prior (session, cue, context)``: the learned feedback, whatever its
  parametrisation;
- ``feedback_alignment (session, task, axis)``: correlation over neurons of task table ``T``'s
  category-specific top-down drive ``C (p(g | T, O=0) - p(g | T, O=1))`` with the category axis
  of task ``A``, ``cos 2(phi_i - phi_{A,0})`` (1: aligned; ~0: no such structure; see
  :func:`drive_alignment`);
- ``trained_task (session)``: the task trained in that session (session 0: the first task).

Keys: session ``s`` uses ``fold_in(key(seed), s)`` (training minibatch ``b``:
``fold_in(fold_in(session key, 0), b)``; recording: ``fold_in(session key, 1)``; training
contrasts: ``fold_in(session key, 2)``; free-form initial noise: ``fold_in(session-0 key, 3)``;
passive exposure: ``fold_in(session key, 5)``, ``EXPOSURE_KEY``; the recording's bootstrap
weights, if any: ``fold_in(key(seed), 2**31 - 1)``, ``BOOTSTRAP_KEY``; the constants and the
redundancy experiment's further keys are listed in :mod:`bayescortex.experiments.keys`),
so a run resumed from any checkpoint replays exactly what an uninterrupted run does.
"""

from __future__ import annotations

import functools
import json
import os
import time
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
    CONTEXTS,
    CUES,
    TASKS,
    HierarchicalModel,
    preferred_orientations,
    task_index,
)

from .. import checkpoint
from ..blocks import accuracy, context_posterior, record
from ..compilation import CompileTime, compile_time
from ..keys import RECORDING_KEY, bootstrap_key, session_key
from ..protocol import (
    Hyper,
    Protocol,
    SeedState,
    TrainInfo,
    conditions,
    feedback_parameters,
    init_state,
    parameter_names,
    train_session,
)
from ..results import check_output, config_dict, run_folder, versions, write_together
from ..session import run_sessions
from .config import RESUMABLE, TrainConfig

TRAIN_VARIABLES = {
    "objective": "train_objective",
    "context_match": "train_context_match",
    "correct": "train_correct",
    "log_likelihood_change": "log_likelihood_change",
}
"""Dataset variable of every :class:`~bayescortex.experiments.protocol.TrainInfo` field."""


class SessionOutput(NamedTuple):
    """One session's slice of the learning curves."""

    accuracy: jax.Array  # (modes, levels)
    context: jax.Array  # (modes, bins, contexts): mean p_t(K | q, y) over the block
    train: TrainInfo
    parameters: jax.Array  # protocol.feedback_parameters
    coupling: jax.Array  # (neurons, units)
    unit_probability: jax.Array  # (contexts, categories, units)
    context_prior: jax.Array  # (cues, contexts): p(K | q)


def _no_training() -> TrainInfo:
    """The diagnostics of session 0 (no training): NaN, and no likelihood change."""
    return TrainInfo(*(jnp.full((), jnp.nan),) * 3, jnp.zeros(()))


@functools.partial(jax.jit, static_argnums=0)
def _train(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, task):
    return train_session(protocol, hyper, state, session_key(key, session), task)


@functools.partial(jax.jit, static_argnums=0)
def _record(protocol: Protocol, hyper: Hyper, state: SeedState, key, session, conds):
    skey = session_key(key, session)
    stats = record(protocol, hyper, state.model, jax.random.fold_in(skey, RECORDING_KEY),
                   bootstrap_key(key), conds)  # fmt: skip
    model = state.model
    return SessionOutput(
        accuracy=accuracy(stats),
        context=context_posterior(stats)[:, 0],
        train=_no_training(),
        parameters=feedback_parameters(model.feedback),
        coupling=model.feedback.coupling(),
        unit_probability=model.unit_probabilities(),
        context_prior=jax.nn.softmax(model.feedback.context_logits, axis=-1),
    )


def session_step(config: TrainConfig, protocol: Protocol, hyper: Hyper):
    """``step(state, session) -> (state, SessionOutput)`` for :func:`run_sessions`: train
    session ``session`` (from 1) on its scheduled task, then record every condition of
    ``record_modes`` (:meth:`TrainConfig.recorded`) on that task's stimuli."""
    key = jax.random.key(config.seed)
    recorded = config.recorded()

    def step(state: SeedState, session: int):
        task = task_index(config.session_task(session))
        info = _no_training()
        if session > 0:
            state, info = _train(protocol, hyper, state, key, session, task)
        conds = conditions(
            [inference_mode(mode) for mode, _ in recorded], [task] * len(recorded),
            [cue for _, cue in recorded],
        )  # fmt: skip
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

    t0 = time.perf_counter()
    with compile_time() as compiling:
        state, outputs = run_sessions(
            step, initial_state(config), config.sessions, checkpoint_dir=checkpoint_dir,
            config=config_dict(config), may_differ=RESUMABLE, progress=progress,
            describe=describe, session_meta=lambda s: {"tasks": config.session_task(s)},
        )  # fmt: skip
    curves = learning_curves(config, protocol, outputs)
    curves.attrs.update(
        wall_seconds=time.perf_counter() - t0,
        compile_seconds=compiling.seconds,
        **compiling.cache_attrs(),
    )
    return state.model, curves


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


def drive_alignment(coupling: np.ndarray, unit_probability: np.ndarray) -> np.ndarray:
    """Correlations over neurons of each task table's category-specific top-down drive
    ``C (p(g | T, 0) - p(g | T, 1))`` with each task's category axis ``cos 2(phi_i - phi_{A,0})``:
    a (table task T, axis task A) matrix, 0 where there is no drive.

    ``unit_probability``: the (contexts, categories, units) table; only the task rows
    (the first ``len(TASKS)``) enter (the ``none`` row is category-free). The diagonal says
    whether a table is aligned with its own task (parametric feedback: by construction once
    ``delta, kappa_o > 0``). Free-form task tables carry no built-in orientation, so which
    table serves which task is up to learning: read the rows.
    """
    p = np.asarray(unit_probability, dtype=float)[: len(TASKS)]
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
    data = {
        "accuracy": (("session", "mode", "contrast"), stack(lambda o: o.accuracy)[..., keep]),
        "context_posterior": (
            ("session", "mode", "time", "context"), stack(lambda o: o.context),
        ),
    }  # fmt: skip
    for field, name in TRAIN_VARIABLES.items():
        data[name] = ("session", stack(lambda o, f=field: getattr(o.train, f)))
    data |= {
        "log_likelihood_gain": ("session", np.cumsum(data["log_likelihood_change"][1])),
        "parameters": (("session", "parameter"), stack(lambda o: o.parameters)),
        "coupling": (("session", "neuron", "unit"), coupling),
        "unit_probability": (("session", "context", "category", "unit"), units),
        "context_prior": (("session", "cue", "context"), stack(lambda o: o.context_prior)),
        "feedback_alignment": (
            ("session", "task", "axis"),
            np.stack([drive_alignment(c, u) for c, u in zip(coupling, units, strict=True)]),
        ),
        "trained_task": ("session", [config.session_task(s) for s in range(len(outputs))]),
    }
    coords = {
        "session": np.arange(len(outputs)),
        "mode": list(config.record_modes),
        "contrast": levels[keep],
        "context": list(CONTEXTS),
        "cue": list(CUES),
        "parameter": parameter_names(config.feedback),
        "task": list(TASKS),
        "axis": list(TASKS),
        "category": [0, 1],
        "neuron_orientation": ("neuron", np.asarray(preferred_orientations(config.neurons))),
    }
    objective = {
        "conditional": "log p(O* | y) of the revealed category under the behaving inference "
        "after the last sweep (free chain), mean over the session's training trials",
        "joint": "EM Q-function: mean over the session's training trials and post-burn-in "
        "clamped samples of log p(K|q) + log p(O) + log p(g|K,O) + log p(x|g) (not a "
        "likelihood)",
        "reward": "reward of the behaving decision (1 if the choice named the revealed "
        "category), mean over the session's training trials and their two SPSA-perturbed "
        "chains (theta +- c Delta)",
        "trial": "log p(O* | y_1..F) of the revealed category given all the trial's signal "
        "frames (one (K, O) per trial; Rao-Blackwellised estimate from the free trial-level "
        "chain), mean over the session's training trials",
    }[config.objective]
    gained = {
        "conditional": "log p(O* | y)", "joint": "log p(y, O*)", "reward": "reward (accuracy)",
        "trial": "log p(O* | y_1..F)",
    }[config.objective]  # fmt: skip
    recorded = {m: f"{mode}, cue {CUES[cue]}" for m, (mode, cue) in
                zip(config.record_modes, config.recorded(), strict=True)}  # fmt: skip
    return xr.Dataset(data, coords=coords).assign_attrs(
        feedback=config.feedback,
        objective=config.objective,
        passive=config.passive,
        modes="; ".join(f"{m}: {d}" for m, d in recorded.items()),
        train_objective=objective,
        train_context_match="fraction of the training chains' kept samples whose context is "
        "the trained task",
        train_correct="training accuracy of the free chains (reward: of both perturbed "
        "chains; NaN under the joint objective)",
        log_likelihood_gain=(
            f"estimate of E {gained} per training trial minus its value for the naive "
            "model: path integral of the gradient along the training trajectory, "
            "sum_b grad(theta_b; minibatch b) . (theta_b - theta_(b-1)), up to the parameters "
            "before each session's last step"
        ),
        context_posterior="mean over the recorded block of p_t(K | q, y), per time bin",
        accuracy="fraction correct; at contrast 0 the fraction choosing the first category",
        session_0="recorded before any training",
    )


def summary_text(ds: xr.Dataset) -> str:
    """Per session and mode: accuracy (mean over signal contrasts) and the mean context
    posterior of the trained task and of ``none``; then the parameters per session."""
    signal = ds.accuracy.where(ds.contrast != 0).mean("contrast")
    context = ds.context_posterior.mean("time")
    modes = [str(m) for m in ds["mode"].values]
    lines = [
        f"feedback: {ds.attrs.get('feedback')}, objective: {ds.attrs.get('objective')}, "
        f"passive: {ds.attrs.get('passive')}",
        "accuracy over signal contrasts; mean p(K | q, y) of the trained task and of none",
    ]
    head = "session  task      " + "  ".join(
        f"{'acc ' + m:>18}  {'p(task) ' + m:>18}  {'p(none) ' + m:>18}" for m in modes
    )
    lines.append(head)
    for s in ds.session.values:
        task = str(ds.trained_task.values[s])
        row = f"{s:7d}  {task:8}  "
        row += "  ".join(
            f"{float(signal.sel(session=s, mode=m)):18.3f}  "
            f"{float(context.sel(session=s, mode=m, context=task)):18.3f}  "
            f"{float(context.sel(session=s, mode=m, context='none')):18.3f}"
            for m in modes
        )
        lines.append(row)
    if "parameters" in ds:
        names = [str(p) for p in ds["parameter"].values]
        width = [max(len(n), 8) for n in names]
        lines += [
            "",
            "session  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, width, strict=True)),
        ]
        for s in ds.session.values:
            values = ds.parameters.sel(session=s).values
            lines.append(
                f"{s:7d}  "
                + "  ".join(f"{float(v):{w}.4f}" for v, w in zip(values, width, strict=True))
            )
    if "wall_seconds" in ds.attrs:
        compiling = CompileTime.from_attrs(ds.attrs["compile_seconds"], ds.attrs)
        lines += [
            "",
            f"wall time {ds.attrs['wall_seconds']:.0f} s, of which compiling "
            f"{compiling.describe()}",
        ]
    return "\n".join(lines) + "\n"


def main(config: TrainConfig) -> Path:
    """Train (resuming the run's checkpoints if any) and write the run folder
    ``<output>/train/<run_id>/``: config.json, versions.json, results.nc (the learning curves),
    model.eqx (the final model), summary.txt, checkpoints/ and, last, manifest.json (the final
    files are written as one unit: :func:`~bayescortex.experiments.results.write_together`).
    The folder is checked up front: an unwritable one fails before any computation."""
    folder = run_folder("train", config)
    cfg = config_dict(config)  # a non-finite field fails now, not when config.json is written
    check_output(folder.parent)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    model, ds = train(config, progress=True, checkpoint_dir=folder / "checkpoints")
    ds = ds.assign_attrs(experiment="train", config=json.dumps(cfg))
    text = summary_text(ds)
    write_together(folder, {
        "config.json": lambda p: p.write_text(json.dumps(cfg, indent=2)),
        "versions.json": lambda p: p.write_text(json.dumps(versions(), indent=2)),
        "results.nc": lambda p: ds.to_netcdf(p, engine="h5netcdf"),
        "model.eqx": lambda p: eqx.tree_serialise_leaves(p, model),
        "summary.txt": lambda p: p.write_text(text),
    })  # fmt: skip
    print(text, end="")
    print(f"written to {folder}")
    return folder
