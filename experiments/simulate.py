"""``bayescortex simulate``: trials of the reference model at fixed feedback parameters.

Runs the orientation-discrimination task at every contrast with hand-set feedback: the sensory
coupling ``delta`` (the authors' trained value 0.08; 0 removes every top-down effect), the
category kernel ``kappa_o`` of each task, and the context prior ``p(K | q)`` of the trial's cue
``q`` (a task trial, or passive fixation). Passive viewing is ``--cue fixation`` with the
engaged inference (what the model infers about the context decides how much the task shapes
the responses); ``--mode cut`` is the authors' passive condition (top-down strength 0).

The context prior is given as probabilities of ``(cardinal, oblique, none)``; a zero becomes the
finite log prior :data:`IMPOSSIBLE_LOGIT` (its probability is exactly 0, and the evidence
accumulator never sees ``0 * -inf``), so a one-hot prior such as ``--context-prior 1 0 0`` (the
observer knows the task) is allowed.

Writes responses, beliefs, choices and the context posterior as an xarray Dataset with dims
(trial, time, neuron, sample, frame, context).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from bayescortex.inference import SamplerSettings, inference_mode, simulate_chunked
from bayescortex.inference.trial import TrialRecord
from bayescortex.models import (
    CONTEXTS,
    CUES,
    TASKS,
    Stimulus,
    category_of,
    preferred_orientations,
    reference_model,
    task_index,
)

from .results import check_fields

Mode = Literal["engaged", "cut", "coupling_only", "no_accumulation"]
"""Inference modes (:data:`bayescortex.inference.MODES`)."""

IMPOSSIBLE_LOGIT = -1e9
"""Log prior of a context given probability 0 (finite, so ``0 * it = 0``; ``exp`` of it is 0)."""


def context_logits(probabilities) -> np.ndarray:
    """Log probabilities of a context prior given as non-negative weights over
    :data:`~bayescortex.models.CONTEXTS` (normalised here); zeros become
    :data:`IMPOSSIBLE_LOGIT`.

    >>> context_logits((1, 0, 0)).tolist()
    [0.0, -1000000000.0, -1000000000.0]
    """
    p = np.asarray(probabilities, dtype=float)
    if p.shape != (len(CONTEXTS),):
        raise ValueError(
            f"context_prior: expected {len(CONTEXTS)} probabilities ({', '.join(CONTEXTS)}), "
            f"got {tuple(probabilities)}"
        )
    if not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0):
        raise ValueError(
            f"context_prior: need non-negative finite probabilities with a positive sum, "
            f"got {tuple(probabilities)}"
        )
    p = p / p.sum()
    with np.errstate(divide="ignore"):
        return np.where(p > 0, np.log(p), IMPOSSIBLE_LOGIT)


@dataclasses.dataclass(frozen=True)
class RecordingOptions:
    """How recorded trials run: trial layout, sampler choices, seed and batching.

    Shared by the configs of every command that records trials (``simulate``, ``train``).
    """

    samples: int = 100
    """Gibbs sweeps with the stimulus on."""
    presignal: int = 20
    """Sweeps on signal-free noise before the stimulus."""
    bins: int = 4
    """Time bins of the spike counts."""
    frame_every: int = 8
    """Sweeps per noise frame (0: one static frame per trial). The reference samples at 80 per
    second and the paper's noise frames last 100 ms: 8 sweeps."""
    contrast_prior: Literal["slow", "clamped"] = "slow"
    x_sampler: Literal["gibbs", "mala"] = "gibbs"
    seed: int = 0
    chunk: int = 512
    """Recorded trials per compiled batch (bounds memory)."""

    def __post_init__(self):
        check_fields(
            self, positive=("samples", "bins", "chunk"), non_negative=("presignal", "frame_every")
        )
        self.record_settings()

    def record_settings(self) -> SamplerSettings:
        """Sampler settings of the recorded trials (the full trial layout)."""
        return SamplerSettings(
            n_samples=self.samples,
            n_presignal=self.presignal,
            n_bins=self.bins,
            contrast_prior=self.contrast_prior,
            x_sampler=self.x_sampler,
        )


@dataclasses.dataclass(frozen=True)
class SimulateConfig(RecordingOptions):
    """Simulate the task with the reference model at fixed feedback parameters."""

    task: Literal["cardinal", "oblique"] = "cardinal"
    """Which discrimination the stimuli pose."""
    cue: Literal["task", "fixation"] = "task"
    """The trial's cue: 'task' (a task trial) or 'fixation' (passive viewing)."""
    delta: float = 0.08
    """x-g coupling strength (0: no top-down effect on the neurons; 0.08: the reference)."""
    kappa_o: tuple[float, ...] = (1.0,)
    """Category kernel of the middle layer's prior: one value for both tasks, or one per task
    (cardinal oblique). 0: a task-free middle layer."""
    context_prior: tuple[float, ...] = ()
    """p(K | cue) as probabilities of (cardinal, oblique, none), normalised; zeros allowed (e.g.
    1 0 0: the task is known). Empty: uniform over the three contexts."""
    trials: int = 512
    """Trials per contrast."""
    contrasts: tuple[float, ...] = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts (> 0: first category)."""
    neurons: int = 256
    units: int = 64
    mode: Mode = "engaged"
    """Inference mode: 'engaged' (full inference), 'cut' (no top-down signal, the authors'
    passive condition), 'coupling_only', 'no_accumulation'."""
    output: str = "results"
    """Root folder for run folders."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, positive=("trials", "neurons", "units"))
        if not self.contrasts or not all(np.isfinite(self.contrasts)):
            raise ValueError(f"contrasts: need finite values, got {self.contrasts}")
        if not (math.isfinite(self.delta) and self.delta >= 0):
            raise ValueError(f"delta: must be finite and >= 0, got {self.delta}")
        if len(self.kappa_o) not in (1, len(TASKS)) or not all(
            math.isfinite(k) and k >= 0 for k in self.kappa_o
        ):
            raise ValueError(
                f"kappa_o: one or {len(TASKS)} finite values >= 0 are needed, got {self.kappa_o}"
            )
        if self.cue not in CUES:
            raise ValueError(f"cue: one of {CUES}, got {self.cue!r}")
        inference_mode(self.mode)
        self.logits()

    def logits(self) -> np.ndarray:
        """The model's ``context_logits`` (cues x contexts): the cue's row from
        ``context_prior``, every other row uniform."""
        logits = np.zeros((len(CUES), len(CONTEXTS)))
        if self.context_prior:
            logits[CUES.index(self.cue)] = context_logits(self.context_prior)
        return logits

    def model(self):
        """The reference model with this configuration's feedback."""
        return reference_model(
            self.neurons, self.units, delta=self.delta, kappa_o=np.asarray(self.kappa_o),
            context_logits=self.logits(),
        )  # fmt: skip


def record_dataset(rec: TrialRecord, tasks, contrasts, n_neurons: int) -> xr.Dataset:
    """A block of trials as a Dataset with named dims."""
    contrasts = np.asarray(contrasts, dtype=float)
    category = np.asarray(category_of(contrasts))
    signal = contrasts != 0
    correct = np.where(signal, rec.choice == category, np.nan)
    return xr.Dataset(
        {
            "counts": (("trial", "time", "neuron"), rec.counts),
            "belief": (("trial", "sample"), rec.belief),
            "choice": ("trial", rec.choice),
            "context_posterior": (("trial", "time", "context"), rec.context),
            "energy": (("trial", "frame"), rec.energy),
            "contrast": ("trial", contrasts),
            "task": ("trial", np.broadcast_to(np.asarray(tasks), contrasts.shape)),
            "category": ("trial", category),
            "correct": ("trial", correct),
        },
        coords={
            "neuron_orientation": ("neuron", np.asarray(preferred_orientations(n_neurons))),
            "context": list(CONTEXTS),
        },
    ).assign_attrs(
        context_posterior="p_t(K | q, y): the posterior over the context, mean over each time "
        "bin's sweeps"
    )


def accuracy_by_contrast(ds: xr.Dataset) -> xr.DataArray:
    """Fraction correct at each signed contrast (zero-signal trials: fraction choosing 0)."""
    hit = xr.where(ds.contrast == 0, ds.choice == 0, ds.correct)
    return hit.groupby(ds.contrast).mean()


def run(config: SimulateConfig, *, progress: bool = True) -> xr.Dataset:
    """Simulate ``config.trials`` trials per contrast; returns the trial Dataset."""
    task = task_index(config.task)
    contrasts = np.repeat(np.asarray(config.contrasts, dtype=float), config.trials)
    with tqdm(total=contrasts.size, desc="trials", unit="trial", disable=not progress) as bar:
        rec = simulate_chunked(
            jax.random.key(config.seed),
            config.model(),
            Stimulus(frame_every=config.frame_every),
            jnp.full(contrasts.shape, task),
            contrasts,
            config.record_settings(),
            inference_mode(config.mode),
            chunk_size=config.chunk,
            on_chunk=bar.update,
            cue=CUES.index(config.cue),
        )
    return record_dataset(rec, task, contrasts, config.neurons)


def main(config: SimulateConfig) -> None:
    from .results import save_run

    ds = run(config)
    acc = accuracy_by_contrast(ds)
    prior = np.exp(config.logits()[CUES.index(config.cue)])
    prior = prior / prior.sum()
    posterior = ds.context_posterior.mean(("trial", "time")).values
    lines = [
        f"{config.task} task, cue={config.cue}, mode={config.mode}, delta={config.delta}, "
        f"kappa_o={list(config.kappa_o)}",
        "context   prior  posterior",
        *(f"{k:8}  {p:5.3f}  {q:9.3f}" for k, p, q in zip(CONTEXTS, prior, posterior, strict=True)),
        "contrast  accuracy",
        *(f"{c:8.1f}  {a:.3f}" for c, a in zip(acc.contrast.values, acc.values, strict=True)),
    ]
    summary = "\n".join(lines)
    folder = save_run("simulate", config, ds, root=config.output, summary=summary + "\n")
    print(summary)
    print(f"written to {folder}")
