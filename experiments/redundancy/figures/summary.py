"""The one-page ``summary`` figure: every acceptance criterion (the paper's claims) and, apart,
every sanity check, with its verdict (PASS/FAIL/INCONCLUSIVE/n/a) and the effects it used,
next to forest plots of the key effects (:data:`FOREST`)."""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...criteria import INCONCLUSIVE
from ..acceptance import CRITERIA, FROZEN_BAND, SANITY_CHECKS, criteria, sanity_checks
from .style import COLORS, INFO, LABELS, NEUTRAL, STATUS, effect, fmt, forest

MAX_BINS_SHOWN = 8
"""Within-trial bins drawn in the summary's per-bin forest plot (the report has them all)."""

FOREST = (
    (
        f"change, last − naive session ({INFO})",
        (
            ("change_redundancy_engaged", "I_red, engaged"),
            ("change_redundancy_passive", "I_red, passive, extended fixation"),
            ("change_redundancy_bins_engaged", "I_red, engaged, mean over the bins"),
            ("change_redundancy_window_passive", "I_red, passive presentation"),
            ("engagement_contrast_redundancy", "I_red, engaged bins − passive presentation"),
            ("equivalence_passive_margin", "passive null's margin (±)"),
            ("interaction_redundancy", "I_red, engaged − passive, first bin (prediction)"),
            ("change_information_shuffled_engaged", "I_shuffle, engaged"),
            ("change_information_engaged", "I, engaged"),
            ("change_relevant_minus_irrelevant_engaged", "I_red, relevant − irrelevant"),
            ("change_dprime_top_minus_bottom_engaged", "I_red, high − low d′"),
            ("decision_minus_onset_relevant_minus_irrelevant_engaged",
             "I_red rel − irr, decision − onset"),
            ("control_frozen_engaged_redundancy", "I_red, engaged, frozen noise"),
            ("control_frozen_passive_redundancy", "I_red, passive, frozen noise"),
            ("network_discriminative_fresh_redundancy", "I_red, discriminative, fresh"),
            ("network_discriminative_frozen_redundancy", "I_red, discriminative, frozen"),
            ("network_efficient_fresh_redundancy", "I_red, efficient, fresh"),
            ("network_efficient_frozen_redundancy", "I_red, efficient, frozen"),
        ),
    ),
    (
        f"change of I_red per within-trial bin ({INFO}; bin 1: the passive presentation's)",
        tuple(
            (f"change_redundancy_bin{b}_{mode}", f"{mode}, bin {b}")
            for mode in ("engaged", "passive")
            for b in range(1, MAX_BINS_SHOWN + 1)
        ),
    ),
    (
        f"within-trial slope of I_red ({INFO} per time bin)",
        (
            ("within_trial_slope_early_engaged", "engaged, naive session"),
            ("within_trial_slope_late_engaged", "engaged, last session"),
            ("within_trial_slope_late_passive", "passive, last session"),
        ),
    ),
    (
        "correlation r of engaged I_red with the learning index over sessions 1..S",
        (("correlation_redundancy_learning_index_engaged", "r(I_red, learning index)"),),
    ),
    (
        f"% redundancy after training (shaded: ±{FROZEN_BAND:g}, \"near zero\")",
        (
            ("network_discriminative_fresh_percent_redundancy_last", "discriminative, fresh"),
            ("network_discriminative_frozen_percent_redundancy_last", "discriminative, frozen"),
            ("network_efficient_fresh_percent_redundancy_last", "efficient, fresh"),
            ("network_efficient_frozen_percent_redundancy_last", "efficient, frozen"),
        ),
    ),
)  # fmt: skip
"""The summary's forest plots: one per unit, rows ``(effect, label)`` (those in the data)."""


def summary_figure(ds: xr.Dataset) -> Figure | None:
    if "effect_value" not in ds:
        return None
    claims = criteria(ds)
    checks = sanity_checks(ds)
    results = claims + checks
    groups = [(t, [r for r in rows if effect(ds, r[0]) is not None]) for t, rows in FOREST]
    groups = [(t, rows) for t, rows in groups if rows]
    fig = Figure(figsize=(11.69, 8.27), layout="constrained")  # A4 landscape
    counts = {k: sum(ok is k for _, ok in results) for k in STATUS}
    task = ds.attrs.get("task", "")
    seeds = ds.sizes.get("seed", "?")
    fig.suptitle(
        "Redundancy with learning (Liu, Pletenev, Haefner & Snyder 2026): the paper's claims "
        f"vs the model\ntask {task}, {seeds} seeds, sessions 0–{int(ds.session[-1])}; criteria: "
        f"{counts[True]} PASS, {counts[False]} FAIL, {counts[INCONCLUSIVE]} INCONCLUSIVE, "
        f"{counts[None]} n/a (sanity checks included)",
        fontsize=11,
    )
    gs = fig.add_gridspec(
        max(len(groups), 1), 2, width_ratios=(1.6, 1),
        height_ratios=[len(rows) + 2 for _, rows in groups] or [1],
    )  # fmt: skip
    _criteria_panel(fig.add_subplot(gs[:, 0]), ds, claims, checks)
    for g, (title, rows) in enumerate(groups):
        ax = fig.add_subplot(gs[g, 1])
        if "percent_redundancy_last" in rows[0][0]:
            band = FROZEN_BAND
            ax.axvspan(-band, band, color="grey", alpha=0.15, lw=0)
        forest(ax, ds, rows, title, fontsize=8)
    if groups:
        handles = [Patch(color=COLORS[k], label=LABELS[k]) for k in COLORS]
        fig.legend(handles=handles, loc="outside lower right", ncols=2, fontsize=7.5,
                   title="colours (hollow: frozen noise)", title_fontsize=7.5)  # fmt: skip
    return fig


def _criteria_panel(ax, ds, claims, checks, width: int = 50):
    """Every acceptance criterion (the paper's claims), then the sanity checks under their own
    heading, each with its verdict and the effects it used (95% CI). Text objects carry gids
    ``criterion-<i>`` / ``sanity-<i>`` with ``-status`` and ``-measured`` suffixes."""
    ax.set_axis_off()
    ax.set_title("acceptance criteria (the paper's claims), as measured", loc="left", fontsize=10)
    sections = [("criterion", claims, None), ("sanity", checks,
                "sanity checks (hold by construction; not the paper's claims)")]  # fmt: skip
    wrapped = {
        prefix: [
            textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
            for text, _ in rows
        ]
        for prefix, rows, _ in sections
    }
    measured = {prefix: [_measured(ds, text) for text, _ in rows] for prefix, rows, _ in sections}
    heights = [
        max(len(w), m.count("\n") + 1, 1)
        for prefix, _, _ in sections
        for w, m in zip(wrapped[prefix], measured[prefix], strict=True)
    ]
    n_rows = len(claims) + len(checks)
    size = float(np.clip(470 / (1.3 * sum(heights) + 0.5 * n_rows + 6), 6, 8.5))
    kw = dict(xycoords="axes fraction", textcoords="offset points", va="top")
    for x, text, ha in ((0, "verdict", "left"), (0.14, "claim", "left"),
                        (1, "measured effect [95% CI]", "right")):  # fmt: skip
        ax.annotate(text, (x, 1), xytext=(2 if x == 0 else 0, 0), fontsize=7, color=NEUTRAL,
                    ha=ha, style="italic", **kw)  # fmt: skip
    y = 1.6 * size
    for prefix, rows, heading in sections:
        if not rows:
            continue
        if heading:
            y += 0.5 * size
            ax.annotate(heading, (0, 1), xytext=(2, -y), fontsize=size, color=NEUTRAL,
                        style="italic", **kw).set_gid(f"{prefix}-heading")  # fmt: skip
            y += 1.5 * size
        for i, ((_, ok), lines_i, shown) in enumerate(
            zip(rows, wrapped[prefix], measured[prefix], strict=True)
        ):
            label, color = STATUS[ok]
            ax.annotate(
                label, (0, 1), xytext=(2, -y), fontsize=size - 1.5, color="white",
                fontweight="bold", bbox=dict(boxstyle="round,pad=0.25", fc=color, ec="none"),
                **kw,
            ).set_gid(f"{prefix}-{i}-status")  # fmt: skip
            ax.annotate("\n".join(lines_i), (0.14, 1), xytext=(0, -y), fontsize=size,
                        **kw).set_gid(f"{prefix}-{i}")  # fmt: skip
            ax.annotate(
                shown, (1, 1), xytext=(0, -y), fontsize=max(size - 1, 6),
                color="#444444", ha="right", **kw,
            ).set_gid(f"{prefix}-{i}-measured")  # fmt: skip
            height = max(len(lines_i), shown.count("\n") + 1, 1)
            y += 1.3 * size * height + 0.5 * size


def _measured(ds, text: str) -> str:
    """The effects a criterion uses (as it declares them), as ``value [low, high]``."""
    used = {c.text: c.uses for c in CRITERIA + SANITY_CHECKS}.get(text, ())
    return "\n".join(fmt(effect(ds, n)) for n in dict.fromkeys(used))
