"""A training run's learning curves and its summary text.

:func:`learning_curves` stacks the sessions' outputs of :mod:`.run` into one xarray Dataset;
:func:`summary_text` formats it (the run folder's ``summary.txt``); :func:`drive_alignment`
measures how the learned category-specific top-down drive lines up with each task's axis.

The learning curves are an xarray Dataset with dims ``session`` (0 = before training),
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
- ``parameters (session, parameter)``: :func:`learning_setup.feedback_parameters`, named by
  :func:`learning_setup.parameter_names` (parametric: delta, kappa_o per task, kappa_g and
  ``p_<context>_given_<cue>``; free-form: the context probabilities);
- ``coupling (session, neuron, unit)``, ``unit_probability (session, context, category, unit)``,
  ``context_prior (session, cue, context)``: the learned feedback, whatever its
  parametrisation;
- ``feedback_alignment (session, task, axis)``: correlation over neurons of task table ``T``'s
  category-specific top-down drive ``C (p(g | T, O=0) - p(g | T, O=1))`` with the category axis
  of task ``A``, ``cos 2(phi_i - phi_{A,0})`` (1: aligned; ~0: no such structure; see
  :func:`drive_alignment`);
- ``trained_task (session)``: the task trained in that session (session 0: the first task).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayescortex.models import (
    CATEGORY_ORIENTATIONS,
    CONTEXTS,
    CUES,
    TASKS,
    preferred_orientations,
)

from ..compilation import CompileTime
from ..learning_setup import parameter_names
from ..protocol import Protocol, signed_levels
from .config import TrainConfig

TRAIN_VARIABLES = {
    "objective": "train_objective",
    "context_match": "train_context_match",
    "correct": "train_correct",
    "log_likelihood_change": "log_likelihood_change",
}
"""Dataset variable of every :class:`~bayescortex.experiments.protocol.TrainInfo` field."""


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
    levels = signed_levels(config.coherences(), np)
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
