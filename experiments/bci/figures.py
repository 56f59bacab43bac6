"""Figures of the BCI experiment: learning curves per variant, residual signs per group, and
sign recovery against the alignment of the learned feedback over sessions.

Bands and error bars are 95% bootstrap intervals over seeds (resampled like the report's)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayescortex.analysis import percentile_interval

from .report import _mean_defined, _pick, criteria

COLORS = {
    "vectorized": "#d62728", "vectorized_change": "#ff9896", "scalar": "#1f77b4",
    "scalar_nonlinear": "#17becf", "blocked": "#7f7f7f", "soma_dimmed": "#ff7f0e",
    "random_feedback": "#9467bd", "shuffled": "#8c564b",
}  # fmt: skip
"""One colour per learning rule."""
GROUPS = {"P+": "#2ca02c", "P-": "#9467bd"}


def _band(per_seed: np.ndarray, pick: np.ndarray):
    """Seed mean over the first axis and its centred 95% interval (per remaining entry)."""
    mean = per_seed.mean(axis=0)
    low, high = percentile_interval(per_seed[pick].mean(axis=1), 0.95, center=mean)
    return mean, np.asarray(low), np.asarray(high)


def learning_panel(ax, ds: xr.Dataset, pick: np.ndarray) -> None:
    """Hit rate over sessions per variant (and the larger-K comparison, dashed)."""
    s = ds.session.values
    for v in ds.variant.values:
        m, lo, hi = _band(ds.hit_rate.sel(variant=v).values, pick)
        c = COLORS.get(str(v), "k")
        ax.plot(s, m, "o-", color=c, label=str(v), ms=3)
        ax.fill_between(s, lo, hi, color=c, alpha=0.15, lw=0)
    if "compare_hit_rate" in ds:
        for v in ds.compare_variant.values:
            m = ds.compare_hit_rate.sel(compare_variant=v).mean("seed").values
            ax.plot(s, m, "--", color=COLORS.get(str(v), "k"),
                    label=f"{v}, K = {ds.attrs.get('compare_targets')}")  # fmt: skip
    ax.axhline(float(ds.hit_rate.sel(session=0).mean()), color="k", lw=0.6, ls=":")
    ax.set_xlabel("session (0 = baseline)")
    ax.set_ylabel("hit rate")
    ax.set_ylim(0, 1.02)
    ax.set_title("learning curves")
    ax.legend(fontsize=6, ncol=2)


def residual_panel(ax, ds: xr.Dataset, pick: np.ndarray) -> None:
    """Per variant, the mean event-locked contrast of P+ and P- neurons (linear fit, pooled
    over learning sessions)."""
    roles = ds.role.values
    x = ds.contrast.sel(fit="linear").sel(session=ds.session[ds.session >= 1])
    pooled = _mean_defined(x.transpose("variant", "seed", "target", "session").values)
    for j in range(ds.sizes["variant"]):
        for g, (role, c) in enumerate(GROUPS.items()):
            vals = pooled[j][:, roles == role].mean(axis=1)
            if not np.all(np.isfinite(vals)):
                continue
            m, lo, hi = _band(vals, pick)
            xpos = j + (g - 0.5) * 0.35
            ax.bar(xpos, m, 0.33, color=c, label=role if j == 0 else None)
            ax.errorbar(xpos, m, [[m - lo], [hi - m]], color="k", lw=0.8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(range(ds.sizes["variant"]), ds.variant.values, rotation=45, ha="right",
                  fontsize=7)  # fmt: skip
    ax.set_ylabel("residual change, error decrease − increase")
    ax.set_title("residual sign per group")
    ax.legend(fontsize=7)


def recovery_panel(ax, ds: xr.Dataset) -> None:
    """Vectorized: per session, the sign recovery from the contrast and corr(B~, B)."""
    if "vectorized" not in ds.variant.values:
        ax.set_axis_off()
        return
    d = ds.sel(variant="vectorized")
    signs = np.where(ds.role.values == "P+", 1, -1)
    ct = d.contrast.sel(fit="linear").values  # (seed, session, target)
    with np.errstate(invalid="ignore"):
        rec = np.where(np.all(np.isfinite(ct), axis=-1),
                       (np.sign(-ct) == signs).mean(axis=-1), np.nan)  # fmt: skip
    s = ds.session.values
    ax.plot(s, _mean_defined(rec.T), "o-", color=COLORS["vectorized"],
            label="sign(B_i) recovered (fraction)")  # fmt: skip
    ax.plot(s, d.feedback_alignment.mean("seed").values, "s--", color="k",
            label="corr(B~, B)")  # fmt: skip
    ax.axhline(0.5, color="k", lw=0.5, ls=":")
    ax.set_xlabel("session")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("vectorized: sign recovery vs feedback alignment")
    ax.legend(fontsize=7)


def criteria_panel(ax, ds: xr.Dataset) -> None:
    """The acceptance criteria as text (PASS/FAIL/n/a)."""
    ax.set_axis_off()
    lines = [f"[{'PASS' if ok else 'FAIL' if ok is not None else 'n/a'}] {text}"
             for text, ok in criteria(ds)]  # fmt: skip
    ax.text(0, 1, "\n".join(lines), va="top", fontsize=5.5, family="monospace", wrap=True)


def figures(ds: xr.Dataset) -> dict[str, Figure]:
    """The run's figure ``bci``: learning curves, residual signs per group, sign recovery vs
    corr(B~, B) over sessions, and the criteria."""
    pick = _pick(0, 400, ds.sizes["seed"])
    fig = Figure(figsize=(13, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    learning_panel(axes[0, 0], ds, pick)
    residual_panel(axes[0, 1], ds, pick)
    recovery_panel(axes[1, 0], ds)
    criteria_panel(axes[1, 1], ds)
    return {"bci": fig}
