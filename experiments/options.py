"""Options every experiment that trains the model shares: how the feedback learns and how
passive viewing is modelled (:class:`LearningOptions`, a mixin of the experiment configs), and
the first version's definitions (:data:`LEGACY`). Where a run goes and its root seed are
:class:`~bayescortex.experiments.results.RunOptions` (every command); the recorded trials'
options are :class:`~bayescortex.experiments.simulate.RecordingOptions`."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from bayescortex.inference import learning

APICAL_BLOCKS = ("none", "learning", "recording", "both")
"""Values of ``apical_block``: where the sensory neurons' apical gain is 0."""


LEGACY = dict(
    objective="joint", passive="cut", delta=0.0, sensory_rate=1.0, kappa_o=1.0,
    none_logit=-30.0, frame_every=0, trial_layout="presignal", choice_temperature=0.0,
)  # fmt: skip
"""The first version's definitions, the ``--legacy`` preset of ``train`` and ``run
redundancy``: joint-likelihood EM of the coupling from 0 with the kernel at 1, no ``none``
context (its logit -30), passive = the top-down path cut, one static noise frame per trial,
signal-free pre-signal sweeps (``trial_layout="presignal"``), the deterministic choice
(``choice_temperature=0``)."""


@dataclasses.dataclass(frozen=True)
class LearningOptions:
    """How the feedback learns and how passive viewing is modelled: the fields every experiment
    config that trains the model shares (inherit them)."""

    objective: Literal["conditional", "joint", "reward", "trial"] = "reward"
    """What learning ascends (default 'reward'): 'conditional', log p(O* | y) of the revealed
    category (clamped minus free chain; no finite optimum in kappa_o, so it overshoots);
    'joint', log p(y, O*) (stochastic EM, the first version's objective, which overshoots);
    'reward', the expected reward (accuracy) of the behaving decision, by SPSA with common
    random numbers (its optimum is where behaving accuracy peaks); 'trial', the trial-level
    likelihood log p(O* | y_1..F) with one (K, O) for the whole trial and every signal frame's
    evidence combined (exact chains of train_sweeps sweeps over all frames at once)."""
    learning_inference: Literal["behaving", "exact"] = "exact"
    """The chains of conditional learning: 'exact', Gibbs sampling of the posterior given the
    current frame (odds 1, no memory), whose clamped-minus-free estimate is the gradient;
    'behaving', the decision's tempered evidence accumulator (one inference for learning and
    behaviour, but the estimate is then biased: measured, its sign can be wrong). The 'reward'
    objective always runs the behaving inference (what it optimises is that decision)."""
    passive: Literal["fixation", "cut"] = "fixation"
    """How passive viewing is modelled: 'fixation', the fixation cue with the same sampler
    (engagement is inferred); 'cut', the authors' top-down path cut (alpha = 0)."""
    delta: float = 0.08
    """Sensory coupling delta_0 of the adult sensory model, in [0, 100] (the authors' trained
    value 0.08)."""
    sensory_rate: float = 0.0
    """Learning rate of the sensory coupling relative to learning_rate, in [0, 100], from the
    marginal likelihood of the images (0: fixed; the 'joint' objective learns it from the
    outcome)."""
    kappa_o: float = 0.0
    """Category kernel of both tasks before training, in [0, 100] (parametric; 0: a task-free
    middle layer)."""
    none_logit: float = 0.0
    """Initial logit of the 'none' context against the tasks' 0, for both cues, in [-50, 50]
    (0: uniform)."""
    perturbation: float = 0.2
    """Reward objective: SPSA perturbation size c (theta +- c Delta, Delta = +-1 per
    parameter), in (0, 10]; ignored by the other objectives."""
    apical_gain: float = 1.0
    """Apical gain g_a of the sensory neurons, in [0, 1]: the share of the top-down drive
    (tau - 1) that reaches them, the BCI model's parameter of the same name (the layers above
    still read the neurons in full). Applies where apical_block does not block it."""
    apical_block: Literal["none", "learning", "recording", "both"] = "none"
    """Where g_a is 0: 'learning', the training chains (the learning sessions); 'recording',
    the recorded blocks; 'both'; 'none'."""
    passive_exposure: int = 0
    """Fixation-cue trials per training session, after the task training, whose images (no
    outcome) update the fixation cue's context prior p(K | fixation) by ascending the marginal
    likelihood log p(y | fixation): posterior over K (exact Gibbs chains) minus prior, in
    minibatches of batch trials (a multiple of batch; 0: the prior stays as set). The images
    are the passive block's: the trained task's stimuli at the recorded contrasts (with
    passive='cut' the passive block does not read this prior)."""
    choice_temperature: float = 1.0
    """How the behaving decision follows the final belief b, in [0, 100]: the second category
    is chosen with probability sigmoid(logit(1 - b) / T). 1 (default): the choice is a sample
    of the category from the belief (a sampling observer reports a sample), so accuracy grows
    with the belief's confidence and learning is gradual; 0: the deterministic observer (the
    side b favours, a coin at b = 1/2), whose accuracy jumps to the read-out's at any
    kappa_o > 0. Used by every behaving trial: the recorded blocks and the reward objective's
    chains."""
    exposure_rate: float = 1.0
    """Step size of passive exposure's gradient ascent, relative to learning_rate, in [0, 100]
    (plain gradient steps, not Adam: the step vanishes where the prior equals the mean
    posterior; stable while exposure_rate * learning_rate < 2). Ignored when passive_exposure
    is 0."""

    def check_learning(self) -> None:
        """ValueError naming the first learning field out of range."""
        if self.objective not in learning.OBJECTIVES:
            raise ValueError(f"objective: one of {learning.OBJECTIVES}, got {self.objective!r}")
        if self.apical_block not in APICAL_BLOCKS:
            raise ValueError(f"apical_block: one of {APICAL_BLOCKS}, got {self.apical_block!r}")
        if not 0 <= self.apical_gain <= 1:
            raise ValueError(f"apical_gain: must lie in [0, 1], got {self.apical_gain}")
        exposure = self.passive_exposure
        if isinstance(exposure, bool) or not isinstance(exposure, int) or exposure < 0:
            raise ValueError(f"passive_exposure: a number of trials >= 0, got {exposure!r}")
        batch = getattr(self, "batch", 1)  # the experiment config's minibatch size
        if exposure % batch:
            raise ValueError(
                f"passive_exposure: must be a multiple of batch ({batch}), got {exposure}"
            )
        names = (
            "delta", "sensory_rate", "kappa_o", "none_logit", "perturbation", "exposure_rate",
            "choice_temperature",
        )  # fmt: skip
        for name in names:
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value}")
            if name != "none_logit" and value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        if not self.perturbation > 0:
            raise ValueError(f"perturbation: must be positive, got {self.perturbation}")

    def learning_hyper(self) -> dict:
        """The :class:`Hyper` fields these options set."""
        return dict(
            init_delta=self.delta, sensory_rate=self.sensory_rate, init_kappa_o=self.kappa_o,
            init_none_logit=self.none_logit, perturbation=self.perturbation,
            exposure_rate=self.exposure_rate, choice_temperature=self.choice_temperature,
            apical_learning=self.apical_gain * (self.apical_block not in ("learning", "both")),
            apical_recording=self.apical_gain * (self.apical_block not in ("recording", "both")),
        )  # fmt: skip
