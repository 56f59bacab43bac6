"""Comparison figures: ``frozen_noise`` (fresh vs frozen noise, for the sampling model
before/after learning and the classic baselines over sessions) and ``baselines`` (the classic
feedforward baselines next to the sampling model, their training steps, noise sources and
loss)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import report
from .style import (
    COLORS,
    LABELS,
    err,
    first_last,
    has,
    missing,
    per_session,
    sessions,
    titles,
    ylabel,
    zero,
)

# ---------------------------------------------------------------------------------------------
# Fresh vs frozen noise

FROZEN_MEASURES = ("percent_redundancy", "redundancy", "fraction_along_fprime")


def frozen_noise_figure(ds: xr.Dataset) -> Figure | None:
    model = "control_redundancy" in ds and any(
        f"frozen_{m}" in ds.condition.values for m in ds.mode.values
    )
    network = "network_redundancy" in ds
    if not (model or network):
        return None
    rows = [r for r, ok in (("model", model), ("network", network)) if ok]
    fig = Figure(figsize=(15, 4.6 * len(rows) + 0.6), layout="constrained")
    fig.suptitle(
        "Fresh vs frozen noise (frozen, dashed/hollow: the same noise image on every trial of a "
        "level, so only variability generated inside the model remains); 95% CIs"
    )
    axes = np.atleast_2d(fig.subplots(len(rows), len(FROZEN_MEASURES), squeeze=False))
    for r, row in enumerate(rows):
        for ax, name in zip(axes[r], FROZEN_MEASURES, strict=True):
            title = ylabel(ax, name)
            if row == "model":
                _frozen_model_panel(ax, ds, name)
                ax.set_title(f"sampling model: {title}")
            else:
                for b in ds.baseline.values:
                    for noise in ds.noise.values:
                        per_session(
                            ax, ds, f"network_{name}", COLORS.get(str(b), "k"),
                            f"{b}, {noise} noise", frozen=noise == "frozen", baseline=b,
                            noise=noise,
                        )  # fmt: skip
                sessions(ax)
                ax.set_title(f"classic baselines: {title}")
            if name != "fraction_along_fprime":
                zero(ax)
        axes[r, 0].legend(fontsize=8)
    return titles(fig)


def _frozen_model_panel(ax, ds, name: str):
    first, last = first_last(ds)
    modes = [m for m in ds.mode.values if f"frozen_{m}" in ds.condition.values]
    series = [(m, noise) for m in modes for noise in ("fresh", "frozen")]
    for k, (mode, noise) in enumerate(series):
        x = np.array([0.0, 1.0]) + 0.08 * (k - (len(series) - 1) / 2)
        points = []
        for phase, session in (("before", first), ("after", last)):
            if noise == "fresh":
                points.append(report.level(ds, name, mode=mode, session=session))
            else:
                cond = f"frozen_{mode}"
                points.append(report.level(ds, f"control_{name}", condition=cond, phase=phase))
        v, lo, hi = np.array(points).T
        color = COLORS.get(str(mode), "k")
        ax.errorbar(
            x, v, yerr=err(v, lo, hi), fmt="--o" if noise == "frozen" else "-o", color=color,
            mfc="white" if noise == "frozen" else color, capsize=3, ms=5,
            label=f"{LABELS.get(str(mode), mode)}, {noise} noise",
        )  # fmt: skip
    ax.set_xticks([0, 1], [f"before learning\n(session {first})", f"after\n(session {last})"])
    ax.set_xlim(-0.5, 1.5)


# ---------------------------------------------------------------------------------------------
# The classic baselines

BASELINE_MEASURES = (
    "accuracy", "information", "information_shuffled", "redundancy", "percent_redundancy",
)  # fmt: skip


def baselines_figure(ds: xr.Dataset) -> Figure | None:
    if "network_redundancy" not in ds:
        return None
    fig = Figure(figsize=(20, 12), layout="constrained")
    fig.suptitle(
        "Classic (feedforward) baselines over sessions, fresh noise, next to the sampling model; "
        "the baselines train each session until they match the model's engaged accuracy (95% CI)"
    )
    gs = fig.add_gridspec(3, len(BASELINE_MEASURES))
    for c, name in enumerate(BASELINE_MEASURES):
        ax = fig.add_subplot(gs[0, c])
        if f"network_{name}" in ds:
            for b in ds.baseline.values:
                per_session(ax, ds, f"network_{name}", COLORS.get(str(b), "k"),
                             LABELS.get(str(b), b), baseline=b, noise="fresh")  # fmt: skip
        if name == "accuracy":
            per_session(ax, ds, "accuracy", COLORS["engaged"], "sampling model, engaged (target)",
                         marker="D", mode="engaged")  # fmt: skip
            ax.axhline(0.5, color="grey", lw=0.8, ls=":", zorder=0)
        else:
            zero(ax)
        ax.set_title(f"baselines: {ylabel(ax, name)}", fontsize=10)
        sessions(ax)
        if c == 0:
            ax.legend(fontsize=8)
        ax2 = fig.add_subplot(gs[1, c], sharex=ax)
        if name in ds:
            for mode in ds.mode.values:
                per_session(ax2, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)),
                             mode=mode)  # fmt: skip
        if name != "accuracy":
            zero(ax2)
        ax2.set_title(f"sampling model: {ylabel(ax2, name)}", fontsize=10)
        sessions(ax2)
        if c == 0:
            ax2.legend(fontsize=8)
    _steps_panel(fig.add_subplot(gs[2, 0]), ds)
    _noise_sources_panel(fig.add_subplot(gs[2, 1:3]), ds)
    _loss_panel(fig.add_subplot(gs[2, 3:]), ds)
    return titles(fig)


def _steps_panel(ax, ds):
    if "network_steps" not in ds:
        return missing(ax, "training steps")
    bases = list(ds.baseline.values)
    width = 0.8 / len(bases)
    for k, b in enumerate(bases):
        steps = ds.network_steps.sel(baseline=b)
        x = ds.session.values + (k - (len(bases) - 1) / 2) * width
        ax.bar(x, steps.mean("seed"), width, color=COLORS.get(str(b), "k"), alpha=0.7,
               label=LABELS.get(str(b), b))  # fmt: skip
        for s in range(steps.sizes["seed"]):
            ax.plot(x, steps.isel(seed=s), "k.", ms=3)
    ax.set(title="baselines: optimiser steps per session\n(bars: seed mean, dots: seeds)",
           ylabel="Adam steps")  # fmt: skip
    sessions(ax)
    ax.legend(fontsize=8)


def _noise_sources_panel(ax, ds):
    if not has(ds, "network_private_fraction", "network_shared_fraction"):
        return missing(ax, "noise sources")
    bases = list(ds.baseline.values)
    width = 0.8 / len(bases)
    for k, b in enumerate(bases):
        private = np.asarray(ds.network_private_fraction.sel(baseline=b).mean("seed"), float)
        shared = np.asarray(ds.network_shared_fraction.sel(baseline=b).mean("seed"), float)
        pixel = 1 - private - shared
        x = ds.session.values + (k - (len(bases) - 1) / 2) * width
        color = COLORS.get(str(b), "k")
        bottom = np.zeros_like(private)
        for part, hatch, alpha in ((private, "", 0.8), (shared, "///", 0.5), (pixel, "..", 0.2)):
            ax.bar(x, part, width, bottom=bottom, color=color, alpha=alpha, hatch=hatch,
                   edgecolor="k", lw=0.3)  # fmt: skip
            bottom = bottom + part
    handles = [Patch(fc=COLORS.get(str(b), "k"), label=LABELS.get(str(b), b)) for b in bases]
    handles += [
        Patch(fc="white", ec="k", hatch=h, label=lab)
        for h, lab in (("", "private"), ("///", "internal shared"), ("..", "pixel noise via rates"))
    ]
    ax.legend(handles=handles, fontsize=8, ncols=2)
    ax.set(title="baselines: sources of the fresh zero-signal noise variance (seed mean)",
           ylabel="fraction of total variance", ylim=(0, 1.05))  # fmt: skip
    sessions(ax)


def _loss_panel(ax, ds):
    if "network_loss" not in ds:
        return missing(ax, "training loss")
    n_sessions = ds.sizes["session"] - 1
    steps = ds.sizes["step"]
    per = steps // max(n_sessions, 1)
    x = np.arange(steps) / max(per, 1) + 1  # session s spans [s, s + 1)
    for b in ds.baseline.values:
        loss = np.asarray(ds.network_loss.sel(baseline=b), float)  # (seed, step)
        color = COLORS.get(str(b), "k")
        for row in loss:
            ax.plot(x, row, color=color, lw=0.5, alpha=0.35)
        with np.errstate(all="ignore"):
            count = np.isfinite(loss).sum(0)
            mean = np.where(count > 0, np.nansum(loss, 0) / np.maximum(count, 1), np.nan)
        ax.plot(x, mean, color=color, lw=1.8, label=f"{LABELS.get(str(b), b)}, seed mean")
    for s in range(1, n_sessions + 1):
        ax.axvline(s, color="grey", lw=0.5, ls=":")
    ax.set(title="baselines: training loss per step (gaps: steps not taken after matching)",
           ylabel="loss")  # fmt: skip
    sessions(ax, "session (steps within it)")
    ax.legend(fontsize=8)
