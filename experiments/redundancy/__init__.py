"""``bayescortex run redundancy``: does task learning raise redundancy only under engagement?

Runs the experiment of Liu, Pletenev, Haefner & Snyder (Science 2026) in a model that learns
its own feedback, and judges each of the paper's claims as measured (PASS, FAIL or
INCONCLUSIVE; at the default most of them fail: the task is learned, but engaged redundancy
does not rise; ``docs/results.md``). For every seed (an "animal", a vmapped array axis):

1. train the feedback over sessions on the task (by default the expected reward of the
   behaving choice, by SPSA with common random numbers, :mod:`bayescortex.inference.reward`;
   ``objective="conditional"``, the default before 2026-12-06, ascends the conditional
   likelihood of the revealed category with exact Gibbs chains, and overshoots; with
   ``passive_exposure > 0`` each session ends with fixation trials whose images update the
   fixation cue's context prior); before training and after every session record an engaged
   and a passive block with the same stimuli (zero-signal trials plus +-c at every coherence,
   a new noise frame every 8 sweeps), and a short held-out block that ranks the d' groups
   (:mod:`.selection`). Engaged trials carry the task cue, passive blocks the fixation cue:
   the same sampler, whose inferred context decides how much the learned task structure
   shapes the responses. The trial is read out in 400-ms bins (3 bins of 32 samples at 80
   samples/s); the passive presentation is the passive block's first bin, and the engagement
   contrast compares the engaged change averaged over the bins with the passive
   presentation's change (the authors' analysis);
2. before training and after the last session also record the controls: passive viewing by
   the other definition (the authors' top-down path cut, ``cut``), the ablations (the belief
   cut but the coupling kept, ``coupling_only``; no evidence accumulation), engaged trials
   of the other task's stimuli, and engaged and passive blocks with frozen noise;
3. train the classic baselines (the "classic" hypothesis: a discriminative and an
   efficient-coding feedforward network) on the same images and labels, session by session
   to the model's accuracy, and measure their noisy hidden units with fresh and frozen noise.

Modules: :mod:`.config` (the configuration, split into static and hyperparameters),
:mod:`.pipeline` (the compiled session step), :mod:`.network` (the classic baselines),
:mod:`.measures` (measures of a block from its streamed statistics), :mod:`.selection` (the
held-out block that ranks the d' groups), :mod:`.run` (the session loop and the results
Dataset), :mod:`.effect_sizes` (effects with bootstrap intervals, the tests' statistics),
:mod:`.acceptance` (the paper's claims as criteria, sanity checks, predictions), :mod:`.report`
(the summary text), :mod:`.learning_curve` (accuracy, threshold and learned feedback per
session) and :mod:`.figures`.
"""

from __future__ import annotations

from ..experiment import Experiment
from .acceptance import CRITERIA, SANITY_CHECKS, criteria
from .config import FULL, LEGACY, RedundancyConfig, Static
from .effect_sizes import effects, with_effects
from .figures import figures
from .report import summary_text
from .run import run, run_configs

EXPERIMENT = Experiment(
    "redundancy", RedundancyConfig, run_configs, effects, summary_text, figures, run=run,
    with_effects=with_effects, stacked_effects=True, criteria=CRITERIA + SANITY_CHECKS,
    presets={"full": FULL, "legacy": LEGACY},
    required=("accuracy", "information", "information_shuffled", "parameters"),
    headline=(
        "engagement_contrast_redundancy", "change_redundancy_bins_engaged",
        "change_redundancy_window_passive", "change_redundancy_engaged", "final_accuracy_engaged",
    ),
)  # fmt: skip
"""The redundancy experiment (:class:`~bayescortex.experiments.experiment.Experiment`):
``bayescortex run redundancy`` is ``EXPERIMENT.main(config)``."""


__all__ = [
    "FULL",
    "LEGACY",
    "RedundancyConfig",
    "EXPERIMENT",
    "Static",
    "criteria",
    "effects",
    "figures",
    "run",
    "run_configs",
    "summary_text",
    "with_effects",
]
