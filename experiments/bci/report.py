"""The BCI experiment's report: effects with 95% bootstrap-over-seeds intervals, the
acceptance criteria, and the summary text.

Every effect is the mean over seeds (animals) of a per-seed value, or a ratio of two such
means; its interval resamples the seeds with replacement (``bootstrap`` times) and takes the
centred percentile interval (:func:`bayescortex.analysis.percentile_interval`); a ratio takes
the plain percentile interval, undefined when the resampled denominator reaches 0. A per-seed
value that is NaN makes the effect NaN (never averaged away). The imaging measures of a
neuron are pooled over the learning sessions (sessions >= 1) as the mean of the sessions where
they are defined; how many recorded blocks were undefined is part of the summary.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from bayescortex.analysis import bci as analysis
from bayescortex.analysis import percentile_interval
from bayescortex.analysis.bci_residual_change import residual_change_prediction

from ..compilation import CompileTime
from ..criteria import effect_interval, verdict_label
from ..experiment import assign_effects
from .criteria import COMPARED_WITH, CRITERIA, RULES, _opposite, criteria, discrimination
from .run import FITS, LEARNED_MARGIN

SUFFIX = {"linear": "", "quadratic": "_quadratic", "with_others": "_with_others"}
"""Effect-name suffix of each residual fit."""


def _pick(seed: int, n_resamples: int, n_seeds: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0xBC1])
    return rng.integers(0, n_seeds, size=(n_resamples, n_seeds))


def _interval(value: float, samples: np.ndarray) -> tuple[float, float, float]:
    if not np.isfinite(value) or not np.all(np.isfinite(samples)):
        return float(value), float("nan"), float("nan")
    low, high = percentile_interval(samples, 0.95, center=value)
    return float(value), float(low), float(high)


def mean_effect(per_seed: np.ndarray, pick: np.ndarray) -> tuple[float, float, float]:
    """Seed mean of ``per_seed`` and its centred 95% bootstrap interval."""
    x = np.asarray(per_seed, float)
    if not np.all(np.isfinite(x)):
        return float("nan"), float("nan"), float("nan")
    return _interval(float(x.mean()), x[pick].mean(axis=1))


def ratio_effect(a: np.ndarray, b: np.ndarray, pick: np.ndarray) -> tuple[float, float, float]:
    """``mean(a) / mean(b)`` over seeds and its 95% bootstrap percentile interval; the interval
    is NaN (undefined, the ratio unbounded) when resampled ``mean(b)`` reaches 0 or changes
    sign."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or b.mean() == 0:
        return float("nan"), float("nan"), float("nan")
    value = float(a.mean() / b.mean())
    denominators = b[pick].mean(axis=1)
    if np.any(np.sign(denominators) != np.sign(b.mean())):
        return value, float("nan"), float("nan")
    low, high = np.quantile(a[pick].mean(axis=1) / denominators, [0.025, 0.975])
    return value, float(low), float(high)


def pooled(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Per-neuron imaging measure ``name`` pooled over the learning sessions (mean of the
    defined sessions; NaN where none is defined): dims (variant, seed, fit, target)."""
    x = ds[name].sel(session=ds.session[ds.session >= 1]).transpose(..., "session")
    return xr.DataArray(_mean_defined(x.values), dims=x.dims[:-1], coords={
        d: x[d] for d in x.dims[:-1]})  # fmt: skip


def per_seed_measures(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Per-seed values of every effect (arrays over seeds), named like the effects."""
    signs = np.where(ds.role.values == "P+", 1, -1)
    last = int(ds.session[-1])
    out: dict[str, np.ndarray] = {}
    coupling, contrast = pooled(ds, "coupling"), pooled(ds, "contrast")
    for v in ds.variant.values:
        d = ds.sel(variant=v)
        hr = d.hit_rate.values  # (seed, session)
        out[f"hit_rate_first_{v}"] = hr[:, 0]
        out[f"hit_rate_last_{v}"] = hr[:, -1]
        out[f"hit_rate_change_{v}"] = hr[:, -1] - hr[:, 0]
        out[f"learned_fraction_{v}"] = (hr[:, -1] - hr[:, 0] >= LEARNED_MARGIN).astype(float)
        out[f"learning_speed_{v}"] = analysis.learning_speed(hr)
        out[f"plus_rate_change_{v}"] = (d.plus_rate.sel(session=last) - d.plus_rate.sel(
            session=0)).values  # fmt: skip
        out[f"minus_rate_change_{v}"] = (d.minus_rate.sel(session=last) - d.minus_rate.sel(
            session=0)).values  # fmt: skip
        out[f"feedback_alignment_last_{v}"] = d.feedback_alignment.sel(session=last).values
        # The decoder projection B . r (P+ minus P- mean rate): the learning measure that
        # inflating every rate cannot meet.
        proj = (d.plus_rate - d.minus_rate).values  # (seed, session)
        out[f"projection_change_{v}"] = proj[:, -1] - proj[:, 0]
        out[f"projection_speed_{v}"] = analysis.learning_speed(proj)
        dec = d.decoding.sel(session=d.session[d.session >= 1]).values
        out[f"decoding_{v}"] = _mean_defined(dec)
        for fit, suffix in SUFFIX.items():
            cp = coupling.sel(variant=v, fit=fit).values  # (seed, target)
            ct = contrast.sel(variant=v, fit=fit).values
            sp, sm = _nan_groups(cp, signs, analysis.group_mean_sign)
            cp_plus, cp_minus = _nan_groups(ct, signs, analysis.group_means)
            out[f"residual_sign_plus_{v}{suffix}"] = sp
            out[f"residual_sign_minus_{v}{suffix}"] = sm
            out[f"contrast_plus_{v}{suffix}"] = cp_plus
            out[f"contrast_minus_{v}{suffix}"] = cp_minus
            out[f"contrast_sign_plus_{v}{suffix}"], out[f"contrast_sign_minus_{v}{suffix}"] = (
                _nan_groups(ct, signs, analysis.group_mean_sign)
            )
            # The vectorized residual tracks B_i x error, so it falls with the error in P+
            # neurons: the estimated sign of B_i is minus the sign of the contrast.
            out[f"sign_recovery_{v}{suffix}"] = _nan_rows(
                ct, lambda x: analysis.sign_recovery(-x, signs)
            )
            out[f"sign_recovery_coupling_{v}{suffix}"] = _nan_rows(
                cp, lambda x: analysis.sign_recovery(x, signs)
            )
            out[f"signed_energy_{v}{suffix}"] = _nan_rows(
                ct, lambda x: analysis.signed_mode_energy(x, signs)
            )
    return out


def change_prediction_measures(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Per seed: the mean over target neurons and over non-target neurons (the control
    population) of each neuron's correlation across sessions of its mean imaged residual with
    the change of its imaged activity to the next session
    (:func:`~bayescortex.analysis.bci_residual_change.residual_change_prediction`), and
    targets minus non-targets. Empty where the run has no non-target neurons or too few sessions."""
    out: dict[str, np.ndarray] = {}
    if "residual_mean" not in ds or ds.sizes["session"] < 3:
        return out
    k = int(ds.attrs.get("targets", ds.sizes["target"]))
    if ds.sizes["neuron"] <= k:
        return out
    for v in ds.variant.values:
        d = ds.sel(variant=v)
        x, a = d.residual_mean.values, d.imaged_rate.values  # (seed, session, neuron)
        ok = np.all(np.isfinite(x), axis=(1, 2)) & np.all(np.isfinite(a), axis=(1, 2))
        r = np.full((x.shape[0], x.shape[-1]), np.nan)
        if ok.any():
            r[ok] = residual_change_prediction(x[ok], a[ok])
        out[f"change_prediction_targets_{v}"] = r[:, :k].mean(axis=1)
        out[f"change_prediction_others_{v}"] = r[:, k:].mean(axis=1)
        out[f"change_prediction_advantage_{v}"] = r[:, :k].mean(axis=1) - r[:, k:].mean(axis=1)
    return out


def _mean_defined(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the finite values; NaN where none is finite."""
    finite = np.isfinite(x)
    total = np.where(finite, x, 0.0).sum(axis=-1)
    count = finite.sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _nan_rows(x: np.ndarray, fn) -> np.ndarray:
    """``fn`` per row (seed), NaN for rows with any NaN."""
    return np.array([fn(row) if np.all(np.isfinite(row)) else np.nan for row in x], float)


def _nan_groups(x: np.ndarray, signs: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
    pairs = [fn(row, signs) if np.all(np.isfinite(row)) else (np.nan, np.nan) for row in x]
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def effects(ds: xr.Dataset, *, bootstrap: int | None = None, seed: int | None = None):
    """Every effect of the run: ``{name: (value, low, high)}`` (95% bootstrap over seeds).

    Per variant ``v``: hit rate in the baseline and last session and its change, the fraction
    of seeds that learned (:data:`~.run.LEARNED_MARGIN`), learning speed (mean rise of the
    hit rate over the learning sessions), P+ and P- somatic rate changes, corr(B~, B) in the
    last session, outcome decoding; per residual fit (suffix ``""`` linear,
    ``_quadratic``, ``_with_others``): mean sign of the residual-error coupling per group,
    mean event-locked contrast and its mean sign per group, sign recovery from the contrast
    and from the coupling, and the signed-mode energy of the contrast. ``speed_ratio`` and
    ``speed_difference``: learning speed of vectorized over / minus scalar;
    ``speed_ratio_k<K>``, ``speed_difference_k<K>`` the same at ``K`` targets.
    """
    config = json.loads(ds.attrs["config"]) if "config" in ds.attrs else {}
    n_boot = bootstrap or config.get("bootstrap", 1000)
    pick = _pick(config.get("seed", 0) if seed is None else seed, n_boot, ds.sizes["seed"])
    values = per_seed_measures(ds)
    variants = list(ds.variant.values)
    for v in variants:  # paired comparisons (variants share their seeds' keys)
        for w in COMPARED_WITH:
            if w in variants and w != v:
                values[f"projection_advantage_{v}_over_{w}"] = (
                    values[f"projection_change_{v}"] - values[f"projection_change_{w}"]
                )
        # The contrast's group split with the polarity fixed: P- minus P+ (> 0 for B_i err).
        values[f"contrast_split_{v}"] = values[f"contrast_minus_{v}"] - values[f"contrast_plus_{v}"]
        if "scalar_perturbation" in variants and v != "scalar_perturbation":
            values[f"contrast_split_advantage_{v}"] = values[f"contrast_split_{v}"] - (
                values["contrast_minus_scalar_perturbation"]
                - values["contrast_plus_scalar_perturbation"]
            )
    values.update(change_prediction_measures(ds))
    out = {name: mean_effect(x, pick) for name, x in values.items()}
    if "vectorized" in variants and "scalar" in variants:
        out["speed_ratio"] = ratio_effect(
            values["learning_speed_vectorized"], values["learning_speed_scalar"], pick
        )
        out["speed_difference"] = mean_effect(
            values["learning_speed_vectorized"] - values["learning_speed_scalar"], pick
        )
    if "compare_hit_rate" in ds:
        h = ds.compare_hit_rate
        k = ds.attrs.get("compare_targets", 0)
        sv = analysis.learning_speed(h.sel(compare_variant="vectorized").values)
        ss = analysis.learning_speed(h.sel(compare_variant="scalar").values)
        out[f"learning_speed_vectorized_k{k}"] = mean_effect(sv, pick)
        out[f"learning_speed_scalar_k{k}"] = mean_effect(ss, pick)
        out[f"speed_ratio_k{k}"] = ratio_effect(sv, ss, pick)
        out[f"speed_difference_k{k}"] = mean_effect(sv - ss, pick)
    return out


def with_effects(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the effects (``effect_value``, ``effect_low``, ``effect_high`` over dim
    ``effect``)."""
    return assign_effects(ds, effects(ds))


def _fmt(ds, name: str, digits: int = 2) -> str:
    if name not in ds.effect.values:
        return "-"
    row = ds.sel(effect=name)
    v, lo, hi = float(row.effect_value), float(row.effect_low), float(row.effect_high)
    return f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def faking_text(ds: xr.Dataset) -> list[str]:
    """What the scalar-plus-nonlinear confound (b') does to the residual analysis."""
    if "scalar_nonlinear" not in ds.variant.values:
        return []
    lines = ["", "(b') scalar RPE plus a quadratic soma-to-dendrite term:"]
    for fit, suffix in SUFFIX.items():
        p = f"contrast_plus_scalar_nonlinear{suffix}"
        m = f"contrast_minus_scalar_nonlinear{suffix}"
        sp = f"residual_sign_plus_scalar_nonlinear{suffix}"
        sm = f"residual_sign_minus_scalar_nonlinear{suffix}"
        if p not in ds.effect.values:
            continue
        fakes = _opposite(effect_interval(ds, p), effect_interval(ds, m))
        fakes_sign = _opposite(effect_interval(ds, sp), effect_interval(ds, sm))
        lines.append(
            f"  {fit:12s} fit: contrast P+ {_fmt(ds, p, 3)}  P- {_fmt(ds, m, 3)}  "
            f"coupling sign P+ {_fmt(ds, sp)}  P- {_fmt(ds, sm)}  -> "
            f"{'FAKES' if fakes or fakes_sign else 'does not fake'} group-opposite residuals"
        )
    return lines


def summary_text(config, ds: xr.Dataset) -> str:
    """The run as text: per-variant learning and residual effects with 95% CIs over seeds,
    the speed ratios, (b'), the criteria and timings."""
    lines = [
        "Vectorized instructive signals in dendrites during BCI learning (Francioni et al. 2026)",
        f"{config.seeds} seeds, {config.sessions} learning sessions after a baseline, "
        f"{config.targets} targets of {config.neurons} neurons, {config.trials} trials per "
        f"session ({config.record_trials} imaged), threshold for a "
        f"{100 * config.baseline_hit_rate:g}% baseline hit rate",
        "",
        "Learning (seed means, 95% bootstrap CIs over seeds):",
        f"  {'variant':18s} {'hit rate session 0':>20s} {'hit rate last':>20s} "
        f"{'learned':>8s} {'decoder-projection change':>26s} {'P+ rate change':>22s} "
        f"{'P- rate change':>22s} {'corr(B~,B) last':>22s}",
    ]
    for v in ds.variant.values:
        lines.append(
            f"  {v:18s} {_fmt(ds, f'hit_rate_first_{v}'):>20s} "
            f"{_fmt(ds, f'hit_rate_last_{v}'):>20s} "
            f"{float(ds.sel(effect=f'learned_fraction_{v}').effect_value):8.2f} "
            f"{_fmt(ds, f'projection_change_{v}'):>26s} "
            f"{_fmt(ds, f'plus_rate_change_{v}'):>22s} {_fmt(ds, f'minus_rate_change_{v}'):>22s} "
            f"{_fmt(ds, f'feedback_alignment_last_{v}'):>22s}"
        )
    lines.append("  (decoder projection: P+ minus P- mean rate, last session minus baseline; "
                 "raising every rate does not move it)")  # fmt: skip
    if f"change_prediction_targets_{ds.variant.values[0]}" in ds.effect.values:
        lines += ["", "Residual predicts the neuron's own next change (per-neuron correlation "
                  "across sessions, mean):", f"  {'variant':18s} {'targets':>20s} "
                  f"{'non-targets':>20s} {'targets - non-targets':>24s}"]  # fmt: skip
        for v in ds.variant.values:
            lines.append(
                f"  {v:18s} {_fmt(ds, f'change_prediction_targets_{v}'):>20s} "
                f"{_fmt(ds, f'change_prediction_others_{v}'):>20s} "
                f"{_fmt(ds, f'change_prediction_advantage_{v}'):>24s}"
            )
    lines += [
        "",
        "Somato-dendritic residual (linear fit on the own soma), pooled over learning sessions:",
        f"  {'variant':18s} {'coupling sign P+':>20s} {'coupling sign P-':>20s} "
        f"{'contrast P+':>24s} {'contrast P-':>24s} {'sign recovery':>20s} "
        f"{'signed energy':>20s} {'decoding':>20s}",
    ]
    for v in ds.variant.values:
        lines.append(
            f"  {v:18s} {_fmt(ds, f'residual_sign_plus_{v}'):>20s} "
            f"{_fmt(ds, f'residual_sign_minus_{v}'):>20s} "
            f"{_fmt(ds, f'contrast_plus_{v}', 3):>24s} {_fmt(ds, f'contrast_minus_{v}', 3):>24s} "
            f"{_fmt(ds, f'sign_recovery_{v}'):>20s} {_fmt(ds, f'signed_energy_{v}'):>20s} "
            f"{_fmt(ds, f'decoding_{v}'):>20s}"
        )
    lines.append("  (contrast: event-locked residual change at error decreases minus increases; "
                 "sign recovery: sign(B_i) = -sign(contrast_i); decoding: balanced accuracy of "
                 "hit vs miss from pre-outcome residuals, chance 0.5)")  # fmt: skip
    undefined = {
        v: int(np.isnan(ds.contrast.sel(variant=v, fit="linear").values).any(axis=-1).sum())
        for v in ds.variant.values
    }
    blocks = ds.sizes["seed"] * ds.sizes["session"]
    lines.append(
        "  recorded blocks without a defined contrast (too few error changes), of "
        f"{blocks} per variant: " + ", ".join(f"{v} {n}" for v, n in undefined.items())
    )
    lines += faking_text(ds)
    lines += ["", "Learning speed (mean hit-rate rise over the learning sessions):"]
    for name in [n for n in ds.effect.values if str(n).startswith("speed_")]:
        op = "/" if str(name).startswith("speed_ratio") else "-"
        lines.append(f"  {name:24s} vectorized {op} scalar = {_fmt(ds, name)}")
    lines.append("  (equal eta and g_a; the rules' signals have different units, so the ratio is "
                 "not a rate-matched comparison (experiments/bci/tuning.py tunes each rule's "
                 "eta); a NaN interval: the ratio is unbounded)")  # fmt: skip
    for name in [n for n in ds.effect.values if str(n).startswith("learning_speed_")]:
        lines.append(f"  {name:32s} {_fmt(ds, name, 3)}")
    lines += ["", "Acceptance criteria:"]
    for text, ok in criteria(ds):
        lines.append(f"  [{verdict_label(ok)}] {text}")
    lines += ["", "Discrimination: each criterion on the nulls it must exclude (it should FAIL):"]
    for text, null, ok in discrimination(ds):
        verdict = "fails, as required" if ok is False else "HOLDS: does not discriminate"
        lines.append(f"  {null:20s} {verdict:30s} {text[:70]}")
    a = ds.attrs
    lines += [
        "",
        f"wall time: {a['simulation_seconds']:.1f} s simulating (of which compiling "
        f"{CompileTime.from_attrs(a['simulation_compile_seconds'], a).describe()}), "
        f"{a['analysis_seconds']:.1f} s analysing; "
        f"{a['trials_simulated']} model trials",
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "CRITERIA", "FITS", "RULES", "criteria", "discrimination", "effects", "summary_text",
    "with_effects",
]  # fmt: skip
