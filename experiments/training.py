"""``bayescortex train``: learn the top-down feedback from training on the discrimination task.

A naive model is trained in *sessions* (the animal's days). Each session runs
``trials_per_session`` training trials in minibatches of ``batch``; each trial shows one static
image of a training contrast, the outcome reveals the correct category, and the feedback
parameters take one optax step per minibatch by stochastic EM
(:func:`bayescortex.inference.learning.train_step`). After every session (and once before
training, as session 0) the same block of stimuli is recorded in every ``record_modes`` mode
(engaged and passive by default, identical keys, so identical images) with the full trial
simulation, and a checkpoint is written.

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

import dataclasses
import datetime
import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from tqdm.auto import tqdm

from bayescortex.inference import SamplerSettings, inference_mode, learning, simulate_chunked
from bayescortex.inference.trial import TrialRecord
from bayescortex.models import (
    CATEGORY_ORIENTATIONS,
    TASKS,
    FreeFormFeedback,
    HierarchicalModel,
    ParametricFeedback,
    Stimulus,
    preferred_orientations,
    reference_model,
    task_index,
)

from . import checkpoint
from .results import check_fields, config_dict, versions
from .simulate import Mode, RecordingOptions

RESUMABLE = ("sessions", "task", "tasks", "chunk", "output", "run_id")
"""Config fields that may change when a run resumes from a checkpoint (extend it, schedule
further tasks, write elsewhere). The task schedule of sessions already run must still agree."""

KEY_DERIVATION = (
    "session key = fold_in(key(seed), session); training step b = fold_in(fold_in(session key, "
    "0), b); recording = fold_in(session key, 1); training contrasts = fold_in(session key, 2); "
    "free-form initial noise = fold_in(fold_in(key(seed), 0), 3)"
)


DEFAULT_LEARNING_RATE = {"parametric": 0.005, "free_form": 0.02}


@dataclasses.dataclass(frozen=True)
class TrainConfig(RecordingOptions):
    """Train the feedback on the discrimination task, recording engaged and passive blocks.

    The recording fields (``samples``, ``presignal``, ``bins``, ``frame_every``, ...) come from
    :class:`~bayescortex.experiments.simulate.RecordingOptions`; training trials always show one
    static frame.
    """

    task: Literal["cardinal", "oblique"] = "cardinal"
    """The task trained in every session (unless ``tasks`` gives a schedule)."""
    tasks: tuple[str, ...] = ()
    """Per-session schedule, entries 'name' or 'name:count', e.g. cardinal:5 oblique:5; the
    last task continues if the schedule is shorter than ``sessions``."""
    sessions: int = 10
    """Training sessions (session 0, before training, is recorded as well)."""
    feedback: Literal["parametric", "free_form"] = "parametric"
    """'parametric': learn delta, kappa_o, task logits; 'free_form': the whole coupling matrix
    and unit table."""
    neurons: int = 256
    units: int = 64
    kappa_g: float = 3.0
    """Fixed width of the parametric coupling kernel."""
    init_delta: float = 0.0
    """Initial coupling strength (parametric)."""
    init_kappa_o: float = 1.0
    """Initial category-kernel concentration (parametric; see the module docstring for why
    not 0)."""
    init_scale: float = 0.01
    """Free-form: scale of the initial coupling, ``init_scale |N(0, 1)|``."""
    init_logit_scale: float = 0.3
    """Free-form: sd of the noise on the initial unit logits (breaks the units' symmetry)."""
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float | None = None
    """Optimiser step size; default 0.005 for parametric feedback (Adam: accuracy peaks after
    2-5 sessions at N_x = 256) and 0.02 for free-form feedback (which learns more slowly)."""
    trials_per_session: int = 256
    """Training trials per session."""
    batch: int = 32
    """Training trials per optimiser step (divides trials_per_session)."""
    train_sweeps: int = 40
    """Clamped Gibbs sweeps per training trial."""
    train_burn_in: int = 10
    """Sweeps dropped before the gradient is averaged."""
    train_contrasts: tuple[float, ...] = (3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts of training trials (drawn uniformly; 0: category revealed at random)."""
    record_trials: int = 64
    """Recorded trials per contrast and mode after every session."""
    contrasts: tuple[float, ...] = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts of the recording blocks."""
    record_modes: tuple[Mode, ...] = ("engaged", "passive")
    """Inference modes of the recording blocks (same stimuli in each)."""
    output: str = "results"
    """Root folder: the run goes to <output>/train/<run_id>/ with checkpoints/ inside."""
    run_id: str | None = None
    """Run folder name (default: a timestamp). An existing run's checkpoints are resumed."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(
            self,
            positive=(
                "neurons", "units", "trials_per_session", "batch", "train_sweeps", "record_trials",
            ),
            non_negative=(
                "sessions", "init_delta", "init_kappa_o", "init_scale", "init_logit_scale",
            ),
        )  # fmt: skip
        if not self.step_size > 0:
            raise ValueError(f"learning_rate: must be positive, got {self.learning_rate}")
        if self.trials_per_session % self.batch:
            raise ValueError(
                f"batch: must divide trials_per_session ({self.trials_per_session}), "
                f"got {self.batch}"
            )
        if not 0 <= self.train_burn_in < self.train_sweeps:
            raise ValueError(
                f"train_burn_in: must lie in [0, train_sweeps), got {self.train_burn_in}"
            )
        for name in ("contrasts", "train_contrasts"):
            values = getattr(self, name)
            if not values or not all(math.isfinite(c) for c in values):
                raise ValueError(f"{name}: need at least one finite contrast, got {values}")
        if not self.record_modes or len(set(self.record_modes)) != len(self.record_modes):
            raise ValueError(f"record_modes: need distinct modes, got {self.record_modes}")
        for mode in self.record_modes:
            inference_mode(mode)
        self.schedule()
        self.train_settings()

    @property
    def step_size(self) -> float:
        """The learning rate, with the per-feedback default filled in."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATE[self.feedback]

    def schedule(self) -> tuple[str, ...]:
        """The task of every training session 1..sessions (index s - 1)."""
        entries = self.tasks or (self.task,)
        expanded: list[str] = []
        for entry in entries:
            name, _, count = entry.partition(":")
            try:
                task_index(name)
                n = int(count) if count else 1
            except ValueError as err:
                raise ValueError(f"tasks: bad entry {entry!r} ({err})") from None
            if n <= 0:
                raise ValueError(f"tasks: bad entry {entry!r} (count must be positive)")
            expanded += [name] * n
        last = expanded[-1]
        expanded += [last] * max(0, self.sessions - len(expanded))
        return tuple(expanded[: self.sessions]) if self.sessions else (expanded[0],)

    def session_task(self, session: int) -> str:
        """The task of session ``session`` (session 0 records the first scheduled task)."""
        return self.schedule()[max(session, 1) - 1]

    def train_settings(self) -> SamplerSettings:
        """Settings of the clamped training chains."""
        return SamplerSettings(
            n_samples=self.train_sweeps,
            n_presignal=0,
            burn_in=self.train_burn_in,
            n_bins=1,
            contrast_prior=self.contrast_prior,
            x_sampler=self.x_sampler,
        )


class SessionRecord(NamedTuple):
    """What :func:`train` hands to ``on_session`` after every session it runs."""

    session: int
    """0 before training, s after s training sessions."""
    task: str
    """The task trained in this session and used in its recording blocks."""
    model: HierarchicalModel
    """The model after this session."""
    contrasts: np.ndarray
    """Signed contrast of every recorded trial (``record_trials`` per contrast)."""
    blocks: dict[str, TrialRecord]
    """Mode name -> the recording block (numpy arrays, trial axis first), same stimuli."""
    summary: xr.Dataset
    """This session's slice of the learning curves."""


# -- building blocks ---------------------------------------------------------------------------


def session_key(config: TrainConfig, session: int) -> jax.Array:
    """``fold_in(key(seed), session)``: every random choice of a session derives from it."""
    return jax.random.fold_in(jax.random.key(config.seed), session)


@functools.cache
def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """The optax optimiser (cached, so equal configs share one compiled training step)."""
    if name == "adam":
        return optax.adam(learning_rate)
    if name == "sgd":
        return optax.sgd(learning_rate)
    raise ValueError(f"optimizer: 'adam' or 'sgd', got {name!r}")


def initial_model(config: TrainConfig) -> HierarchicalModel:
    """The naive model: no coupling, no category structure, uniform task prior.

    Parametric: ``delta = init_delta`` (0), ``kappa_o = init_kappa_o`` (1), ``kappa_g``.
    Free-form: coupling ``init_scale |N(0, 1)|`` (0.01: no effective feedback) and unit logits
    ``logit(1 / units) + init_logit_scale N(0, 1)`` (the parametric naive rate ``1 / units``,
    with noise that breaks the symmetry between units: with 0.01 instead of 0.3 the units stay
    interchangeable for longer and learning is slower and less reliable across seeds).
    """
    if config.feedback == "parametric":
        return reference_model(
            config.neurons,
            config.units,
            delta=config.init_delta,
            kappa_o=config.init_kappa_o,
            kappa_g=config.kappa_g,
        )
    k_c, k_u = jax.random.split(jax.random.fold_in(session_key(config, 0), 3))
    n_x, n_g = config.neurons, config.units
    coupling = config.init_scale * jnp.abs(jax.random.normal(k_c, (n_x, n_g)))
    base = math.log(1.0 / n_g) - math.log1p(-1.0 / n_g) if n_g > 1 else 0.0
    logits = base + config.init_logit_scale * jax.random.normal(k_u, (len(TASKS), 2, n_g))
    return HierarchicalModel(FreeFormFeedback(coupling, logits))


def feedback_alignment(model: HierarchicalModel) -> np.ndarray:
    """Correlations over neurons of each task table's category-specific top-down drive
    ``C (p(g | T, 0) - p(g | T, 1))`` with each task's category axis ``cos 2(phi_i - phi_{A,0})``:
    a (table task T, axis task A) matrix, 0 where there is no drive.

    The diagonal says whether a table is aligned with its own task (parametric feedback: by
    construction once ``delta, kappa_o > 0``). Free-form task tables carry no built-in
    orientation, so which table serves which task is up to learning: read the rows.
    """
    fb = model.feedback
    p = np.asarray(fb.unit_probabilities(), dtype=float)
    drive = np.asarray(fb.coupling(), dtype=float) @ (p[:, 0] - p[:, 1]).T  # (neurons, tables)
    drive = drive - drive.mean(axis=0)
    phi = np.asarray(preferred_orientations(model.n_neurons), dtype=float)
    axes = np.cos(2 * (phi[:, None] - np.asarray(CATEGORY_ORIENTATIONS)[None, :, 0]))
    axes = axes - axes.mean(axis=0)
    norm = np.linalg.norm(drive, axis=0)[:, None] * np.linalg.norm(axes, axis=0)[None, :]
    return np.where(norm > 1e-12, drive.T @ axes / np.maximum(norm, 1e-300), 0.0)


def _parameters(model: HierarchicalModel) -> tuple[list[str], np.ndarray] | None:
    fb = model.feedback
    if not isinstance(fb, ParametricFeedback):
        return None
    names = ["delta", "kappa_o", "kappa_g"] + [f"task_logit_{t}" for t in TASKS]
    values = [float(fb.delta), float(fb.kappa_o), float(fb.kappa_g)]
    values += [float(v) for v in np.asarray(fb.task_logits)]
    return names, np.asarray(values)


def record_session(
    config: TrainConfig, model: HierarchicalModel, session: int, *, on_chunk=None
) -> tuple[np.ndarray, dict[str, TrialRecord]]:
    """Record session ``session``'s blocks: ``(contrasts, {mode: TrialRecord})``.

    The same key (``fold_in(session key, 1)``), hence the same images, in every mode of
    ``config.record_modes``; ``record_trials`` trials per contrast of ``config.contrasts``, in
    the task of the session. Public so that experiments can re-record a saved model exactly.
    """
    task = task_index(config.session_task(session))
    contrasts = np.repeat(np.asarray(config.contrasts, dtype=float), config.record_trials)
    key = jax.random.fold_in(session_key(config, session), 1)
    stimulus = Stimulus(frame_every=config.frame_every)
    blocks = {}
    for mode in config.record_modes:
        blocks[mode] = simulate_chunked(
            key,
            model,
            stimulus,
            np.full(contrasts.shape, task),
            contrasts,
            config.record_settings(),
            inference_mode(mode),
            chunk_size=config.chunk,
            on_chunk=on_chunk,
        )
    return contrasts, blocks


def _accuracy(choice: np.ndarray, contrasts: np.ndarray, levels: np.ndarray) -> np.ndarray:
    category = (contrasts < 0).astype(int)
    hit = np.where(contrasts == 0, choice == 0, choice == category).astype(float)
    return np.array([hit[contrasts == c].mean() for c in levels])


def session_summary(
    config: TrainConfig,
    session: int,
    model: HierarchicalModel,
    contrasts: np.ndarray,
    blocks: dict[str, TrialRecord],
    log_joint: float,
    task_match: float,
    log_likelihood_change: float,
) -> xr.Dataset:
    """One session's slice of the learning curves (see the module docstring)."""
    levels = np.unique(np.asarray(config.contrasts, dtype=float))
    fb = model.feedback
    data = {
        "accuracy": (
            ("mode", "contrast"),
            np.stack([_accuracy(blocks[m].choice, contrasts, levels) for m in config.record_modes]),
        ),
        "log_joint": ((), np.float64(log_joint)),
        "task_match": ((), np.float64(task_match)),
        "log_likelihood_change": ((), np.float64(log_likelihood_change)),
        "trained_task_index": ((), np.int64(task_index(config.session_task(session)))),
        "coupling": (("neuron", "unit"), np.asarray(fb.coupling())),
        "unit_probability": (("task", "category", "unit"), np.asarray(fb.unit_probabilities())),
        "task_prior": (("task",), np.exp(np.asarray(fb.task_log_prior()))),
        "feedback_alignment": (("task", "axis"), feedback_alignment(model)),
    }
    coords = {
        "mode": list(config.record_modes),
        "contrast": levels,
        "task": list(TASKS),
        "axis": list(TASKS),
        "category": [0, 1],
        "neuron_orientation": ("neuron", np.asarray(preferred_orientations(model.n_neurons))),
    }
    params = _parameters(model)
    if params is not None:
        data["parameters"] = (("parameter",), params[1])
        coords["parameter"] = params[0]
    return xr.Dataset(data, coords=coords)


def learning_curves(config: TrainConfig, summaries: list[xr.Dataset]) -> xr.Dataset:
    """Stack session slices into the learning-curve Dataset (dim ``session``)."""
    ds = xr.concat(summaries, dim="session", coords="minimal", compat="override")
    ds = ds.assign_coords(session=np.arange(len(summaries)))
    names = np.array([TASKS[int(i)] for i in ds["trained_task_index"].values])
    ds["trained_task"] = ("session", names)
    ds["log_likelihood_gain"] = ds["log_likelihood_change"].cumsum("session")
    ds["mode"] = [str(m) for m in ds["mode"].values]
    ds["task"] = [str(t) for t in ds["task"].values]
    ds["axis"] = [str(t) for t in ds["axis"].values]
    if "parameter" in ds.coords:
        ds["parameter"] = [str(p) for p in ds["parameter"].values]
    return ds.assign_attrs(
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


def _train_session(config, model, opt_state, previous, session, progress_bar):
    """Run one session's minibatches.

    ``previous``: the parameters before the last optimiser step (for the path integral of the
    log likelihood). Returns the model, optimiser state, new ``previous`` and the session's
    mean log joint, task match and log-likelihood change.
    """
    steps = config.trials_per_session // config.batch
    key = session_key(config, session)
    train_contrasts = jnp.asarray(config.train_contrasts, dtype=model.fields.dtype)
    picks = jax.random.randint(
        jax.random.fold_in(key, 2), (steps, config.batch), 0, train_contrasts.shape[0]
    )
    contrasts = train_contrasts[picks]
    keys = jax.vmap(lambda b: jax.random.fold_in(jax.random.fold_in(key, 0), b))(jnp.arange(steps))
    tasks = jnp.full((config.batch,), task_index(config.session_task(session)), dtype=jnp.int32)
    optimizer = make_optimizer(config.optimizer, config.step_size)
    stimulus = Stimulus(frame_every=0)
    settings = config.train_settings()
    infos, gains = [], []
    for b in range(steps):
        before = model
        model, opt_state, info = learning.train_step(
            keys[b], model, opt_state, optimizer, stimulus, tasks, contrasts[b], settings
        )
        # The gradient at `before`, from this minibatch, times the step that led to `before`.
        gains.append(learning.path_increment(info.gradient, before, previous))
        previous = before
        infos.append(info._replace(gradient=None))
        progress_bar.update(config.batch)
    log_joint = np.concatenate([np.asarray(i.log_joint) for i in infos])
    task_match = np.concatenate([np.asarray(i.task_match) for i in infos])
    leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
    finite = all(bool(jnp.all(jnp.isfinite(a))) for a in leaves)
    if not finite or not np.all(np.isfinite(log_joint)):
        raise FloatingPointError(
            f"session {session}: non-finite parameters or log joint during training; lower "
            f"learning_rate (now {config.step_size}) or check the contrasts"
        )
    gain = float(np.sum(np.asarray(gains)))
    return model, opt_state, previous, float(log_joint.mean()), float(task_match.mean()), gain


def _check_schedule(config: TrainConfig, meta: dict, directory) -> None:
    done = meta["session"]
    saved = meta.get("schedule")
    now = [config.session_task(s) for s in range(done + 1)]
    if saved != now:
        raise ValueError(
            f"tasks: the checkpoint in {directory} ran sessions 0..{done} on {saved}, the "
            f"current config schedules {now} for them; give the whole schedule, e.g. "
            f"--tasks {saved[-1]}:{done} oblique:5"
        )


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    on_session: Callable[[SessionRecord], None] | None = None,
) -> tuple[HierarchicalModel, xr.Dataset]:
    """Train the feedback for ``config.sessions`` sessions; return the final model and the
    learning curves (see the module docstring).

    ``checkpoint_dir``: write a checkpoint after every session there (model, optimiser state,
    config, session index, this session's learning-curve slice) and, if it already holds
    checkpoints of this config, resume after the last one with ``session <= config.sessions``
    (the result equals an uninterrupted run's). Fields in :data:`RESUMABLE` may differ from the
    checkpoint's config; any other difference raises a ``ValueError`` naming the field.

    ``on_session(record)``: called with a :class:`SessionRecord` after each session *run in this
    call* (session 0 included, restored sessions excluded), after its checkpoint is written,
    e.g. to analyse or store the engaged and passive blocks, or to record further blocks from
    ``record.model``.

    >>> cfg = TrainConfig(sessions=1, neurons=16, units=8, trials_per_session=8, batch=8,
    ...     train_sweeps=6, train_burn_in=2, record_trials=4, samples=10, presignal=2, bins=2)
    >>> model, curves = train(cfg, progress=False)
    >>> curves.accuracy.dims
    ('session', 'mode', 'contrast')
    """
    model = initial_model(config)
    optimizer = make_optimizer(config.optimizer, config.step_size)
    opt_state = optimizer.init(eqx.filter(model, learning.learnable(model)))
    previous = model  # parameters before the last optimiser step
    summaries: list[xr.Dataset] = []
    start = 0
    cfg = config_dict(config)
    if checkpoint_dir is not None:
        done = checkpoint.latest_session(checkpoint_dir, at_most=config.sessions)
        if done is not None:
            (model, opt_state, previous), meta, _ = checkpoint.load_checkpoint(
                checkpoint_dir,
                done,
                (model, opt_state, previous),
                config=cfg,
                may_differ=RESUMABLE,
            )
            _check_schedule(config, meta, checkpoint_dir)
            summaries = [checkpoint.load_dataset(checkpoint_dir, s) for s in range(done + 1)]
            if any(s is None for s in summaries):
                raise ValueError(f"checkpoint_dir: {checkpoint_dir} lacks session results")
            start = done + 1

    n_record = len(config.contrasts) * config.record_trials * len(config.record_modes)
    for session in range(start, config.sessions + 1):
        task = config.session_task(session)
        total = n_record + (config.trials_per_session if session else 0)
        desc = f"session {session}/{config.sessions} ({task})"
        with tqdm(total=total, desc=desc, unit="trial", disable=not progress) as bar:
            log_joint, task_match, change = math.nan, math.nan, 0.0
            if session:
                model, opt_state, previous, log_joint, task_match, change = _train_session(
                    config, model, opt_state, previous, session, bar
                )
            contrasts, blocks = record_session(config, model, session, on_chunk=bar.update)
            summary = session_summary(
                config, session, model, contrasts, blocks, log_joint, task_match, change
            )
            engaged = summary.accuracy.isel(mode=0).where(summary.contrast != 0).mean()
            bar.set_postfix({f"acc {config.record_modes[0]}": f"{float(engaged):.3f}"})
        summaries.append(summary)
        if checkpoint_dir is not None:
            checkpoint.save_checkpoint(
                checkpoint_dir,
                session,
                (model, opt_state, previous),
                config=cfg,
                dataset=summary,
                extra={
                    "task": task,
                    "schedule": [config.session_task(s) for s in range(session + 1)],
                    "key": {"seed": config.seed, "derivation": KEY_DERIVATION},
                    "versions": versions(),
                },
            )
        if on_session is not None:
            on_session(SessionRecord(session, task, model, contrasts, blocks, summary))
    return model, learning_curves(config, summaries)


def load_model(
    checkpoint_dir: str | os.PathLike, session: int, config: TrainConfig
) -> HierarchicalModel:
    """The model saved after session ``session`` of the run ``config`` in ``checkpoint_dir``."""
    model = initial_model(config)
    opt_state = make_optimizer(config.optimizer, config.step_size).init(
        eqx.filter(model, learning.learnable(model))
    )
    like = (model, opt_state, model)
    (model, _, _), _, _ = checkpoint.load_checkpoint(
        checkpoint_dir, session, like, config=config_dict(config), may_differ=RESUMABLE
    )
    return model


# -- the command -------------------------------------------------------------------------------


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
    model, ds = train(config, progress=True, checkpoint_dir=folder / "checkpoints")
    cfg = config_dict(config)
    ds = ds.assign_attrs(experiment="train", config=json.dumps(cfg))
    summary = summary_text(ds)
    _write(folder / "config.json", lambda p: p.write_text(json.dumps(cfg, indent=2)))
    _write(folder / "versions.json", lambda p: p.write_text(json.dumps(versions(), indent=2)))
    _write(folder / "results.nc", lambda p: ds.to_netcdf(p, engine="h5netcdf"))
    _write(folder / "model.eqx", lambda p: eqx.tree_serialise_leaves(p, model))
    _write(folder / "summary.txt", lambda p: p.write_text(summary))
    print(summary, end="")
    print(f"written to {folder}")
    return folder
