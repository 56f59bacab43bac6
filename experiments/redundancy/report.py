"""The redundancy experiment's summary text: effects with 95% CIs, tables, criteria, timings.

The effects and their intervals are computed in :mod:`.effect_sizes`, the criteria judged in
:mod:`.acceptance`; this module formats them (:func:`summary_text`, the run folder's
``summary.txt``).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from bayescortex.analysis import percentile_interval

from ..compilation import CompileTime
from ..criteria import verdict_label
from .acceptance import PREDICTIONS, criteria, sanity_checks
from .effect_sizes import INFORMATION_MARGIN, PASSIVE_MARGIN, equivalence_power
from .learning_curve import learning_curve_text
from .measures import population_sizes
from .pipeline import RECORDED_MODES
from .run import REFERENCE_SECONDS_PER_TRIAL


def level(ds: xr.Dataset, name: str, **sel) -> tuple[float, float, float]:
    """A seed-mean measure at one point (``sel``) with its centred 95% bootstrap interval."""
    value = float(ds[name].sel(**sel))
    samples = np.asarray(ds[f"{name}_resampled"].sel(**sel)).reshape(-1)
    low, high = percentile_interval(samples, 0.95, center=value)
    return value, float(low), float(high)


NOISE_COLUMNS = (
    ("information", "I"), ("information_shuffled", "I_shuffle"), ("redundancy", "I_red"),
    ("percent_redundancy", "%red"), ("fraction_along_fprime", "var along f'"),
)  # fmt: skip


def _fmt(v: tuple[float, float, float], digits: int = 3) -> str:
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


SIZE_COLUMNS = (
    ("information_by_size", "I"), ("information_shuffled_by_size", "I_shuffle"),
    ("redundancy_by_size", "I_red"),
)  # fmt: skip


def _size_table(config, ds: xr.Dataset) -> list[str]:
    """I and I_shuffle against the population size, naive and last session: whether the added
    redundancy limits information (I saturating while I_shuffle grows with the neurons)."""
    if "information_by_size" not in ds:
        return []
    sizes = (
        [int(n) for n in ds["size"].values] if "size" in ds.coords
        else list(population_sizes(config.subset_size))
    )  # fmt: skip
    last = int(ds.session[-1])
    lines = [
        "",
        "Information against population size (whole trial, median over random subsets of each "
        "size; information-limiting noise: I saturates while I_shuffle keeps growing); 95% CIs:",
        "  mode     session  neurons  " + "  ".join(f"{c:>24s}" for _, c in SIZE_COLUMNS),
    ]
    for mode in RECORDED_MODES:
        for session in (0, last):
            for i, n in enumerate(sizes):
                cells = [
                    level(ds.isel(size=i), name, mode=mode, session=session)
                    for name, _ in SIZE_COLUMNS
                    if name in ds
                ]
                lines.append(
                    f"  {mode:8s} {session:7d}  {n:7d}  "
                    + "  ".join(f"{_fmt(c):>24s}" for c in cells)
                )
    return lines


def _noise_table(ds: xr.Dataset) -> list[str]:
    """Fresh vs frozen noise, naive and last session: inherited vs internal redundancy."""
    if "control_redundancy" not in ds or "frozen_engaged" not in ds.condition.values:
        return []
    last = int(ds.session[-1])
    lines = [
        "",
        "Fresh vs frozen noise (frozen: every trial of a level shows the same images, so the "
        "covariance holds only variability generated inside the model); 95% CIs:",
        "  mode     noise   session  " + "  ".join(f"{c:>24s}" for _, c in NOISE_COLUMNS),
    ]
    for mode in RECORDED_MODES:
        for noise in ("fresh", "frozen"):
            for phase, session in (("before", 0), ("after", last)):
                if noise == "fresh":
                    cells = [level(ds, n, mode=mode, session=session) for n, _ in NOISE_COLUMNS]
                else:
                    cells = [
                        level(ds, f"control_{n}", condition=f"frozen_{mode}", phase=phase)
                        for n, _ in NOISE_COLUMNS
                    ]
                lines.append(
                    f"  {mode:8s} {noise:7s} {session:7d}  "
                    + "  ".join(f"{_fmt(c, 1 if i == 3 else 3):>24s}" for i, c in enumerate(cells))
                )
    return lines


def _baseline_table(ds: xr.Dataset) -> list[str]:
    """The classic baselines per session: accuracy (matched to the model's), steps, and the
    redundancy family under fresh and frozen noise."""
    if "network_redundancy" not in ds:
        return []
    lines = [
        "",
        "Classic baselines (feedforward, trained to the sampling model's accuracy per session); "
        "95% CIs:",
        "  baseline        noise   session  accuracy  model acc  steps  "
        + "  ".join(f"{c:>24s}" for _, c in NOISE_COLUMNS),
    ]
    model_acc = ds.accuracy.sel(mode="engaged")
    for b in ds.baseline.values:
        for noise in ds.noise.values:
            for s in ds.session.values:
                sel = dict(baseline=b, noise=noise, session=s)
                cells = [level(ds, f"network_{n}", **sel) for n, _ in NOISE_COLUMNS]
                acc = float(ds.network_accuracy.sel(**sel))
                steps = float(ds.network_steps.sel(baseline=b, session=s).mean())
                lines.append(
                    f"  {b:15s} {noise:7s} {int(s):7d}  {acc:8.3f}  "
                    f"{float(model_acc.sel(session=s)):9.3f}  {steps:5.0f}  "
                    + "  ".join(f"{_fmt(c, 1 if i == 3 else 3):>24s}" for i, c in enumerate(cells))
                )
    return lines


def _apical_block(config, ds: xr.Dataset) -> list[str]:
    """The cross-experiment prediction, as measured: task-cued trials whose sensory neurons
    receive no top-down drive (the control block with the top-down path cut; for the neurons
    that is the apical gain g_a = 0 of ``--apical-block recording``, the same parameter as
    the BCI experiment's g_a) against the engaged change."""
    name = (
        "change_redundancy_passive" if config.passive == "cut"
        else "control_passive_cut_redundancy"
    )  # fmt: skip
    if name not in ds.effect.values or "change_redundancy_engaged" not in ds.effect.values:
        return []

    def show(key):
        row = ds.sel(effect=key)
        return (
            f"{float(row.effect_value):+.3f} "
            f"[{float(row.effect_low):+.3f}, {float(row.effect_high):+.3f}]"
        )

    return [
        "",
        "Apical block at recording (task cue, no top-down drive reaching the sensory neurons: "
        "their g_a = 0):",
        f"  redundancy change {show(name)} against {show('change_redundancy_engaged')} "
        "engaged. Blocked at recording the neurons cannot express the learned feedback "
        "(tested: their counts equal the naive model's bit for bit); blocked during learning "
        "(--apical-block learning) this model's feedback still learns, since it learns in the "
        "middle layer, which reads the neurons bottom-up, while `run bci`'s 'blocked' "
        "(g_a = 0 while learning) abolishes BCI learning",
    ]


def summary_text(config, ds: xr.Dataset) -> str:
    """The statistics as text: effects with 95% CIs, the criteria, timings."""
    lines = [
        "Redundancy with learning, engaged vs passive (Liu, Pletenev, Haefner & Snyder 2026)",
        f"task {config.task}, {config.seeds} seeds, {config.sessions} sessions, "
        f"{config.neurons} neurons, {config.record_trials} trials per contrast, "
        f"{config.subset_size}-neuron subsets",
        f"objective {config.objective}; passive viewing = {config.passive} "
        + (
            "(fixation cue, same sampler)"
            if config.passive == "fixation"
            else "(top-down path cut, alpha = 0)"
        ),
        "",
        "Changes from session 0 (naive) to the last session; bootstrap 95% CIs over seeds and "
        "trials:",
    ]
    width = max((len(str(n)) for n in ds.effect.values), default=0)
    for name in ds.effect.values:
        row = ds.sel(effect=name)
        lines.append(
            f"  {name:{width}s} {float(row.effect_value):9.4f} "
            f"[{float(row.effect_low):9.4f}, {float(row.effect_high):9.4f}]"
        )
    lines += [
        "",
        "Per session (seed mean):",
        "  session  mode     accuracy  I        I_shuffle  I_red    %red   I_red(win)"
        "  p(K=task)  p(K=none)",
    ]
    task = str(config.task)
    for s in ds.session.values:
        for m in ds.mode.values:
            p = ds.sel(session=s, mode=m)
            ctx = p.context_posterior.mean("seed").isel(time=0)
            lines.append(
                f"  {s:7d}  {m:8s} {float(p.accuracy):8.3f} {float(p.information):8.4f} "
                f"{float(p.information_shuffled):9.4f} {float(p.redundancy):8.4f} "
                f"{float(p.percent_redundancy):6.1f} "
                f"{float(p.redundancy_by_time.isel(time=0)):10.4f} "
                f"{float(ctx.sel(context=task)):10.3f} {float(ctx.sel(context='none')):10.3f}"
            )
    lines += [
        "  (I_red(win), p(K): the first time bin, the window of the passive presentation; "
        "p(K): mean posterior of the context)",
    ]
    if "accuracy_by_contrast" in ds and "parameters" in ds:
        lines += ["", learning_curve_text(ds, trials_per_contrast=config.record_trials)]
    lines += _size_table(config, ds)
    lines += _noise_table(ds) + _baseline_table(ds) + _apical_block(config, ds)
    if "parameters" in ds:
        last = ds.parameters.isel(session=-1).mean("seed")
        first = ds.parameters.isel(session=0).mean("seed")
        lines += ["", "Learned parameters (seed mean), session 0 -> last:"]
        lines += [
            f"  {p:20s} {float(first.sel(parameter=p)):8.4f} -> {float(last.sel(parameter=p)):8.4f}"
            for p in ds.parameter.values
        ]
    lines += _engagement_block(ds)
    lines += ["", "Acceptance criteria (the paper's claims):"]
    lines += [f"  [{verdict_label(ok)}] {text}" for text, ok in criteria(ds)]
    lines += [
        "",
        "Sanity checks (hold by construction of the model or the baselines; they check the "
        "machinery, not the paper's claims):",
    ]
    lines += [f"  [{verdict_label(ok)}] {text}" for text, ok in sanity_checks(ds)]
    a = ds.attrs
    per_trial = (a["simulation_seconds"] - a["simulation_compile_seconds"]) / a["trials_simulated"]
    lines += [
        "",
        f"wall time: {a['simulation_seconds']:.0f} s for training, recording and measures "
        f"(of which compiling "
        f"{CompileTime.from_attrs(a['simulation_compile_seconds'], a).describe()}), "
        f"report {a['analysis_seconds']:.1f} s{_where(a)}",
        f"{a['trials_simulated']} model trials (training and recording): "
        f"{1e3 * per_trial:.2f} ms per trial excluding compilation, "
        f"{REFERENCE_SECONDS_PER_TRIAL / per_trial:.0f}x the reference MATLAB "
        f"({REFERENCE_SECONDS_PER_TRIAL:g} s per trial)",
    ]
    return "\n".join(lines) + "\n"


def _engagement_block(ds: xr.Dataset) -> list[str]:
    """The engaged time course per bin, the engagement contrast and the first-window
    prediction, and the equivalence tests' margins and power at this run's size."""
    names = set(str(n) for n in ds.effect.values)
    if "engagement_contrast_redundancy" not in names:
        return []

    def get(name):
        row = ds.sel(effect=name)
        return float(row.effect_value), float(row.effect_low), float(row.effect_high)

    def show(name, digits=3):
        v = get(name)
        return f"{v[0]:+.{digits}f} [{v[1]:+.{digits}f}, {v[2]:+.{digits}f}]"

    n_bins = ds.sizes.get("time", 0)
    lines = [
        "",
        f"Engagement (I_red, change from session 0 to the last; {n_bins} within-trial bins, the "
        "first is the passive presentation's window; 95% CIs):",
    ]
    for mode in ("engaged", "passive"):
        cells = [show(f"change_redundancy_bin{b + 1}_{mode}") for b in range(n_bins)
                 if f"change_redundancy_bin{b + 1}_{mode}" in names]  # fmt: skip
        what = "engaged trial" if mode == "engaged" else "passive block (bin 1: the presentation)"
        lines.append(f"  {what}, by bin: " + "; ".join(cells))
    lines.append(f"  engaged, mean over the bins: {show('change_redundancy_bins_engaged')}")
    lines.append(
        f"  contrast, engaged bins minus the passive presentation: "
        f"{show('engagement_contrast_redundancy')}"
        + (
            f" ({show('engagement_contrast_percent_redundancy', 1)} points of % redundancy)"
            if "engagement_contrast_percent_redundancy" in names
            else ""
        )
    )
    for name, statement in PREDICTIONS:
        if name in names:
            lines.append(f"  prediction (reported, not judged): {statement}: {show(name)}")
    passive = get("change_redundancy_window_passive")
    margin = get("equivalence_passive_margin")[0]
    lines.append(
        f"  passive null: change {show('change_redundancy_window_passive')}, margin +-"
        f"{margin:.3f} ({PASSIVE_MARGIN:g} x the engaged bins' mean change); power of the two "
        f"one-sided tests at this size if the true change is 0: "
        f"{equivalence_power(margin, passive[1], passive[2]):.2f}"
    )
    if "noninferiority_information" in names:
        info = get("change_information_engaged")
        info_margin = get("noninferiority_information_margin")[0]
        lines.append(
            f"  population information: change {show('change_information_engaged')}, margin "
            f"-{info_margin:.3f} ({INFORMATION_MARGIN:g} x the naive engaged I); power of the "
            f"one-sided test at this size if the true change is 0: "
            f"{equivalence_power(info_margin, info[1], info[2], sides=1):.2f}"
        )
    return lines


def _where(attrs) -> str:
    """Where the programs ran, e.g. ``; cpu, recordings' conditions on 2 devices``."""
    if "placement" not in attrs:  # results written before the placement was recorded
        return ""
    p = json.loads(attrs["placement"])
    parts = [attrs.get("backend", "")]
    if p.get("devices", 1) > 1:
        parts.append(f"configurations on {p['devices']} devices")
    if p.get("conditions", 1) > 1:
        parts.append(f"recordings' conditions on {p['conditions']} devices")
    return "; " + ", ".join(x for x in parts if x)
