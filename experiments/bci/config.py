"""Configuration of the BCI experiment: the user-facing dataclass and its split into a static
part (:class:`Static`: sizes, counts, the variants) and hyperparameters
(:class:`~bayescortex.models.bci_task.TaskHyper`: every continuous value, an array leaf)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp

from bayescortex.models.bci_rules import VARIANTS
from bayescortex.models.bci_task import TaskHyper, TaskStatic

from ..results import RunOptions, check_fields


class Static(NamedTuple):
    """Static part of a BCI run (hashable; a change recompiles)."""

    task: TaskStatic
    variants: tuple[str, ...]
    seeds: int
    sessions: int
    compare_targets: int


COMPARED = ("vectorized", "scalar")
"""The variants run again with ``compare_targets`` targets."""

HYPER_FIELDS = tuple(TaskHyper.__annotations__)
"""Config fields that become array leaves of the hyperparameters (same names)."""


# The largest sensible value of every continuous knob: plasticity rates are fractions of a
# step, gains, scales and noises are in units of the drive (order 1), timescales in frames.
CEILINGS = {
    "learning_rate": 1.0, "feedback_rate": 1.0, "homeostasis_rate": 1.0, "feedback_decay": 10.0,
    "feedback_floor": 1.0, "apical_gain": 1.0,
    **dict.fromkeys((
        "rate_ceiling", "backprop", "soma_noise", "apical_noise", "nonlinear_gain",
        "control_somatic_gain", "context_drive", "context_apical", "weight_scale",
        "baseline_bias", "calcium_noise"), 100.0),
    **dict.fromkeys((
        "input_timescale", "context_timescale", "cursor_timescale", "trace_timescale",
        "mean_timescale", "rpe_timescale", "calcium_timescale"), 1e5),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class BCIConfig(RunOptions):
    """Learn a BCI task with apical instructive signals; compare learning rules."""

    variants: tuple[str, ...] = VARIANTS
    """Learning rules to run (any of vectorized, vectorized_change, scalar,
    scalar_perturbation, scalar_nonlinear, blocked, soma_dimmed, random_feedback, shuffled),
    together as one array axis."""
    seeds: int = 4
    """Independent animals, run together as one array axis."""
    sessions: int = 5
    """Learning sessions after the baseline session 0."""
    neurons: int = 24
    """Neurons in the population (targets and others)."""
    targets: int = 8
    """Target neurons driving the cursor (even: half P+, half P-)."""
    inputs: int = 6
    """Dimensions of the shared input x."""
    context: int = 2
    """Dimensions of the shared context z (at least 2)."""
    trials: int = 60
    """Trials per session."""
    steps: int = 40
    """Frames per trial before a timeout."""
    calibration_trials: int = 200
    """Baseline trials that set each animal's threshold."""
    record_trials: int = 40
    """Trials at the end of each session whose target neurons are imaged (at most trials)."""
    levels: int = 7
    """Grating positions (odd)."""
    learning_rate: float = 3e-4
    """eta, the plasticity rate of W and b."""
    feedback_rate: float = 0.01
    """eta_B, the learning rate of the feedback weights B~."""
    feedback_decay: float = 0.1
    """lambda, the decay of B~."""
    apical_gain: float = 1.0
    """g_a, the apical gain, in [0, 1] (0 in the learning sessions of 'blocked'): the share of
    all input from above (noise included) that reaches the tuft; it gates the feedback-weight
    learning. The redundancy experiment's apical_gain is the same share for its sensory
    neurons."""
    rate_ceiling: float = 4.0
    """r_max, the saturation of the somatic rate (r = g_s r_max tanh(softplus(h) / r_max))."""
    homeostasis_rate: float = 1e-4
    """eta_h, the rate at which each bias drifts back toward the neuron's baseline rate."""
    backprop: float = 1.0
    """kappa, the back-propagated somatic signal in the dendrite."""
    soma_noise: float = 1.0
    """sigma, private noise of the somatic drive."""
    apical_noise: float = 0.3
    """sigma_a, private noise of the dendrite."""
    nonlinear_gain: float = 0.3
    """g_nl, the quadratic soma-to-dendrite coupling of 'scalar_nonlinear'."""
    control_somatic_gain: float = 0.7
    """Somatic gain g_s of 'soma_dimmed' in the learning sessions (1 elsewhere)."""
    input_timescale: float = 10.0
    """Timescale of the shared input x, frames."""
    context_timescale: float = 10.0
    """Timescale of the context z, frames."""
    context_drive: float = 0.3
    """Scale of the context's loadings V onto the somata."""
    context_apical: float = 0.5
    """Scale of the context's loadings F onto the apical tufts."""
    weight_scale: float = 0.5
    """Scale of the initial input weights W."""
    baseline_bias: float = 1.0
    """Initial bias b of every neuron."""
    cursor_timescale: float = 3.0
    """Exponential smoothing of the cursor, frames."""
    baseline_hit_rate: float = 0.2
    """p_0: the threshold is the (1 - p_0) quantile of the baseline trials' peak cursor."""
    trace_timescale: float = 5.0
    """Eligibility trace timescale, frames."""
    mean_timescale: float = 200.0
    """Timescale of the running means rbar and qbar, frames."""
    rpe_timescale: float = 50.0
    """Timescale of the running mean of the scalar reward-prediction error, frames."""
    feedback_floor: float = 1e-3
    """eps_B of the feedback normalisation."""
    calcium_timescale: float = 2.0
    """Decay of the calcium kernel, frames (0: no kernel)."""
    calcium_noise: float = 0.05
    """Additive noise of the calcium signals."""
    pre_outcome_window: int = 5
    """Frames before the outcome averaged to decode it."""
    compare_targets: int = 0
    """If > 0, also run 'vectorized' and 'scalar' with this many targets (same number of other
    neurons) and report the speed ratio there."""
    bootstrap: int = 1000
    """Resamples of the seeds for the 95% intervals."""

    def __post_init__(self):
        check_fields(
            self,
            positive=(
                "seeds", "sessions", "neurons", "targets", "inputs", "trials", "steps",
                "calibration_trials", "record_trials", "learning_rate", "feedback_rate",
                "soma_noise", "input_timescale", "context_timescale", "cursor_timescale",
                "baseline_hit_rate", "trace_timescale", "rate_ceiling", "mean_timescale",
                "rpe_timescale",
                "feedback_floor", "pre_outcome_window", "bootstrap",
            ),
            non_negative=(
                "feedback_decay", "apical_gain", "homeostasis_rate", "backprop", "apical_noise",
                "nonlinear_gain",
                "control_somatic_gain", "context_drive", "context_apical", "weight_scale",
                "calcium_timescale", "calcium_noise", "compare_targets",
            ),
            at_most=CEILINGS,
        )  # fmt: skip
        if not self.variants:
            raise ValueError("variants: need at least one variant")
        for v in self.variants:
            if v not in VARIANTS:
                raise ValueError(f"variants: unknown {v!r}; expected some of {VARIANTS}")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"variants: must be distinct, got {self.variants}")
        if self.targets % 2 or self.targets < 2:
            raise ValueError(f"targets: an even number >= 2 (half P+, half P-), got {self.targets}")
        if self.targets > self.neurons:
            raise ValueError(f"targets: at most neurons ({self.neurons}), got {self.targets}")
        if self.compare_targets % 2:
            raise ValueError(f"compare_targets: even (or 0), got {self.compare_targets}")
        if self.context < 2:
            raise ValueError(f"context: at least 2 dimensions, got {self.context}")
        if self.levels < 3 or self.levels % 2 == 0:
            raise ValueError(f"levels: an odd number >= 3, got {self.levels}")
        if self.record_trials > self.trials:
            raise ValueError(f"record_trials: at most trials ({self.trials}), "
                             f"got {self.record_trials}")  # fmt: skip
        if not self.baseline_hit_rate < 1:
            raise ValueError(f"baseline_hit_rate: in (0, 1), got {self.baseline_hit_rate}")
        if self.calibration_trials * self.baseline_hit_rate < 5:
            raise ValueError(
                f"calibration_trials: at least 5 baseline hits are needed to set the threshold "
                f"(calibration_trials * baseline_hit_rate >= 5), got {self.calibration_trials}"
            )
        if self.pre_outcome_window > self.steps:
            raise ValueError(f"pre_outcome_window: at most steps ({self.steps}), "
                             f"got {self.pre_outcome_window}")  # fmt: skip
        self.check_run()

    def task_static(self, targets: int | None = None, record: bool = True) -> TaskStatic:
        """The simulation's static part (``targets`` other than the config's keeps the number
        of non-target neurons)."""
        k = self.targets if targets is None else targets
        return TaskStatic(
            neurons=self.neurons - self.targets + k, targets=k, inputs=self.inputs,
            context=self.context, trials=self.trials, steps=self.steps,
            calibration_trials=self.calibration_trials,
            record_trials=self.record_trials if record else 0, levels=self.levels,
        )  # fmt: skip

    def split(self) -> tuple[Static, TaskHyper]:
        """The static part and the hyperparameters of this configuration."""
        static = Static(
            task=self.task_static(), variants=tuple(self.variants), seeds=self.seeds,
            sessions=self.sessions, compare_targets=self.compare_targets,
        )  # fmt: skip
        hyper = TaskHyper(**{f: jnp.asarray(getattr(self, f), jnp.float32) for f in HYPER_FIELDS})
        return static, hyper

    def compare_split(self) -> tuple[Static, TaskHyper] | None:
        """The static part and hyperparameters of the larger-K comparison (None if off)."""
        if not self.compare_targets:
            return None
        static, hyper = self.split()
        return (
            Static(
                task=self.task_static(self.compare_targets, record=False),
                variants=COMPARED,
                seeds=self.seeds,
                sessions=self.sessions,
                compare_targets=0,
            ),
            hyper,
        )


FULL = BCIConfig(
    seeds=8, sessions=14, trials=100, steps=40, record_trials=60, calibration_trials=400,
    neurons=32, learning_rate=2e-5, compare_targets=64,
)  # fmt: skip
"""The paper-scale preset (``--full``): 14 learning sessions, 8 animals, K = 8 targets, and
the speed-ratio comparison at K = 64; explicit flags still override its values."""
