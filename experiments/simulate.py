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
import os
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from bayescortex.inference import SamplerSettings, inference_mode, simulate_chunked
from bayescortex.inference.modes import check_layout
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

from .results import RunOptions, check_fields

Mode = Literal["engaged", "cut", "coupling_only", "no_accumulation"]
"""Inference modes (:data:`bayescortex.inference.MODES`)."""

IMPOSSIBLE_LOGIT = -1e9
"""Log prior of a context given probability 0 (finite, so ``0 * it = 0``; ``exp`` of it is 0)."""

MAX_CONTRAST = 1000.0
"""Largest |contrast| accepted, in image units (multiples of the pixel noise sd, 1): the paper's
largest is 12, and in float32 the sampler's sums overflow somewhere above 1e15."""

MAX_DELTA = 100.0
"""Largest coupling ``delta`` accepted (the reference's trained value is 0.08; learning stays
below 0.5). At 256 neurons ``delta = 1e30`` gave non-finite counts in 64% of the trials."""


def check_contrasts(name: str, values, *, unsigned: bool = False) -> None:
    """ValueError naming ``name`` unless ``values`` is a non-empty sequence of finite contrasts
    with ``|c| <= MAX_CONTRAST`` (and ``c > 0`` if ``unsigned``).

    >>> check_contrasts("coherences", (3.0, 1e30), unsigned=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: coherences: need positive unsigned contrasts c <= 1000 (image units, ...
    """
    ok = bool(values) and all(
        math.isfinite(c) and abs(c) <= MAX_CONTRAST and (c > 0 or not unsigned) for c in values
    )
    if not ok:
        kind = "positive unsigned contrasts c" if unsigned else "finite contrasts with |c|"
        raise ValueError(
            f"{name}: need {kind} <= {MAX_CONTRAST:g} (image units, pixel noise sd 1), "
            f"got {tuple(values)}"
        )


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
    """How recorded trials run: trial layout, sampler choices and batching.

    Shared by the configs of every command that records trials (``simulate``, ``train``).
    """

    trial_layout: Literal["reference", "presignal"] = "reference"
    """'reference' (the authors' scripts): every sample sees the stimulus, sample 1 is the
    initial draw, and in the first presignal samples the belief restarts from the prior each
    sample; 'presignal': presignal extra sweeps on signal-free noise (belief frozen) before the
    samples on the stimulus."""
    samples: int = 100
    """Samples of a trial on the stimulus (the reference: the initial draw and samples - 1
    Gibbs sweeps)."""
    presignal: int = 20
    """Pre-signal period: samples before the belief accumulates evidence (see
    trial_layout)."""
    burn_in: int = 3
    """Samples discarded from the spike counts (counts sum samples burn_in + 1 .. samples)."""
    bins: int = 4
    """Time bins of the spike counts."""
    frame_every: int = 8
    """Sweeps per noise frame (0: one static frame per trial). The reference samples at 80 per
    second and the paper's noise frames last 100 ms: 8 sweeps."""
    contrast_prior: Literal["slow", "clamped"] = "slow"
    """The sampler's belief about the contrast: 'slow' samples it under a slow random walk
    (truncated at 0); 'clamped' holds it fixed."""
    x_sampler: Literal["gibbs", "mala"] = "gibbs"
    """Sampler of the neurons: 'gibbs' (exact truncated-normal updates, one neuron at a time)
    or 'mala' (reflected Langevin steps on all neurons at once)."""
    chunk: int = 512
    """Recorded trials per compiled batch (bounds memory; results equal to float rounding)."""

    def __post_init__(self):
        check_fields(
            self,
            positive=("samples", "bins", "chunk"),
            non_negative=("presignal", "burn_in", "frame_every"),
        )
        # The trial layout's checks without building arrays (importing a preset starts no
        # jax backend).
        check_layout(self.samples, self.presignal, self.burn_in, self.bins, self.trial_layout)

    def record_settings(self) -> SamplerSettings:
        """Sampler settings of the recorded trials (the full trial layout)."""
        return SamplerSettings(
            n_samples=self.samples,
            n_presignal=self.presignal,
            burn_in=self.burn_in,
            n_bins=self.bins,
            layout=self.trial_layout,
            contrast_prior=self.contrast_prior,
            x_sampler=self.x_sampler,
        )


@dataclasses.dataclass(frozen=True)
class SimulateConfig(RecordingOptions, RunOptions):
    """Simulate the task with the reference model at fixed feedback parameters (its choice:
    the deterministic observer, the side the final belief favours)."""

    task: Literal["cardinal", "oblique"] = "cardinal"
    """Which discrimination the stimuli pose."""
    cue: Literal["task", "fixation"] = "task"
    """The trial's cue: 'task' (a task trial) or 'fixation' (passive viewing)."""
    delta: float = 0.08
    """x-g coupling strength, 0 to 100 (0: no top-down effect on the neurons; 0.08: the
    reference)."""
    kappa_o: tuple[float, ...] = (1.0,)
    """Category kernel of the middle layer's prior: one value for both tasks, or one per task
    (cardinal oblique). 0: a task-free middle layer."""
    context_prior: tuple[float, ...] = ()
    """p(K | cue) as probabilities of (cardinal, oblique, none), normalised; zeros allowed (e.g.
    1 0 0: the task is known). Empty: uniform over the three contexts."""
    trials: int = 512
    """Trials per contrast."""
    contrasts: tuple[float, ...] = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts in image units (multiples of the pixel noise sd, 1; |c| <= 1000; > 0:
    first category, 0: no signal)."""
    neurons: int = 256
    """Sensory neurons N_x (the recorded population)."""
    units: int = 64
    """Middle-layer units N_g."""
    mode: Mode = "engaged"
    """Inference mode: 'engaged' (full inference), 'cut' (no top-down signal, the authors'
    passive condition), 'coupling_only', 'no_accumulation'."""

    def __post_init__(self):
        super().__post_init__()
        self.check_run()
        check_fields(self, positive=("trials", "neurons", "units"))
        check_contrasts("contrasts", self.contrasts)
        if not (math.isfinite(self.delta) and 0 <= self.delta <= MAX_DELTA):
            raise ValueError(f"delta: must lie in [0, {MAX_DELTA:g}], got {self.delta}")
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
        "bin's samples"
    )


def accuracy_by_contrast(ds: xr.Dataset) -> xr.DataArray:
    """Fraction correct at each signed contrast (zero-signal trials: fraction choosing 0)."""
    hit = xr.where(ds.contrast == 0, ds.choice == 0, ds.correct)
    return hit.groupby(ds.contrast).mean()


def output_bytes(config: SimulateConfig) -> int:
    """Estimated peak host memory of a run's outputs, bytes: every recorded array of every
    trial (float32; frames counted as if one per sweep), three times (the chunks, their
    concatenation, the Dataset's own columns)."""
    sweeps = config.presignal + config.samples
    per_trial = 4 * (
        config.bins * config.neurons + config.samples + config.bins * len(CONTEXTS) + sweeps + 8
    )
    return 3 * per_trial * config.trials * len(config.contrasts)


def available_bytes() -> int | None:
    """Memory the operating system can still give this process (None if it does not say)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: SimulateConfig) -> None:
    """ValueError, before any computation, if the outputs would not fit in available memory."""
    need, have = output_bytes(config), available_bytes()
    if have is not None and need > have:
        n = config.trials * len(config.contrasts)
        raise ValueError(
            f"trials: {n} trials need about {need / 2**30:.1f} GiB for their outputs, more than "
            f"the {have / 2**30:.1f} GiB available; simulate fewer trials per run (e.g. several "
            "runs with different --seed)"
        )


def check_finite(ds: xr.Dataset) -> None:
    """FloatingPointError naming how many trials gave non-finite responses, beliefs, context
    posteriors or energies (never averaged into a summary, never written)."""
    bad = np.zeros(ds.sizes["trial"], bool)
    names = []
    for name in ("counts", "belief", "context_posterior", "energy"):
        values = ds[name].values
        rows = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if rows.any():
            names.append(name)
        bad |= rows
    if bad.any():
        raise FloatingPointError(
            f"{int(bad.sum())} of {bad.size} trials gave non-finite {', '.join(names)} "
            f"(contrasts {sorted(set(ds.contrast.values[bad].tolist()))}); nothing was written"
        )


def run(config: SimulateConfig, *, progress: bool = True) -> xr.Dataset:
    """Simulate ``config.trials`` trials per contrast; returns the trial Dataset.

    Checks first that the outputs fit in memory (:func:`check_memory`) and afterwards that
    every trial is finite (:func:`check_finite`)."""
    check_memory(config)
    task = task_index(config.task)
    contrasts = np.repeat(np.asarray(config.contrasts, dtype=float), config.trials)

    def on_chunk(done: int) -> None:
        bar.set_postfix_str("", refresh=False)
        bar.update(done)

    with tqdm(total=contrasts.size, desc="trials", unit="trial", disable=not progress) as bar:
        if progress:
            bar.set_postfix_str("compiling the sampler (the first chunk waits for it)")
        rec = simulate_chunked(
            jax.random.key(config.seed),
            config.model(),
            Stimulus(frame_every=config.frame_every),
            jnp.full(contrasts.shape, task),
            contrasts,
            config.record_settings(),
            inference_mode(config.mode),
            chunk_size=config.chunk,
            on_chunk=on_chunk,
            cue=CUES.index(config.cue),
        )
    ds = record_dataset(rec, task, contrasts, config.neurons)
    check_finite(ds)
    return ds


def main(config: SimulateConfig) -> None:
    from .results import check_output, config_dict, save_run

    config_dict(config)  # a non-finite field fails now, not when config.json is written
    check_memory(config)
    check_output(Path(config.output) / "simulate")
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
    folder = save_run(
        "simulate", config, ds, root=config.output, run_id=config.run_id, summary=summary + "\n"
    )
    print(summary)
    print(f"written to {folder}")
