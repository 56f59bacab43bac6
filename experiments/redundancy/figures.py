"""Figures of the redundancy experiment: the paper's panels, the controls, fresh vs frozen
noise, the classic baselines, the paper's further analyses over learning and a one-page
summary of the acceptance criteria.

One colour per model throughout (:data:`COLORS`); frozen noise is drawn dashed with hollow
markers in the colour of its model; the naive session in a lighter shade of the last one's.
Bands and error bars are centred 95% bootstrap intervals (``<name>_low``/``<name>_high``, or
from ``<name>_resampled`` as in :mod:`.report`). Information is linear Fisher information about
the signed contrast (image units, pixel noise sd 1), hence in contrast⁻².
"""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import report

COLORS = {
    "engaged": "#d62728",
    "passive": "#1f77b4",
    "discriminative": "#9467bd",
    "efficient": "#ff7f0e",
}
"""One colour per model: the sampling model engaged and passive, and the two classic
(feedforward) baselines."""

LABELS = {
    "engaged": "sampling model, engaged",
    "passive": "sampling model, passive",
    "discriminative": "discriminative baseline (λ_TC = 0)",
    "efficient": "efficient-coding baseline (λ_TC > 0)",
}
NEUTRAL = "#7f7f7f"  # the comparison group (irrelevant neurons, low d'), references
ABLATION = "#444444"  # the sampling model's ablations (coupling only, no accumulation)
STATUS = {True: ("PASS", "#2ca02c"), False: ("FAIL", "#c62828"), None: ("n/a", "#9e9e9e")}
INFO = "contrast⁻²"  # unit of linear Fisher information about the signed contrast
MEASURE_LABELS = {
    "information": ("population information I", INFO),
    "information_shuffled": ("shuffled (single-neuron) information I_shuffle", INFO),
    "redundancy": ("redundancy I_red = I_shuffle − I", INFO),
    "percent_redundancy": ("% redundancy, 100 I_red / I_shuffle", "%"),
    "fraction_along_fprime": ("noise variance along f′", "fraction of total"),
    "accuracy": ("accuracy (signal trials)", "fraction correct"),
}


# ---------------------------------------------------------------------------------------------
# Helpers


def _light(color, amount: float = 0.55):
    """``color`` mixed with white (the naive session's shade)."""
    return tuple(c + (1 - c) * amount for c in to_rgb(color))


def _sessions(ax, label: str = "session (0 = naive)"):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)


def _ylabel(ax, name: str):
    title, unit = MEASURE_LABELS[name]
    ax.set_ylabel(unit)
    return title


def _interval(rep: xr.DataArray, center: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Centred 95% percentile interval over ``resample`` (as
    :func:`bayescortex.analysis.percentile_interval`); NaN resamples propagate."""
    s = np.asarray(rep.transpose("resample", *center.dims), float)
    c = np.asarray(center, float)
    s = s - s.mean(axis=0, keepdims=True) + c[None]
    low, high = np.quantile(s, [0.025, 0.975], axis=0)
    return low, high


def _estimate(ds: xr.Dataset, names, fn):
    """``fn`` of the point estimates of ``names`` and its centred 95% interval over their
    resamples (NaN bounds where a resampled variable is missing); arrays."""
    point = fn(xr.Dataset({n: ds[n] for n in names}))
    if all(f"{n}_resampled" in ds for n in names):
        rep = fn(xr.Dataset({n: ds[f"{n}_resampled"] for n in names}))
        low, high = _interval(rep, point)
    else:
        low = high = np.full(point.shape, np.nan)
    return np.asarray(point, float), low, high


def _band(ds: xr.Dataset, name: str, **sel):
    """``(y, (low, high))`` of a variable at ``sel``: its stored band, else from resamples."""
    y = ds[name].sel(**sel)
    if f"{name}_low" in ds and f"{name}_high" in ds:
        band = (ds[f"{name}_low"].sel(**sel), ds[f"{name}_high"].sel(**sel))
        return np.asarray(y, float), tuple(np.asarray(b, float) for b in band)
    if f"{name}_resampled" in ds:
        return np.asarray(y, float), _interval(ds[f"{name}_resampled"].sel(**sel), y)
    return np.asarray(y, float), None


def _series(ax, x, y, band, color, label=None, *, frozen=False, marker="o", lw=1.5):
    ax.plot(
        x, y, "--" if frozen else "-", marker=marker, color=color, lw=lw, ms=4,
        mfc="white" if frozen else color, label=label,
    )  # fmt: skip
    if band is not None:
        ax.fill_between(x, band[0], band[1], color=color, alpha=0.1 if frozen else 0.2, lw=0)


def _per_session(ax, ds, name, color, label=None, *, frozen=False, marker="o", **sel):
    y, band = _band(ds, name, **sel)
    _series(ax, ds.session.values, y, band, color, label, frozen=frozen, marker=marker)


def _err(value, low, high):
    """Error bar lengths (never negative: a centred interval may miss its point)."""
    value, low, high = (np.atleast_1d(np.asarray(v, float)) for v in (value, low, high))
    return np.stack([np.maximum(value - low, 0), np.maximum(high - value, 0)])


def _zero(ax, y: float = 0.0):
    ax.axhline(y, color="grey", lw=0.8, zorder=0)


def _time_axis(ax, n: int):
    """Within-trial bins 1..n; the first starts at stimulus onset, the last ends at the
    decision."""
    labels = [str(i) for i in range(1, n + 1)]
    labels[0], labels[-1] = "onset", "decision"
    ax.set_xticks(np.arange(1, n + 1), labels)
    ax.set_xlabel("within-trial time bin")


def _effect(ds: xr.Dataset, name: str):
    if "effect" not in ds.dims or name not in ds.effect.values:
        return None
    row = ds.sel(effect=name)
    return float(row.effect_value), float(row.effect_low), float(row.effect_high)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v[0]:.3g} [{v[1]:.3g}, {v[2]:.3g}]"


def _effect_color(name: str):
    """An effect's model colour, and whether it is measured under frozen noise."""
    frozen = "frozen" in name
    for key in ("discriminative", "efficient"):
        if key in name:
            return COLORS[key], frozen
    if "interaction" in name:
        return "k", frozen
    if "coupling_only" in name or "no_accumulation" in name:
        return ABLATION, frozen
    return COLORS["passive" if "passive" in name else "engaged"], frozen


def _forest(ax, ds, rows, xlabel: str, fontsize: float = 8):
    """Effects (value with 95% CI) as a forest plot with a zero line; rows ``(name, label)``
    present in ``ds.effect``. Returns the rows drawn."""
    rows = [(n, lab) for n, lab in rows if _effect(ds, n) is not None]
    for i, (name, _) in enumerate(rows):
        v = _effect(ds, name)
        color, frozen = _effect_color(name)
        if np.all(np.isfinite(v)):
            ax.errorbar(
                v[0], i, xerr=_err(*v), fmt="o", color=color, mfc="white" if frozen else color,
                ms=5, capsize=2, lw=1.2,
            )  # fmt: skip
        else:
            ax.text(0, i, "  not finite (NaN)", color=NEUTRAL, fontsize=7, va="center")
    ax.axvline(0, color="grey", lw=0.8, zorder=0)
    ax.set_yticks(np.arange(len(rows)), [lab for _, lab in rows], fontsize=fontsize)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(xlabel, fontsize=fontsize)
    ax.tick_params(axis="x", labelsize=fontsize)
    return rows


def _titles(fig: Figure, size: float = 10) -> Figure:
    """One title size for every panel of ``fig``."""
    for ax in fig.axes:
        ax.title.set_fontsize(size)
    return fig


def _missing(ax, what: str):
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{what}\nnot recorded", ha="center", va="center", color=NEUTRAL)


def _has(ds, *names) -> bool:
    return all(n in ds for n in names)


def _first_last(ds):
    return ds.session.values[0], ds.session.values[-1]


def _change(names, mode, combine=None):
    """Last-minus-naive change of ``names`` (combined by ``combine``, default the first)."""

    def fn(d):
        first, last = d.session.values[0], d.session.values[-1]
        diff = {n: d[n].sel(mode=mode, session=last) - d[n].sel(mode=mode, session=first)
                for n in names}  # fmt: skip
        return diff[names[0]] if combine is None else combine(diff)

    return fn


# ---------------------------------------------------------------------------------------------
# The paper's main panels


def _redundancy_figure(ds: xr.Dataset) -> Figure:
    fig = Figure(figsize=(15, 12), layout="constrained")
    fig.suptitle("Redundancy with learning: sampling model, engaged vs passive (95% CI)")
    axes = fig.subplots(3, 3)
    panels = ("redundancy", "information_shuffled", "information", "percent_redundancy",
              "fraction_along_fprime", "accuracy")  # fmt: skip
    for ax, name in zip(axes.flat, panels, strict=False):
        if name not in ds:
            _missing(ax, name)
            continue
        for mode in ds.mode.values:
            _per_session(ax, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)), mode=mode)
        ax.set_title(_ylabel(ax, name))
        _sessions(ax)
        ax.legend(fontsize=8)
    for ax in axes.flat[:4]:
        _zero(ax)
    _within_trial_panel(axes.flat[6], ds)
    ax = axes.flat[7]
    if _has(ds, "redundancy_relevant", "redundancy_irrelevant"):
        _relevant_panel(ax, ds)
    else:
        _missing(ax, "relevant vs irrelevant")
    ax = axes.flat[8]
    if "context_posterior" in ds:
        task = str(ds.attrs.get("task", ds.context.values[0]))
        for mode in ds.mode.values:
            post = ds.context_posterior.sel(mode=mode).isel(time=0).mean("seed")
            color = COLORS.get(str(mode), "k")
            ax.plot(ds.session.values, post.sel(context=task), "o-", color=color,
                    label=f"{mode}: p(K = {task})")  # fmt: skip
            ax.plot(ds.session.values, post.sel(context="none"), "s:", color=_light(color, 0.3),
                    label=f"{mode}: p(K = none)")  # fmt: skip
        ax.set(title="inferred context, first time bin (seed mean)", ylim=(0, 1),
               ylabel="posterior probability")  # fmt: skip
        _sessions(ax)
        ax.legend(fontsize=8)
    else:
        _missing(ax, "context posterior")
    return _titles(fig)


def _within_trial_panel(ax, ds):
    if "redundancy_by_time" not in ds:
        return _missing(ax, "within-trial redundancy")
    first, last = _first_last(ds)
    t = np.arange(1, ds.sizes["time"] + 1)
    for s, shade in ((first, _light), (last, lambda c: c)):
        for mode in ds.mode.values:
            y, band = _band(ds, "redundancy_by_time", session=s, mode=mode)
            _series(ax, t, y, band, shade(COLORS.get(str(mode), "k")), f"{mode}, session {s}")
    _zero(ax)
    _time_axis(ax, len(t))
    ax.set(title="within-trial redundancy I_red (naive session: light)", ylabel=INFO)
    ax.legend(fontsize=8)


def _relevant_panel(ax, ds, mode="engaged"):
    color = COLORS[mode]
    _per_session(ax, ds, "redundancy_relevant", color, "task-relevant", mode=mode)
    _per_session(ax, ds, "redundancy_irrelevant", NEUTRAL, "task-irrelevant", marker="s",
                 mode=mode)  # fmt: skip
    _zero(ax)
    _sessions(ax)
    title = f"I_red, task-relevant vs irrelevant neurons ({mode})"
    e = _effect(ds, f"change_relevant_minus_irrelevant_{mode}")
    if e is not None:
        title += f"\nchange rel − irr: {_fmt(e)}"
    ax.set(title=title, ylabel=INFO)
    ax.legend(fontsize=8)


CONTROL_LABELS = {
    "change_redundancy_engaged": "engaged",
    "change_redundancy_passive": "passive",
    "change_redundancy_window_engaged": "engaged, first window",
    "change_redundancy_window_passive": "passive, first window",
    "interaction_redundancy": "engaged − passive, first window",
}


def _controls_figure(ds: xr.Dataset) -> Figure | None:
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
    _forest(ax, ds, rows, f"Δ I_red, last − naive session ({INFO})", fontsize=9)
    ax.set_title("change in redundancy with learning, model and controls (95% CI; hollow: "
                 "frozen noise)")  # fmt: skip
    return _titles(fig)


# ---------------------------------------------------------------------------------------------
# Fresh vs frozen noise

FROZEN_MEASURES = ("percent_redundancy", "redundancy", "fraction_along_fprime")


def _frozen_noise_figure(ds: xr.Dataset) -> Figure | None:
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
            title = _ylabel(ax, name)
            if row == "model":
                _frozen_model_panel(ax, ds, name)
                ax.set_title(f"sampling model: {title}")
            else:
                for b in ds.baseline.values:
                    for noise in ds.noise.values:
                        _per_session(
                            ax, ds, f"network_{name}", COLORS.get(str(b), "k"),
                            f"{b}, {noise} noise", frozen=noise == "frozen", baseline=b,
                            noise=noise,
                        )  # fmt: skip
                _sessions(ax)
                ax.set_title(f"classic baselines: {title}")
            if name != "fraction_along_fprime":
                _zero(ax)
        axes[r, 0].legend(fontsize=8)
    return _titles(fig)


def _frozen_model_panel(ax, ds, name: str):
    first, last = _first_last(ds)
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
            x, v, yerr=_err(v, lo, hi), fmt="--o" if noise == "frozen" else "-o", color=color,
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


def _baselines_figure(ds: xr.Dataset) -> Figure | None:
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
                _per_session(ax, ds, f"network_{name}", COLORS.get(str(b), "k"),
                             LABELS.get(str(b), b), baseline=b, noise="fresh")  # fmt: skip
        if name == "accuracy":
            _per_session(ax, ds, "accuracy", COLORS["engaged"], "sampling model, engaged (target)",
                         marker="D", mode="engaged")  # fmt: skip
            ax.axhline(0.5, color="grey", lw=0.8, ls=":", zorder=0)
        else:
            _zero(ax)
        ax.set_title(f"baselines: {_ylabel(ax, name)}", fontsize=10)
        _sessions(ax)
        if c == 0:
            ax.legend(fontsize=8)
        ax2 = fig.add_subplot(gs[1, c], sharex=ax)
        if name in ds:
            for mode in ds.mode.values:
                _per_session(ax2, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)),
                             mode=mode)  # fmt: skip
        if name != "accuracy":
            _zero(ax2)
        ax2.set_title(f"sampling model: {_ylabel(ax2, name)}", fontsize=10)
        _sessions(ax2)
        if c == 0:
            ax2.legend(fontsize=8)
    _steps_panel(fig.add_subplot(gs[2, 0]), ds)
    _noise_sources_panel(fig.add_subplot(gs[2, 1:3]), ds)
    _loss_panel(fig.add_subplot(gs[2, 3:]), ds)
    return _titles(fig)


def _steps_panel(ax, ds):
    if "network_steps" not in ds:
        return _missing(ax, "training steps")
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
    _sessions(ax)
    ax.legend(fontsize=8)


def _noise_sources_panel(ax, ds):
    if not _has(ds, "network_private_fraction", "network_shared_fraction"):
        return _missing(ax, "noise sources")
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
    _sessions(ax)


def _loss_panel(ax, ds):
    if "network_loss" not in ds:
        return _missing(ax, "training loss")
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
    _sessions(ax, "session (steps within it)")
    ax.legend(fontsize=8)


# ---------------------------------------------------------------------------------------------
# The paper's further analyses


def _analyses_figure(ds: xr.Dataset) -> Figure | None:
    panels = (
        (("kernel",), _kernel_panel),
        (("psychometric_slope",), _learning_index_panel),
        (("psychometric_slope", "redundancy"), _learning_scatter_panel),
        (("choice_probability",), _choice_probability_panel),
        (("noise_correlation_same_minus_different",), _same_minus_different_panel),
        (("noise_correlation_binned",), None),  # three heat maps
        (("redundancy_relevant", "redundancy_irrelevant"), _relevant_panel),
        (("redundancy_dprime_high", "redundancy_dprime_low"), _dprime_panel),
        (("redundancy_relevant_by_time", "redundancy_irrelevant_by_time"), _decision_panel),
        (("redundancy_by_coherence",), _coherence_panel),
    )
    if not any(_has(ds, *names) for names, _ in panels):
        return None
    fig = Figure(figsize=(20, 14), layout="constrained")
    fig.suptitle("The paper's analyses over learning: sampling model (95% CI; naive session "
                 "light, last session dark)")  # fmt: skip
    axes = fig.subplots(3, 4)
    flat = list(axes.flat)
    slots = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 6: 8, 7: 9, 8: 10, 9: 11}
    for i, (names, draw) in enumerate(panels):
        if draw is None:
            continue
        ax = flat[slots[i]]
        if _has(ds, *names):
            draw(ax, ds)
        else:
            _missing(ax, " and ".join(names))
    maps = flat[5:8]
    if "noise_correlation_binned" in ds:
        _binned_correlation_panels(fig, maps, ds)
    else:
        for ax in maps:
            _missing(ax, "binned noise correlations")
    return _titles(fig)


def _kernel_panel(ax, ds, mode="engaged"):
    first, last = _first_last(ds)
    frames = np.arange(1, ds.sizes["frame"] + 1)
    for s, shade in ((first, _light), (last, lambda c: c)):
        color = shade(COLORS[mode])
        y, band = _band(ds, "kernel", session=s, mode=mode)
        undefined = "" if np.any(np.isfinite(y)) else " (undefined: NaN)"
        _series(ax, frames, y, band, color, f"session {s}{undefined}")
        flat = float(ds.kernel_mean.sel(session=s, mode=mode)) if "kernel_mean" in ds else np.nan
        if np.isfinite(flat):
            ax.axhline(flat, color=color, lw=1, ls=":")
    ax.plot([], [], "k:", lw=1, label="flat (ideal observer) at the kernel's mean")
    _zero(ax)
    title = f"psychophysical kernel ({mode})"
    e = _effect(ds, f"kernel_late_minus_early_last_{mode}")
    if e is not None:
        title += f"\nlate − early, last session: {_fmt(e)}"
    ax.set(title=title, xlabel="noise frame (stimulus onset → decision)",
           ylabel="choice-triggered noise energy (a.u.)")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)


def _learning_index_panel(ax, ds, mode="engaged"):
    li = _estimate(ds, ["psychometric_slope"], lambda d: report.learning_index(d, mode))
    _series(ax, ds.session.values, li[0], li[1:], COLORS[mode], LABELS[mode])
    _zero(ax)
    _sessions(ax)
    title = "learning index (slope − naive slope)"
    e = _effect(ds, f"learning_index_last_{mode}")
    if e is not None:
        title += f"\nlast session: {_fmt(e)}"
    ax.set(title=title, ylabel="Δ slope (1 / contrast)")
    ax.legend(fontsize=8)


def _learning_scatter_panel(ax, ds, mode="engaged"):
    li = _estimate(ds, ["psychometric_slope"], lambda d: report.learning_index(d, mode))
    red, band = _band(ds, "redundancy", mode=mode)
    band = band if band is not None else (red * np.nan, red * np.nan)
    color = COLORS[mode]
    ax.plot(li[0], red, "-", color=NEUTRAL, lw=0.8, zorder=0)
    ax.errorbar(li[0], red, xerr=_err(*li), yerr=_err(red, *band), fmt="o", color=color,
                capsize=2, ms=5)  # fmt: skip
    for s, x, y in zip(ds.session.values, li[0], red, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            ax.annotate(f"{s}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    title = f"I_red vs learning index ({mode}; numbers: sessions)"
    e = _effect(ds, f"correlation_redundancy_learning_index_{mode}")
    if e is not None:
        title += f"\ncorrelation r = {_fmt(e)}"
    ax.set(title=title, xlabel="learning index (Δ slope, 1 / contrast)",
           ylabel=f"I_red ({INFO})")  # fmt: skip


def _modes_over_sessions(ax, ds, name, reference, title, ylabel):
    for mode in ds.mode.values:
        _per_session(ax, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)), mode=mode)
    _zero(ax, reference)
    e = _effect(ds, f"change_{name}_engaged")
    if e is not None:
        title += f"\nchange, engaged: {_fmt(e)}"
    ax.set(title=title, ylabel=ylabel)
    _sessions(ax)
    ax.legend(fontsize=8)


def _choice_probability_panel(ax, ds):
    _modes_over_sessions(
        ax, ds, "choice_probability", 0.5,
        "choice probability, task-relevant neurons\n(zero-signal trials; 0.5 = chance)", "CP",
    )  # fmt: skip


def _same_minus_different_panel(ax, ds):
    _modes_over_sessions(
        ax, ds, "noise_correlation_same_minus_different", 0.0,
        "noise correlation, same − different category", "Δ correlation",
    )  # fmt: skip


def _binned_correlation_panels(fig, axes, ds, mode="engaged"):
    first, last = _first_last(ds)
    nc = ds.noise_correlation_binned.sel(mode=mode)
    maps = [
        (nc.sel(session=first), f"{mode}, session {first}"),
        (nc.sel(session=last), f"{mode}, session {last}"),
        (nc.sel(session=last) - nc.sel(session=first), f"change, session {last} − {first}"),
    ]
    values = np.concatenate([np.asarray(m, float).ravel() for m, _ in maps])
    vmax = np.nanmax(np.abs(values)) if np.any(np.isfinite(values)) else 1.0
    vmax = vmax if vmax > 0 else 1.0
    rows = np.asarray(ds.orientation_row, float)
    cols = np.asarray(ds.orientation_column, float)

    def edges(c):
        step = c[1] - c[0] if c.size > 1 else 180.0
        return np.concatenate([c - step / 2, [c[-1] + step / 2]])

    for ax, (m, title) in zip(axes, maps, strict=True):
        mesh = ax.pcolormesh(
            edges(cols), edges(rows), np.ma.masked_invalid(np.asarray(m, float)), cmap="RdBu_r",
            vmin=-vmax, vmax=vmax,
        )  # fmt: skip
        for a in (90,):
            ax.axhline(a, color="k", lw=0.5, ls=":")
            ax.axvline(a, color="k", lw=0.5, ls=":")
        ticks = np.arange(0, 181, 45)
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_aspect("equal")
        ax.set(
            title=f"noise correlation by pref. orientation\n{title}",
            xlabel="preferred orientation re task axis (deg)",
            ylabel="preferred orientation re task axis (deg)",
        )
    fig.colorbar(mesh, ax=list(axes), label="mean noise correlation", shrink=0.8)


def _dprime_panel(ax, ds, mode="engaged"):
    _per_session(ax, ds, "redundancy_dprime_high", COLORS[mode], "highest passive d′", mode=mode)
    _per_session(ax, ds, "redundancy_dprime_low", NEUTRAL, "lowest passive d′", marker="s",
                 mode=mode)  # fmt: skip
    _zero(ax)
    _sessions(ax)
    title = f"I_red, highest vs lowest passive d′ ({mode})"
    e = _effect(ds, f"change_dprime_high_minus_low_{mode}")
    if e is not None:
        title += f"\nchange high − low: {_fmt(e)}"
    ax.set(title=title, ylabel=INFO)
    ax.legend(fontsize=8)


def _decision_panel(ax, ds, mode="engaged"):
    names = ["redundancy_relevant_by_time", "redundancy_irrelevant_by_time"]
    t = np.arange(1, ds.sizes["time"] + 1)
    gap = _estimate(ds, names, _change(names, mode, lambda d: d[names[0]] - d[names[1]]))
    rel = _estimate(ds, names[:1], _change(names[:1], mode))
    irr = _estimate(ds, names[1:], _change(names[1:], mode))
    _series(ax, t, gap[0], gap[1:], COLORS[mode], "relevant − irrelevant", lw=2)
    ax.plot(t, rel[0], "^-", color=_light(COLORS[mode]), lw=1, ms=4, label="relevant")
    ax.plot(t, irr[0], "s-", color=NEUTRAL, lw=1, ms=4, label="irrelevant")
    _zero(ax)
    _time_axis(ax, len(t))
    first, last = _first_last(ds)
    title = f"change in I_red, session {last} − {first} ({mode})"
    e = _effect(ds, f"decision_minus_onset_relevant_minus_irrelevant_{mode}")
    if e is not None:
        title += f"\nrel − irr, decision − onset: {_fmt(e)}"
    ax.set(title=title, ylabel=f"Δ I_red ({INFO})")
    ax.legend(fontsize=8)


def _coherence_panel(ax, ds):
    coh = np.asarray(ds.coherence, float)
    x = np.arange(coh.size)
    modes = list(ds.mode.values)
    width = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        v, lo, hi = _estimate(ds, ["redundancy_by_coherence"],
                              _change(["redundancy_by_coherence"], mode))  # fmt: skip
        color = COLORS.get(str(mode), "k")
        ax.bar(x + (k - (len(modes) - 1) / 2) * width, v, width, yerr=_err(v, lo, hi),
               color=color, alpha=0.75, capsize=3, label=LABELS.get(str(mode), mode))  # fmt: skip
    _zero(ax)
    first, last = _first_last(ds)
    ax.set_xticks(x, [f"{c:g}" for c in coh])
    ax.set(title=f"change in I_red per coherence, session {last} − {first}",
           xlabel="coherence (contrast, image units)", ylabel=f"Δ I_red ({INFO})")  # fmt: skip
    ax.legend(fontsize=8)


# ---------------------------------------------------------------------------------------------
# One-page summary

FOREST = (
    (
        f"change, last − naive session ({INFO})",
        (
            ("change_redundancy_engaged", "I_red, engaged"),
            ("change_redundancy_passive", "I_red, passive"),
            ("change_redundancy_window_engaged", "I_red, engaged, first window"),
            ("change_redundancy_window_passive", "I_red, passive, first window"),
            ("interaction_redundancy", "I_red, engaged − passive (window)"),
            ("change_information_shuffled_engaged", "I_shuffle, engaged"),
            ("change_information_engaged", "I, engaged"),
            ("change_relevant_minus_irrelevant_engaged", "I_red, relevant − irrelevant"),
            ("change_dprime_high_minus_low_engaged", "I_red, high − low d′"),
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
        f"within-trial slope of I_red ({INFO} per time bin)",
        (
            ("within_trial_slope_early_engaged", "engaged, naive session"),
            ("within_trial_slope_late_engaged", "engaged, last session"),
            ("within_trial_slope_late_passive", "passive, last session"),
        ),
    ),
    (
        "correlation r of engaged I_red with the learning index over sessions",
        (("correlation_redundancy_learning_index_engaged", "r(I_red, learning index)"),),
    ),
    (
        f"% redundancy after training (shaded: ±{report.FROZEN_BAND:g}, \"near zero\")",
        (
            ("network_discriminative_fresh_percent_redundancy_last", "discriminative, fresh"),
            ("network_discriminative_frozen_percent_redundancy_last", "discriminative, frozen"),
            ("network_efficient_fresh_percent_redundancy_last", "efficient, fresh"),
            ("network_efficient_frozen_percent_redundancy_last", "efficient, frozen"),
        ),
    ),
)  # fmt: skip
"""The summary's forest plots: one per unit, rows ``(effect, label)`` (those in the data)."""


def _summary_figure(ds: xr.Dataset) -> Figure | None:
    if "effect_value" not in ds:
        return None
    results = report.criteria(ds)
    groups = [(t, [r for r in rows if _effect(ds, r[0]) is not None]) for t, rows in FOREST]
    groups = [(t, rows) for t, rows in groups if rows]
    fig = Figure(figsize=(11.69, 8.27), layout="constrained")  # A4 landscape
    counts = {k: sum(ok is k for _, ok in results) for k in STATUS}
    task = ds.attrs.get("task", "")
    seeds = ds.sizes.get("seed", "?")
    fig.suptitle(
        "Redundancy with learning (Liu, Pletenev, Haefner & Snyder 2026): the paper's claims "
        f"vs the model\ntask {task}, {seeds} seeds, sessions 0–{int(ds.session[-1])}; criteria: "
        f"{counts[True]} PASS, {counts[False]} FAIL, {counts[None]} n/a",
        fontsize=11,
    )
    gs = fig.add_gridspec(
        max(len(groups), 1), 2, width_ratios=(1.6, 1),
        height_ratios=[len(rows) + 2 for _, rows in groups] or [1],
    )  # fmt: skip
    _criteria_panel(fig.add_subplot(gs[:, 0]), ds, results)
    for g, (title, rows) in enumerate(groups):
        ax = fig.add_subplot(gs[g, 1])
        if "percent_redundancy_last" in rows[0][0]:
            band = report.FROZEN_BAND
            ax.axvspan(-band, band, color="grey", alpha=0.15, lw=0)
        _forest(ax, ds, rows, title, fontsize=8)
    if groups:
        handles = [Patch(color=COLORS[k], label=LABELS[k]) for k in COLORS]
        fig.legend(handles=handles, loc="outside lower right", ncols=2, fontsize=7.5,
                   title="colours (hollow: frozen noise)", title_fontsize=7.5)  # fmt: skip
    return fig


def _criteria_panel(ax, ds, results, width: int = 50):
    """Every acceptance criterion with its verdict and the effects it used (95% CI)."""
    ax.set_axis_off()
    ax.set_title("acceptance criteria (the paper's claims), as measured", loc="left", fontsize=10)
    wrapped = [
        textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
        for text, _ in results
    ]
    lines = sum(max(len(w), 1) for w in wrapped)
    size = float(np.clip(470 / (1.3 * lines + 0.5 * len(results) + 3), 7, 8.5))
    kw = dict(xycoords="axes fraction", textcoords="offset points", va="top")
    for x, text, ha in ((0, "verdict", "left"), (0.085, "claim", "left"),
                        (1, "measured effect [95% CI]", "right")):  # fmt: skip
        ax.annotate(text, (x, 1), xytext=(2 if x == 0 else 0, 0), fontsize=7, color=NEUTRAL,
                    ha=ha, style="italic", **kw)  # fmt: skip
    y = 1.6 * size
    for i, ((text, ok), lines_i) in enumerate(zip(results, wrapped, strict=True)):
        label, color = STATUS[ok]
        ax.annotate(
            label, (0, 1), xytext=(2, -y), fontsize=size - 0.5, color="white",
            fontweight="bold", bbox=dict(boxstyle="round,pad=0.25", fc=color, ec="none"), **kw,
        ).set_gid(f"criterion-{i}-status")  # fmt: skip
        ax.annotate("\n".join(lines_i), (0.085, 1), xytext=(0, -y), fontsize=size,
                    **kw).set_gid(f"criterion-{i}")  # fmt: skip
        ax.annotate(_measured(ds, text), (1, 1), xytext=(0, -y), fontsize=max(size - 1, 7),
                    color="#444444", ha="right", **kw)  # fmt: skip
        y += 1.3 * size * max(len(lines_i), 1) + 0.5 * size


def _measured(ds, text: str) -> str:
    """The effects a criterion uses, as ``value [low, high]``."""
    check = dict(report.CRITERIA).get(text)
    if check is None:
        return ""
    try:
        names = list(dict.fromkeys(report._names_used(check)))
    except Exception:  # a criterion of another shape: show nothing rather than fail
        return ""
    return "\n".join(_fmt(_effect(ds, n)) for n in names)


# ---------------------------------------------------------------------------------------------


BUILDERS = (
    ("redundancy", _redundancy_figure),
    ("controls", _controls_figure),
    ("frozen_noise", _frozen_noise_figure),
    ("baselines", _baselines_figure),
    ("analyses", _analyses_figure),
    ("summary", _summary_figure),
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
