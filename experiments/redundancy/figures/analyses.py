"""The ``analyses`` figure: the paper's further analyses over learning (psychophysical
kernel, learning index and its relation to redundancy, choice probability, noise correlations
same minus different and binned by orientation, d' groups, decision-aligned
relevant-minus-irrelevant change, per-coherence change)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..effect_sizes import learning_index
from .model import group_pair_panel, relevant_panel
from .style import (
    COLORS,
    INFO,
    LABELS,
    NEUTRAL,
    band_of,
    effect,
    err,
    estimate,
    first_last,
    fmt,
    has,
    light,
    missing,
    per_session,
    series,
    sessions,
    time_axis,
    titles,
    zero,
)


def analyses_figure(ds: xr.Dataset) -> Figure | None:
    panels = (
        (("kernel",), _kernel_panel),
        (("psychometric_slope",), _learning_index_panel),
        (("psychometric_slope", "redundancy"), _learning_scatter_panel),
        (("choice_probability",), _choice_probability_panel),
        (("noise_correlation_same_minus_different",), _same_minus_different_panel),
        (("noise_correlation_binned",), None),  # three heat maps
        (("redundancy_relevant", "redundancy_irrelevant"), relevant_panel),
        (("redundancy_dprime_top", "redundancy_dprime_bottom"), _dprime_panel),
        (("redundancy_relevant_by_time", "redundancy_irrelevant_by_time"), _decision_panel),
        (("redundancy_by_coherence",), _coherence_panel),
    )
    if not any(has(ds, *names) for names, _ in panels):
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
        if has(ds, *names):
            draw(ax, ds)
        else:
            missing(ax, " and ".join(names))
    maps = flat[5:8]
    if "noise_correlation_binned" in ds:
        _binned_correlation_panels(fig, maps, ds)
    else:
        for ax in maps:
            missing(ax, "binned noise correlations")
    return titles(fig)


def _kernel_panel(ax, ds, mode="engaged"):
    first, last = first_last(ds)
    frames = np.arange(1, ds.sizes["frame"] + 1)
    for s, shade in ((first, light), (last, lambda c: c)):
        color = shade(COLORS[mode])
        y, band = band_of(ds, "kernel", session=s, mode=mode)
        undefined = "" if np.any(np.isfinite(y)) else " (undefined: NaN)"
        series(ax, frames, y, band, color, f"session {s}{undefined}")
        flat = float(ds.kernel_mean.sel(session=s, mode=mode)) if "kernel_mean" in ds else np.nan
        if np.isfinite(flat):
            ax.axhline(flat, color=color, lw=1, ls=":")
    ax.plot([], [], "k:", lw=1, label="flat (ideal observer) at the kernel's mean")
    zero(ax)
    title = f"psychophysical kernel ({mode})"
    e = effect(ds, f"kernel_late_minus_early_last_{mode}")
    if e is not None:
        title += f"\nlate − early, last session: {fmt(e)}"
    ax.set(title=title, xlabel="noise frame (stimulus onset → decision)",
           ylabel="choice-triggered noise energy (a.u.)")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)


def _learning_index_panel(ax, ds, mode="engaged"):
    li = estimate(ds, ["psychometric_slope"], lambda d: learning_index(d, mode))
    series(ax, ds.session.values, li[0], li[1:], COLORS[mode], LABELS[mode])
    zero(ax)
    sessions(ax)
    title = "learning index (slope − naive slope)"
    e = effect(ds, f"learning_index_last_{mode}")
    if e is not None:
        title += f"\nlast session: {fmt(e)}"
    ax.set(title=title, ylabel="Δ slope (1 / contrast)")
    ax.legend(fontsize=8)


def _learning_scatter_panel(ax, ds, mode="engaged"):
    li = estimate(ds, ["psychometric_slope"], lambda d: learning_index(d, mode))
    red, band = band_of(ds, "redundancy", mode=mode)
    band = band if band is not None else (red * np.nan, red * np.nan)
    color = COLORS[mode]
    ax.plot(li[0], red, "-", color=NEUTRAL, lw=0.8, zorder=0)
    ax.errorbar(li[0], red, xerr=err(*li), yerr=err(red, *band), fmt="o", color=color,
                capsize=2, ms=5)  # fmt: skip
    for s, x, y in zip(ds.session.values, li[0], red, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            ax.annotate(f"{s}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    title = f"I_red vs learning index ({mode}; numbers: sessions)"
    e = effect(ds, f"correlation_redundancy_learning_index_{mode}")
    if e is not None:
        title += f"\ncorrelation r = {fmt(e)}"
    ax.set(title=title, xlabel="learning index (Δ slope, 1 / contrast)",
           ylabel=f"I_red ({INFO})")  # fmt: skip


def _modes_over_sessions(ax, ds, name, reference, title, ylabel):
    for mode in ds.mode.values:
        per_session(ax, ds, name, COLORS.get(str(mode), "k"), LABELS.get(str(mode)), mode=mode)
    zero(ax, reference)
    e = effect(ds, f"change_{name}_engaged")
    if e is not None:
        title += f"\nchange, engaged: {fmt(e)}"
    ax.set(title=title, ylabel=ylabel)
    sessions(ax)
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
    first, last = first_last(ds)
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
    group_pair_panel(
        ax, ds, mode, ("dprime_top", "dprime_bottom"), ("highest passive d′", "lowest passive d′"),
        "I_red, highest vs lowest passive d′", "change_dprime_top_minus_bottom", "high − low",
    )  # fmt: skip


def _decision_panel(ax, ds, mode="engaged"):
    names = ["redundancy_relevant_by_time", "redundancy_irrelevant_by_time"]
    t = np.arange(1, ds.sizes["time"] + 1)
    gap = estimate(ds, names, _change(names, mode, lambda d: d[names[0]] - d[names[1]]))
    rel = estimate(ds, names[:1], _change(names[:1], mode))
    irr = estimate(ds, names[1:], _change(names[1:], mode))
    series(ax, t, gap[0], gap[1:], COLORS[mode], "relevant − irrelevant", lw=2)
    ax.plot(t, rel[0], "^-", color=light(COLORS[mode]), lw=1, ms=4, label="relevant")
    ax.plot(t, irr[0], "s-", color=NEUTRAL, lw=1, ms=4, label="irrelevant")
    zero(ax)
    time_axis(ax, len(t))
    first, last = first_last(ds)
    title = f"change in I_red, session {last} − {first} ({mode})"
    e = effect(ds, f"decision_minus_onset_relevant_minus_irrelevant_{mode}")
    if e is not None:
        title += f"\nrel − irr, decision − onset: {fmt(e)}"
    ax.set(title=title, ylabel=f"Δ I_red ({INFO})")
    ax.legend(fontsize=8)


def _coherence_panel(ax, ds):
    coh = np.asarray(ds.coherence, float)
    x = np.arange(coh.size)
    modes = list(ds.mode.values)
    width = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        v, lo, hi = estimate(ds, ["redundancy_by_coherence"],
                              _change(["redundancy_by_coherence"], mode))  # fmt: skip
        color = COLORS.get(str(mode), "k")
        ax.bar(x + (k - (len(modes) - 1) / 2) * width, v, width, yerr=err(v, lo, hi),
               color=color, alpha=0.75, capsize=3, label=LABELS.get(str(mode), mode))  # fmt: skip
    zero(ax)
    first, last = first_last(ds)
    ax.set_xticks(x, [f"{c:g}" for c in coh])
    ax.set(title=f"change in I_red per coherence, session {last} − {first}",
           xlabel="coherence (contrast, image units)", ylabel=f"Δ I_red ({INFO})")  # fmt: skip
    ax.legend(fontsize=8)


def _change(names, mode, combine=None):
    """Last-minus-naive change of ``names`` (combined by ``combine``, default the first)."""

    def fn(d):
        first, last = d.session.values[0], d.session.values[-1]
        diff = {n: d[n].sel(mode=mode, session=last) - d[n].sel(mode=mode, session=first)
                for n in names}  # fmt: skip
        return diff[names[0]] if combine is None else combine(diff)

    return fn
