"""Figures of the redundancy experiment: the paper's panels, the controls, fresh vs frozen
noise, the classic baselines, the paper's further analyses over learning and a one-page
summary of the acceptance criteria.

Submodules:

- :mod:`.style`: the conventions (colours, frozen noise, bands, units) and the small drawing
  helpers shared by every figure;
- :mod:`.model`: the ``redundancy`` figure (the paper's main panels) and ``controls``;
- :mod:`.comparisons`: ``frozen_noise`` (fresh vs frozen noise) and ``baselines`` (the classic
  feedforward baselines);
- :mod:`.analyses`: the ``analyses`` figure (the paper's further analyses over learning);
- :mod:`.summary`: the one-page ``summary`` of the acceptance criteria (:data:`FOREST`).
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .analyses import analyses_figure
from .comparisons import BASELINE_MEASURES, FROZEN_MEASURES, baselines_figure, frozen_noise_figure
from .model import CONTROL_LABELS, controls_figure, redundancy_figure
from .style import ABLATION, COLORS, INFO, LABELS, MEASURE_LABELS, NEUTRAL, STATUS
from .summary import FOREST, summary_figure

BUILDERS = (
    ("redundancy", redundancy_figure),
    ("controls", controls_figure),
    ("frozen_noise", frozen_noise_figure),
    ("baselines", baselines_figure),
    ("analyses", analyses_figure),
    ("summary", summary_figure),
)
"""Figure stems and their builders (a builder returns None when its data were not recorded)."""


def figures(ds: xr.Dataset) -> dict[str, Figure]:
    """The run's figures by file stem, those whose data exist in ``ds``:

    - ``redundancy``: the paper's panels over sessions, engaged vs passive (I_red, I_shuffle,
      I, % redundancy, variance along f', accuracy), within-trial redundancy, relevant vs
      irrelevant neurons and the inferred context;
    - ``controls``: change of redundancy with learning for the model, controls and baselines;
    - ``frozen_noise``: fresh vs frozen noise for the sampling model (before/after learning)
      and the classic baselines (over sessions);
    - ``baselines``: the classic baselines next to the sampling model over sessions, their
      training steps, noise sources and loss;
    - ``analyses``: psychophysical kernel, learning index and its relation to redundancy,
      choice probability, noise correlations (same minus different; binned by orientation),
      d' groups, decision-aligned relevant-minus-irrelevant change, per-coherence change;
    - ``summary``: one A4 page with every acceptance criterion (PASS/FAIL/n/a) and forest
      plots of the key effects.
    """
    out = {}
    for stem, build in BUILDERS:
        fig = build(ds)
        if fig is not None:
            out[stem] = fig
    return out


__all__ = [
    "ABLATION",
    "BASELINE_MEASURES",
    "BUILDERS",
    "COLORS",
    "CONTROL_LABELS",
    "FOREST",
    "FROZEN_MEASURES",
    "INFO",
    "LABELS",
    "MEASURE_LABELS",
    "NEUTRAL",
    "STATUS",
    "figures",
]
