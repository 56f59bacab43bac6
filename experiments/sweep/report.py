"""The sweep's report: a summary table, a figure of the headline effects against the swept
fields, and the files of a sweep folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..checkpoint import atomic_write
from ..results import versions
from .run import STATUSES


def summary_text(ds: xr.Dataset, headline: tuple[str, ...]) -> str:
    """One line per configuration: the swept values, its status and the headline effects
    (value and 95% interval)."""
    names = json.loads(ds.attrs.get("swept", "[]"))
    lines = [f"sweep of {ds.sizes['config']} configurations over {', '.join(names) or '-'}"]
    counts = {s: int(np.sum(ds.status.values == s)) for s in STATUSES}
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    lines.append("")
    header = [*names, "status", *headline]
    rows = []
    for i in range(ds.sizes["config"]):
        row = [_show(ds[n].values[i]) for n in names] + [str(ds.status.values[i])]
        for h in headline:
            var = f"effect_{h}"
            if var in ds and np.isfinite(ds[var].values[i, 0]):
                v, lo, hi = ds[var].values[i]
                row.append(f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            else:
                row.append("-")
        rows.append(row)
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    bad = [(i, str(ds.message.values[i])) for i in range(ds.sizes["config"])
           if ds.status.values[i] != "ok"]  # fmt: skip
    if bad:
        lines += ["", "not ok (left out of every figure; nothing is averaged over them):"]
        lines += [f"  config {i}: {ds.status.values[i]}: {m}" for i, m in bad]
    return "\n".join(lines) + "\n"


def _show(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def figure(ds: xr.Dataset, headline: tuple[str, ...]):
    """Each headline effect (95% interval) against the first swept field; one line per value
    of the others. Only configurations with status ``ok``."""
    from matplotlib.figure import Figure

    names = json.loads(ds.attrs.get("swept", "[]"))
    shown = [h for h in headline if f"effect_{h}" in ds]
    fig = Figure(figsize=(4.2 * max(len(shown), 1), 3.4), layout="constrained")
    axes = fig.subplots(1, max(len(shown), 1), squeeze=False)[0]
    ok = ds.status.values == "ok"
    x_name = names[0] if names else None
    x = ds[x_name].values if x_name else np.zeros(ds.sizes["config"])
    numeric = x_name is not None and all(isinstance(v, (int, float, np.number)) for v in x)
    others = names[1:]
    labels = [", ".join(f"{n}={_show(ds[n].values[i])}" for n in others) for i in range(len(x))]
    positions = x.astype(float) if numeric else np.unique(x.astype(str), return_inverse=True)[1]
    for ax, h in zip(axes, shown, strict=False):
        v = ds[f"effect_{h}"].values
        for label in dict.fromkeys(labels):
            sel = np.flatnonzero(ok & (np.asarray(labels) == label))
            sel = sel[np.argsort(positions[sel])]
            if not sel.size:
                continue
            ax.errorbar(
                positions[sel], v[sel, 0], yerr=[v[sel, 0] - v[sel, 1], v[sel, 2] - v[sel, 0]],
                marker="o", capsize=3, label=label or None,
            )  # fmt: skip
        ax.axhline(0, color="#7f7f7f", lw=0.8)
        ax.set_title(h.replace("_", " "), fontsize=9)
        ax.set_xlabel(x_name or "configuration")
        if numeric and np.all(positions[ok] > 0) and np.ptp(np.log10(positions[ok])) > 1.5:
            ax.set_xscale("log")
        if not numeric and x_name:
            ticks = np.unique(x.astype(str))
            ax.set_xticks(np.arange(len(ticks)), ticks)
    if others:
        axes[0].legend(fontsize=7)
    n_bad = int(np.sum(~ok))
    if n_bad:
        fig.suptitle(f"{n_bad} configuration(s) not ok are not drawn (see summary.txt)")
    return fig


def save(folder: str | os.PathLike, ds: xr.Dataset, headline: tuple[str, ...], meta: dict) -> str:
    """Write the merged sweep to ``folder``: results.nc, config.json (the sweep's
    definition), versions.json, summary.txt and sweep.png/pdf (each file atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def atomic(name, write):
        atomic_write(folder / name, write)

    text = summary_text(ds, headline)
    atomic("results.nc", lambda p: ds.to_netcdf(p, engine="h5netcdf"))
    atomic("config.json", lambda p: p.write_text(json.dumps(meta, indent=2)))
    atomic("versions.json", lambda p: p.write_text(json.dumps(versions(), indent=2)))
    atomic("summary.txt", lambda p: p.write_text(text))
    fig = figure(ds, headline)
    for ext in ("png", "pdf"):
        atomic(f"sweep.{ext}", lambda p, e=ext: fig.savefig(p, format=e, dpi=120))
    return text
