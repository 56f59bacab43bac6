"""Figures of the redundancy experiment: the paper's panels and the controls."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure


def _band(ax, ds, name, mode, label, color):
    x = ds.session.values
    p = ds[name].sel(mode=mode)
    ax.plot(x, p, "o-", color=color, label=label)
    ax.fill_between(
        x,
        ds[f"{name}_low"].sel(mode=mode),
        ds[f"{name}_high"].sel(mode=mode),
        color=color,
        alpha=0.2,
    )


def figures(ds: xr.Dataset) -> dict:
    """The paper's panels: redundancy, single-neuron and population information over
    sessions (engaged vs passive), within-trial redundancy early vs late, task-relevant vs
    irrelevant neurons, fraction of variance along f', accuracy, and the controls."""
    colors = {"engaged": "C3", "passive": "C0"}
    fig = Figure(figsize=(15, 12), layout="constrained")
    axes = fig.subplots(3, 3)
    panels = [
        ("redundancy", "redundancy I_shuffle - I"),
        ("information_shuffled", "single-neuron information (I_shuffle)"),
        ("information", "population information I"),
        ("percent_redundancy", "% redundancy"),
        ("fraction_along_fprime", "fraction of noise variance along f'"),
        ("accuracy", "accuracy (signal trials)"),
    ]
    for ax, (name, title) in zip(axes.flat, panels, strict=False):
        for mode in ds.mode.values:
            _band(ax, ds, name, mode, mode, colors.get(str(mode), "k"))
        ax.set(title=title, xlabel="session")
        ax.legend()
    ax = axes.flat[6]
    t = np.arange(1, ds.sizes["time"] + 1)
    for s, style in ((ds.session.values[0], "--"), (ds.session.values[-1], "-")):
        for mode in ds.mode.values:
            ax.plot(
                t,
                ds.redundancy_by_time.sel(session=s, mode=mode),
                style,
                color=colors.get(str(mode), "k"),
                label=f"{mode}, session {s}",
            )
    ax.set(title="within-trial redundancy", xlabel="time bin")
    ax.legend(fontsize=7)
    ax = axes.flat[7]
    for name, color in (("redundancy_relevant", "C3"), ("redundancy_irrelevant", "C7")):
        ax.plot(
            ds.session.values,
            ds[name].sel(mode="engaged"),
            "o-",
            color=color,
            label=name.split("_")[1],
        )
        ax.fill_between(
            ds.session.values,
            ds[f"{name}_low"].sel(mode="engaged"),
            ds[f"{name}_high"].sel(mode="engaged"),
            color=color,
            alpha=0.2,
        )
    ax.set(title="engaged: task-relevant vs irrelevant neurons", xlabel="session")
    ax.legend()
    ax = axes.flat[8]
    task = str(ds.attrs.get("task", ds.context.values[0]))
    for mode in ds.mode.values:
        post = ds.context_posterior.sel(mode=mode).isel(time=0)
        for context, style in ((task, "o-"), ("none", "s--")):
            ax.plot(
                ds.session.values, post.sel(context=context).mean("seed"), style,
                color=colors.get(str(mode), "k"), label=f"{mode}: p(K={context})",
            )  # fmt: skip
    ax.set(title="inferred context (first window)", xlabel="session", ylim=(0, 1))
    ax.legend(fontsize=7)
    out = {"redundancy": fig}

    names = [str(n) for n in ds.effect.values]
    labels = {
        "change_redundancy_engaged": "engaged",
        "change_redundancy_passive": "passive",
        "change_redundancy_window_engaged": "engaged, first window",
        "change_redundancy_window_passive": "passive, first window",
        "interaction_redundancy": "engaged - passive",
        "network_redundancy": "network",
    }
    labels |= {
        n: n.removeprefix("control_").removesuffix("_redundancy")
        for n in names
        if n.startswith("control_") and n.endswith("_redundancy") and "percent" not in n
    }
    controls = [n for n in labels if n in names]
    if controls:
        fig2 = Figure(figsize=(9, 4), layout="constrained")
        ax = fig2.subplots()
        rows = ds.sel(effect=controls)
        y = np.arange(len(controls))
        ax.errorbar(
            rows.effect_value,
            y,
            xerr=[rows.effect_value - rows.effect_low, rows.effect_high - rows.effect_value],
            fmt="o",
            color="k",
        )
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, [labels[c] for c in controls])
        ax.set(title="change in redundancy with learning (95% CI)", xlabel="delta I_red")
        out["controls"] = fig2
    return out
