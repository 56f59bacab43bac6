"""Shared style of the redundancy figures: one colour and label per model, the units and
titles of the measures, and the small drawing helpers every figure uses.

One colour per model throughout (:data:`COLORS`); frozen noise is drawn dashed with hollow
markers in the colour of its model; the naive session in a lighter shade of the last one's.
Bands and error bars are centred 95% bootstrap intervals (``<name>_low``/``<name>_high``, or
from ``<name>_resampled`` as in :mod:`bayescortex.experiments.redundancy.effect_sizes`). Information
is linear Fisher information about the signed contrast (image units, pixel noise sd 1), hence
in contrast⁻².
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...criteria import INCONCLUSIVE

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
STATUS = {
    True: ("PASS", "#2ca02c"),
    False: ("FAIL", "#c62828"),
    INCONCLUSIVE: ("INCONCLUSIVE", "#e69500"),
    None: ("n/a", "#9e9e9e"),
}
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


def light(color, amount: float = 0.55):
    """``color`` mixed with white (the naive session's shade)."""
    return tuple(c + (1 - c) * amount for c in to_rgb(color))


def sessions(ax, label: str = "session (0 = naive)"):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)


def ylabel(ax, name: str):
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


def estimate(ds: xr.Dataset, names, fn):
    """``fn`` of the point estimates of ``names`` and its centred 95% interval over their
    resamples (NaN bounds where a resampled variable is missing); arrays."""
    point = fn(xr.Dataset({n: ds[n] for n in names}))
    if all(f"{n}_resampled" in ds for n in names):
        rep = fn(xr.Dataset({n: ds[f"{n}_resampled"] for n in names}))
        low, high = _interval(rep, point)
    else:
        low = high = np.full(point.shape, np.nan)
    return np.asarray(point, float), low, high


def band_of(ds: xr.Dataset, name: str, **sel):
    """``(y, (low, high))`` of a variable at ``sel``: its stored band, else from resamples."""
    y = ds[name].sel(**sel)
    if f"{name}_low" in ds and f"{name}_high" in ds:
        band = (ds[f"{name}_low"].sel(**sel), ds[f"{name}_high"].sel(**sel))
        return np.asarray(y, float), tuple(np.asarray(b, float) for b in band)
    if f"{name}_resampled" in ds:
        return np.asarray(y, float), _interval(ds[f"{name}_resampled"].sel(**sel), y)
    return np.asarray(y, float), None


def series(ax, x, y, band, color, label=None, *, frozen=False, marker="o", lw=1.5):
    ax.plot(
        x, y, "--" if frozen else "-", marker=marker, color=color, lw=lw, ms=4,
        mfc="white" if frozen else color, label=label,
    )  # fmt: skip
    if band is not None:
        ax.fill_between(x, band[0], band[1], color=color, alpha=0.1 if frozen else 0.2, lw=0)


def per_session(ax, ds, name, color, label=None, *, frozen=False, marker="o", **sel):
    y, band = band_of(ds, name, **sel)
    series(ax, ds.session.values, y, band, color, label, frozen=frozen, marker=marker)


def err(value, low, high):
    """Error bar lengths (never negative: a centred interval may miss its point)."""
    value, low, high = (np.atleast_1d(np.asarray(v, float)) for v in (value, low, high))
    return np.stack([np.maximum(value - low, 0), np.maximum(high - value, 0)])


def zero(ax, y: float = 0.0):
    ax.axhline(y, color="grey", lw=0.8, zorder=0)


def time_axis(ax, n: int):
    """Within-trial bins 1..n; the first starts at stimulus onset, the last ends at the
    decision."""
    labels = [str(i) for i in range(1, n + 1)]
    labels[0], labels[-1] = "onset", "decision"
    ax.set_xticks(np.arange(1, n + 1), labels)
    ax.set_xlabel("within-trial time bin")


def effect(ds: xr.Dataset, name: str):
    if "effect" not in ds.dims or name not in ds.effect.values:
        return None
    row = ds.sel(effect=name)
    return float(row.effect_value), float(row.effect_low), float(row.effect_high)


def fmt(v) -> str:
    return "n/a" if v is None else f"{v[0]:.3g} [{v[1]:.3g}, {v[2]:.3g}]"


def _effect_color(name: str):
    """An effect's model colour, and whether it is measured under frozen noise."""
    frozen = "frozen" in name
    for key in ("discriminative", "efficient"):
        if key in name:
            return COLORS[key], frozen
    if "interaction" in name or "engagement_contrast" in name:
        return "k", frozen
    if "coupling_only" in name or "no_accumulation" in name:
        return ABLATION, frozen
    return COLORS["passive" if "passive" in name else "engaged"], frozen


def forest(ax, ds, rows, xlabel: str, fontsize: float = 8):
    """Effects (value with 95% CI) as a forest plot with a zero line; rows ``(name, label)``
    present in ``ds.effect``. Returns the rows drawn."""
    rows = [(n, lab) for n, lab in rows if effect(ds, n) is not None]
    for i, (name, _) in enumerate(rows):
        v = effect(ds, name)
        color, frozen = _effect_color(name)
        if np.all(np.isfinite(v)):
            ax.errorbar(
                v[0], i, xerr=err(*v), fmt="o", color=color, mfc="white" if frozen else color,
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


def titles(fig: Figure, size: float = 10) -> Figure:
    """One title size for every panel of ``fig``."""
    for ax in fig.axes:
        ax.title.set_fontsize(size)
    return fig


def missing(ax, what: str):
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{what}\nnot recorded", ha="center", va="center", color=NEUTRAL)


def has(ds, *names) -> bool:
    return all(n in ds for n in names)


def first_last(ds):
    return ds.session.values[0], ds.session.values[-1]
