"""Configuration of ``bayescortex train``: the user-facing dataclass and its split into the
static :class:`~bayescortex.experiments.protocol.Protocol` and the hyperparameters."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from bayescortex.inference.modes import check_mode_name
from bayescortex.models import task_index

from .. import options
from ..learning_setup import learning_rate
from ..options import LearningOptions
from ..protocol import Hyper, Protocol
from ..redundancy.config import LEARNING_RANGES, Range, check_ranges
from ..redundancy.pipeline import PASSIVE, TASK_CUE
from ..results import PLACE, RunOptions, check_fields
from ..simulate import MAX_DELTA, RecordingOptions, check_contrasts

RESUMABLE = (*PLACE, "sessions", "task", "tasks", "chunk")
"""Config fields that may change when a run resumes from a checkpoint (extend it, schedule
further tasks, write elsewhere). The task of every session already run must still agree."""

RecordMode = Literal["engaged", "passive", "cut", "coupling_only", "no_accumulation"]
"""A recorded condition: 'passive' is passive viewing as ``passive`` defines it (the fixation
cue with the engaged inference, or the top-down path cut); every other name is that inference
mode with the task cue (:data:`bayescortex.inference.MODES`)."""


RANGES = {
    **LEARNING_RANGES,
    "kappa_g": Range(0, 100),
    "init_scale": Range(0, 100),
    "init_logit_scale": Range(0, 50),
}
"""Allowed values of the continuous fields of :class:`TrainConfig` (stated in their help
texts; the contrasts have their own check, at most 1000 in magnitude)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(RecordingOptions, LearningOptions, RunOptions):
    """Train the feedback on the discrimination task, recording engaged and passive blocks.

    The recording flags (trial-layout, samples, presignal, burn-in, bins, frame-every, ...) are
    those of 'bayescortex simulate' (RecordingOptions). Under the conditional and reward
    objectives training trials are behaving trials with the recording's layout; under the joint
    objective they show one static frame and run train-sweeps exact clamped sweeps; under the
    trial objective the behaving trial's signal frames are sampled together, train-sweeps exact
    sweeps over all of them.
    """

    task: Literal["cardinal", "oblique"] = "cardinal"
    """The task trained in every session (unless tasks gives a schedule)."""
    tasks: tuple[str, ...] = ()
    """Per-session schedule, entries 'name' or 'name:count', e.g. cardinal:5 oblique:5; the
    last task continues if the schedule is shorter than sessions."""
    sessions: int = 10
    """Training sessions (session 0, before training, is recorded as well)."""
    feedback: Literal["parametric", "free_form"] = "parametric"
    """'parametric': learn the category kernels kappa_o and the context prior p(K | q);
    'free_form': the tasks' whole unit tables and p(K | q) (and the coupling matrix, at
    sensory_rate)."""
    neurons: int = 256
    """Sensory neurons N_x (the recorded population)."""
    units: int = 64
    """Middle-layer units N_g."""
    kappa_g: float = 3.0
    """Fixed width (concentration) of the parametric coupling kernel, in [0, 100]."""
    init_scale: float = 0.01
    """Free-form: scale of the noise on the initial coupling, init_scale |N(0, 1)|, in
    [0, 100]."""
    init_logit_scale: float = 0.3
    """Free-form: sd of the noise on the initial unit logits (breaks the units' symmetry), in
    [0, 50]."""
    optimizer: Literal["adam", "sgd"] = "adam"
    """Optimiser of the feedback parameters: 'adam' or plain 'sgd' (optax)."""
    learning_rate: float | None = None
    """Optimiser step size, in (0, 10] (None: 0.05 with the conditional and reward objectives;
    joint: 0.005 parametric, 0.02 free-form)."""
    trials_per_session: int = 256
    """Training trials per session."""
    batch: int = 32
    """Training trials per optimiser step (divides trials_per_session)."""
    train_sweeps: int = 40
    """Joint objective: exact clamped Gibbs sweeps per training trial."""
    train_burn_in: int = 10
    """Joint objective: sweeps dropped before the gradient is averaged."""
    train_contrasts: tuple[float, ...] = (3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts of training trials in image units (multiples of the pixel noise sd, 1;
    |c| <= 1000), drawn uniformly; 0: the category is revealed at random."""
    record_trials: int = 64
    """Recorded trials per contrast and mode after every session."""
    contrasts: tuple[float, ...] = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0)
    """Signed contrasts of the recording blocks in image units (|c| <= 1000; each +c with its
    -c; 0 optional)."""
    record_modes: tuple[RecordMode, ...] = ("engaged", "passive")
    """Recorded conditions (same stimuli in each): 'passive' as the passive flag says, any
    other name that inference mode with the task cue."""
    odds_increment: float = 1.0 / 20
    """Tempering of the evidence accumulator, in (0, 1] (the reference's 1/20)."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(
            self,
            positive=(
                "neurons", "units", "trials_per_session", "batch", "train_sweeps", "record_trials",
            ),
            non_negative=("sessions", "init_scale", "init_logit_scale"),
        )  # fmt: skip
        check_ranges(self, RANGES)  # first: its errors state the range
        self.check_learning()
        self.check_run()
        if not self.delta <= MAX_DELTA:
            raise ValueError(f"delta: must lie in [0, {MAX_DELTA:g}], got {self.delta}")
        if not (math.isfinite(self.odds_increment) and self.odds_increment > 0):
            raise ValueError(f"odds_increment: must be positive, got {self.odds_increment}")
        if not (math.isfinite(self.step_size) and self.step_size > 0):
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
            check_contrasts(name, getattr(self, name))
        if not self.record_modes or len(set(self.record_modes)) != len(self.record_modes):
            raise ValueError(f"record_modes: need distinct modes, got {self.record_modes}")
        self.recorded()
        if len(set(self.recorded())) != len(self.record_modes):
            raise ValueError(
                f"record_modes: {self.record_modes} record the same condition twice with "
                f"passive={self.passive!r}"
            )
        if any(self.contrasts.count(c) > 1 for c in self.contrasts):
            raise ValueError(f"contrasts: must be distinct, got {self.contrasts}")
        self.schedule()
        self.coherences()

    @property
    def step_size(self) -> float:
        """The learning rate, with the default of the objective and feedback filled in."""
        return learning_rate(self.feedback, self.learning_rate, self.objective)

    def recorded(self) -> tuple[tuple[str, int], ...]:
        """``(inference mode, cue)`` of every recorded condition, in ``record_modes`` order."""
        out = []
        for name in self.record_modes:
            if name == "passive":
                out.append(PASSIVE[self.passive])
                continue
            try:
                check_mode_name(name)
            except ValueError as err:
                raise ValueError(f"record_modes: {err}") from None
            out.append((name, TASK_CUE))
        return tuple(out)

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

    def coherences(self) -> tuple[float, ...]:
        """The unsigned coherences of the recorded contrasts (each with +c and -c)."""
        values = sorted({abs(float(c)) for c in self.contrasts if c != 0})
        for c in values:
            if c not in self.contrasts or -c not in self.contrasts:
                raise ValueError(
                    f"contrasts: every recorded contrast needs its opposite, {c} and {-c}; "
                    f"got {self.contrasts}"
                )
        if not values:
            raise ValueError(f"contrasts: need at least one pair +c, -c, got {self.contrasts}")
        return tuple(values)

    def split(self) -> tuple[Protocol, Hyper]:
        """The static protocol and the hyperparameters of this configuration."""
        protocol = Protocol.of(
            self,
            n_coherences=len(self.coherences()),
            zero_trials=self.record_trials * sum(1 for c in self.contrasts if c == 0),
            trials_per_level=self.record_trials,
            resamples=0,
        )
        hyper = Hyper(
            learning_rate=self.step_size,
            **self.learning_hyper(),
            kappa_g=self.kappa_g,
            init_scale=self.init_scale,
            init_logit_scale=self.init_logit_scale,
            odds_increment=self.odds_increment,
            coherences=self.coherences(),
            train_contrasts=[float(c) for c in self.train_contrasts],
        )
        return protocol, hyper


LEGACY = TrainConfig(**options.LEGACY)
"""The first version's definitions (``bayescortex train --legacy``;
:data:`~bayescortex.experiments.options.LEGACY`)."""
