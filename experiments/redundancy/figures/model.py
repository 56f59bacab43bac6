"""The paper's main figure (``redundancy``: the measures over sessions, engaged vs passive,
within-trial redundancy, relevant vs irrelevant neurons, the inferred context) and the
``controls`` figure (change of redundancy with learning for the model, controls and
baselines)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .style import (
    COLORS,
    INFO,
    LABELS,
    NEUTRAL,
    band_of,
    effect,
    first_last,
    fmt,
    forest,
    has,
    light,
    missing,
    per_session,
    series,
    sessions,
    time_axis,
    titles,
    ylabel,
    zero,
)


def redundancy_figure(ds: xr.Dataset) -> Figure:
    fig = Figure(figsize=(15, 12), layout="constrained")
    fig.suptitle("Redundancy with learning: sampling model, engaged vs passive (95% CI)")
    axes = fig.subplots(3, 3)
    panels = ("redundancy", "information_shuffled", "information", "percent_redundancy",
              "fraction_along_fprime", "accuracy")  # fmt: skip
    for ax, name in zip(axes.flat, panels, strict=False):
        if name not in ds:
            missing(ax, name)
            continue
        for mode in ds.mode.values:
            per_session(ax, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)), mode=mode)
        ax.set_title(ylabel(ax, name))
        sessions(ax)
        ax.legend(fontsize=8)
    for ax in axes.flat[:4]:
        zero(ax)
    _within_trial_panel(axes.flat[6], ds)
    ax = axes.flat[7]
    if has(ds, "redundancy_relevant", "redundancy_irrelevant"):
        relevant_panel(ax, ds)
    else:
        missing(ax, "relevant vs irrelevant")
    ax = axes.flat[8]
    if "context_posterior" in ds:
        task = str(ds.attrs.get("task", ds.context.values[0]))
        for mode in ds.mode.values:
            post = ds.context_posterior.sel(mode=mode).isel(time=0).mean("seed")
            color = COLORS.get(str(mode), "k")
            ax.plot(ds.session.values, post.sel(context=task), "o-", color=color,
                    label=f"{mode}: p(K = {task})")  # fmt: skip
            ax.plot(ds.session.values, post.sel(context="none"), "s:", color=light(color, 0.3),
                    label=f"{mode}: p(K = none)")  # fmt: skip
        ax.set(title="inferred context, first time bin (seed mean)", ylim=(0, 1),
               ylabel="posterior probability")  # fmt: skip
        sessions(ax)
        ax.legend(fontsize=8)
    else:
        missing(ax, "context posterior")
    return titles(fig)


def _within_trial_panel(ax, ds):
    if "redundancy_by_time" not in ds:
        return missing(ax, "within-trial redundancy")
    first, last = first_last(ds)
    t = np.arange(1, ds.sizes["time"] + 1)
    for s, shade in ((first, light), (last, lambda c: c)):
        for mode in ds.mode.values:
            y, band = band_of(ds, "redundancy_by_time", session=s, mode=mode)
            series(ax, t, y, band, shade(COLORS.get(str(mode), "k")), f"{mode}, session {s}")
    zero(ax)
    time_axis(ax, len(t))
    ax.set(title="within-trial redundancy I_red (naive session: light)", ylabel=INFO)
    ax.legend(fontsize=8)


def group_pair_panel(ax, ds, mode, groups, labels, title, change, change_label):
    """Redundancy of two neuron groups over sessions (the first in the mode's colour, the
    comparison group grey), with the change of their difference (effect ``change``) in the
    title."""
    per_session(ax, ds, f"redundancy_{groups[0]}", COLORS[mode], labels[0], mode=mode)
    per_session(ax, ds, f"redundancy_{groups[1]}", NEUTRAL, labels[1], marker="s", mode=mode)
    zero(ax)
    sessions(ax)
    title = f"{title} ({mode})"
    e = effect(ds, f"{change}_{mode}")
    if e is not None:
        title += f"\nchange {change_label}: {fmt(e)}"
    ax.set(title=title, ylabel=INFO)
    ax.legend(fontsize=8)


def relevant_panel(ax, ds, mode="engaged"):
    group_pair_panel(
        ax, ds, mode, ("relevant", "irrelevant"), ("task-relevant", "task-irrelevant"),
        "I_red, task-relevant vs irrelevant neurons", "change_relevant_minus_irrelevant",
        "rel − irr",
    )  # fmt: skip


CONTROL_LABELS = {
    "change_redundancy_engaged": "engaged",
    "change_redundancy_passive": "passive, extended fixation (whole trial)",
    "change_redundancy_bins_engaged": "engaged, mean over the within-trial bins",
    "change_redundancy_window_engaged": "engaged, first bin",
    "change_redundancy_window_passive": "passive presentation (first bin)",
    "engagement_contrast_redundancy": "engaged bins − passive presentation",
    "interaction_redundancy": "engaged − passive, first bin (prediction)",
}


def controls_figure(ds: xr.Dataset) -> Figure | None:
    names = [str(n) for n in ds.effect.values] if "effect" in ds.dims else []
    labels = dict(CONTROL_LABELS)
    labels |= {
        n: "control: " + n.removeprefix("control_").removesuffix("_redundancy").replace("_", " ")
        for n in names
        if n.startswith("control_") and n.endswith("_redundancy") and "percent" not in n
    }
    labels |= {
        n: n.removeprefix("network_").removesuffix("_redundancy").replace("_", " ", 1) + " baseline"
        for n in names
        if n.startswith("network_") and n.endswith("_redundancy") and "percent" not in n
    }
    rows = [(n, labels[n]) for n in labels if n in names]
    if not rows:
        return None
    fig = Figure(figsize=(9, 1.5 + 0.3 * len(rows)), layout="constrained")
    ax = fig.subplots()
    forest(ax, ds, rows, f"Δ I_red, last − naive session ({INFO})", fontsize=9)
    ax.set_title("change in redundancy with learning, model and controls (95% CI; hollow: "
                 "frozen noise)")  # fmt: skip
    return titles(fig)
