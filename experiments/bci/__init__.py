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

from ..results import run_and_save
from .config import FULL, BCIConfig, Static
from .criteria import JUDGED
from .figures import figures
from .report import criteria, effects, summary_text, with_effects
from .run import run, run_configs


def main(config: BCIConfig) -> None:
    """Run (resuming an unfinished run of the same ``run_id``), write the run folder
    ``<output>/bci/<run_id>/`` (config.json, versions.json, results.nc, bci.png/pdf,
    summary.txt, checkpoints/) and print the summary."""
    run_and_save(
        "bci",
        config,
        lambda c, **kw: with_effects(run(c, **kw)),
        summary=summary_text,
        figures=figures,
        criteria=JUDGED,
    )


__all__ = [
    "FULL",
    "BCIConfig",
    "Static",
    "criteria",
    "effects",
    "figures",
    "main",
    "run",
    "run_configs",
    "summary_text",
    "with_effects",
]
