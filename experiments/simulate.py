"""``bayescortex simulate``: trials of the reference model at fixed feedback parameters.

Runs the orientation-discrimination task at every contrast with a hand-set coupling ``delta``
(the authors' scripts: 0 before learning, 0.08 after) and writes responses, beliefs and
choices as an xarray Dataset with dims (trial, time, neuron, sample, frame).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from bayescortex.inference import SamplerSettings, inference_mode, simulate_chunked
from bayescortex.inference.trial import TrialRecord
from bayescortex.models import (
    Stimulus,
    category_of,
    preferred_orientations,
    reference_model,
    task_index,
)

from .results import check_fields

Mode = Literal["engaged", "passive", "coupling_only", "no_accumulation"]


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
    frame_every: int = 0
    """Sweeps per noise frame (0: one static frame)."""
    contrast_prior: Literal["slow", "clamped"] = "slow"
    x_sampler: Literal["gibbs", "mala"] = "gibbs"
    seed: int = 0
    chunk: int = 512
    """Recorded trials per compiled batch (bounds memory)."""

    def __post_init__(self):
        check_fields(self, positive=("samples", "bins", "chunk"), non_negative=("presignal",))
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
    delta: float = 0.08
    """x-g coupling strength (0: naive, 0.08: trained in the reference scripts)."""
    kappa_o: float = 1.0
    """Concentration of the category's prior over the middle layer."""
    trials: int = 512
    """Trials per contrast."""
    contrasts: tuple[float, ...] = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts (> 0: first category)."""
    neurons: int = 256
    units: int = 64
    mode: Mode = "engaged"
    output: str = "results"
    """Root folder for run folders."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, positive=("trials", "neurons", "units"))
        if not all(np.isfinite(self.contrasts)) or not self.contrasts:
            raise ValueError(f"contrasts: need finite values, got {self.contrasts}")


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
            "energy": (("trial", "frame"), rec.energy),
            "contrast": ("trial", contrasts),
            "task": ("trial", np.broadcast_to(np.asarray(tasks), contrasts.shape)),
            "category": ("trial", category),
            "correct": ("trial", correct),
        },
        coords={"neuron_orientation": ("neuron", np.asarray(preferred_orientations(n_neurons)))},
    )


def accuracy_by_contrast(ds: xr.Dataset) -> xr.DataArray:
    """Fraction correct at each signed contrast (zero-signal trials: fraction choosing 0)."""
    hit = xr.where(ds.contrast == 0, ds.choice == 0, ds.correct)
    return hit.groupby(ds.contrast).mean()


def run(config: SimulateConfig, *, progress: bool = True) -> xr.Dataset:
    """Simulate ``config.trials`` trials per contrast; returns the trial Dataset."""
    task = task_index(config.task)
    model = reference_model(
        config.neurons, config.units, delta=config.delta, kappa_o=config.kappa_o
    )
    contrasts = np.repeat(np.asarray(config.contrasts, dtype=float), config.trials)
    with tqdm(total=contrasts.size, desc="trials", unit="trial", disable=not progress) as bar:
        rec = simulate_chunked(
            jax.random.key(config.seed),
            model,
            Stimulus(frame_every=config.frame_every),
            jnp.full(contrasts.shape, task),
            contrasts,
            config.record_settings(),
            inference_mode(config.mode),
            chunk_size=config.chunk,
            on_chunk=bar.update,
        )
    return record_dataset(rec, task, contrasts, config.neurons)


def main(config: SimulateConfig) -> None:
    from .results import save_run

    ds = run(config)
    acc = accuracy_by_contrast(ds)
    lines = [f"{config.task} task, delta={config.delta}, mode={config.mode}", "contrast  accuracy"]
    lines += [f"{c:8.1f}  {a:.3f}" for c, a in zip(acc.contrast.values, acc.values, strict=True)]
    summary = "\n".join(lines)
    folder = save_run("simulate", config, ds, root=config.output, summary=summary + "\n")
    print(summary)
    print(f"written to {folder}")
