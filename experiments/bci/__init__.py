"""``bayescortex run bci``: vectorized instructive signals in dendrites during BCI learning.

Reproduces the logic of Francioni et al. (Nature 2026) with two-compartment model neurons
(:mod:`bayescortex.models.bci`) learning a brain-computer-interface task
(:mod:`bayescortex.models.bci_task`). For every seed (an animal) and learning rule (a
variant; both array axes of one compiled program):

1. calibrate the threshold from baseline trials (about 20% hits), run a baseline session 0
   without learning and then the learning sessions, all with one plasticity rule
   ``dW_i = eta p_i e_i`` whose apical drive ``p_i`` carries the variant's instructive signal;
2. image the last trials of every session (soma and dendrite through a calcium model) and
   measure what experimenters measure (:mod:`bayescortex.analysis.bci`): the somato-dendritic
   residual, its coupling to the error, its event-locked response to error decreases vs
   increases per group (P+, P-), sign recovery, outcome decoding;
3. report effects with 95% bootstrap intervals over seeds and the acceptance criteria.

Modules: :mod:`.config`, :mod:`.run` (programs, session loop, Dataset), :mod:`.report`,
:mod:`.figures`.
"""

from __future__ import annotations

from ..experiment import Experiment, one_at_a_time
from .config import FULL, BCIConfig, Static
from .criteria import JUDGED
from .figures import figures
from .report import criteria, effects, summary_text, with_effects
from .run import run, run_configs

EXPERIMENT = Experiment(
    "bci", BCIConfig, run_configs, effects, summary_text, figures, run=run,
    with_effects=with_effects, criteria=JUDGED,
    presets={"full": FULL},
    required=("hit_rate", "soma_rate", "feedback_alignment", "threshold"),
    headline=(
        "hit_rate_change_vectorized", "hit_rate_change_scalar", "sign_recovery_vectorized",
        "speed_ratio",
    ),
    layout=one_at_a_time,
)  # fmt: skip
"""The BCI experiment (:class:`~bayescortex.experiments.experiment.Experiment`): ``bayescortex
run bci`` is ``EXPERIMENT.main(config)``."""


__all__ = [
    "FULL",
    "BCIConfig",
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
