"""The redundancy experiment's report: effects with bootstrap intervals, criteria, summary.

Every effect is an xarray expression evaluated on the seed-averaged measures and, identically,
on each of their bootstrap resamples (dimension ``resample``: trials resampled in the stream by
Poisson weights, then seeds drawn with replacement); its 95% interval is the centred percentile
interval of the resampled values (:func:`bayescortex.analysis.percentile_interval`).

The criteria are the paper's claims (:data:`CRITERIA`): most ask for an interval above 0; the
passive null and "population information not lower" are equivalence and non-inferiority
tests against stated margins (:data:`PASSIVE_MARGIN`, :data:`INFORMATION_MARGIN`) and may
answer INCONCLUSIVE. Checks that hold by construction (:data:`SANITY_CHECKS`) and the model's
predictions (:data:`PREDICTIONS`) are printed apart.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from bayescortex.analysis import percentile_interval

from ..compilation import CompileTime
from ..results import INCONCLUSIVE, evaluate_criteria, verdict_label
from .learning_curve import learning_curve_text
from .measures import MEASURES
from .pipeline import MODES
from .run import REFERENCE_SECONDS_PER_TRIAL


def _split(ds: xr.Dataset, prefix: str, names) -> tuple[xr.Dataset, xr.Dataset]:
    point = xr.Dataset({n: ds[f"{prefix}{n}"] for n in names if f"{prefix}{n}" in ds})
    rep = xr.Dataset({n: ds[f"{prefix}{n}_resampled"] for n in names if f"{prefix}{n}" in ds})
    return point, rep


def effect(point: xr.Dataset, resampled: xr.Dataset, fn) -> tuple[float, float, float]:
    """Value of ``fn`` on the point estimates, and its centred 95% interval over resamples."""
    value = float(fn(point))
    samples = np.asarray(fn(resampled).transpose("resample", ...)).reshape(-1)
    low, high = percentile_interval(samples, 0.95, center=value)
    return value, float(low), float(high)


def effects(ds: xr.Dataset) -> dict[str, tuple[float, float, float]]:
    """Every effect of the experiment: learning changes, interaction, within-trial slopes,
    relevant vs irrelevant neurons, and (when recorded) the controls and the network."""
    names = [
        v
        for v in ds.data_vars
        if f"{v}_resampled" in ds and not v.startswith(("control_", "network_"))
    ]
    point, rep = _split(ds, "", names)
    last = int(ds.session[-1])

    def change(mode, measure):
        return lambda d: (
            d[measure].sel(mode=mode, session=last) - d[measure].sel(mode=mode, session=0)
        )

    def window_change(mode, measure):
        # The first time bin (400 ms by default): the passive paradigm's short presentation,
        # and the same window of the engaged trial.
        return lambda d: change(mode, f"{measure}_by_time")(d).isel(time=0)

    def last_minus_peak(mode, measure):
        peak = int(point[measure].sel(mode=mode).argmax("session"))  # chosen on the data
        return lambda d: (
            d[measure].sel(mode=mode, session=last) - d[measure].sel(mode=mode, session=peak)
        )

    out = {}
    for mode in MODES:
        for measure in MEASURES + COMPANIONS:
            if measure in point:
                out[f"change_{measure}_{mode}"] = effect(point, rep, change(mode, measure))
        for measure in MEASURES:
            out[f"change_{measure}_window_{mode}"] = effect(
                point, rep, window_change(mode, measure)
            )
    for measure in ("accuracy", "information"):
        out[f"last_minus_peak_{measure}_engaged"] = effect(
            point, rep, last_minus_peak("engaged", measure)
        )
    out["final_accuracy_engaged"] = effect(
        point, rep, lambda d: d["accuracy"].sel(mode="engaged", session=last)
    )
    # The first-window contrast: under the authors' schedule a prediction, not the criterion.
    out["interaction_redundancy"] = effect(
        point,
        rep,
        lambda d: (
            window_change("engaged", "redundancy")(d) - window_change("passive", "redundancy")(d)
        ),
    )
    out |= _engagement_effects(point, rep, change, window_change, last)
    out["change_relevant_minus_irrelevant_engaged"] = effect(
        point, rep,
        lambda d: change("engaged", "redundancy_relevant")(d)
        - change("engaged", "redundancy_irrelevant")(d),
    )  # fmt: skip
    out |= _paper_effects(point, rep, last, change)
    for mode in MODES:
        for phase, session in (("early", 0), ("late", last)):
            out[f"within_trial_slope_{phase}_{mode}"] = effect(
                point, rep,
                lambda d, m=mode, s=session: d["within_trial_slope"].sel(mode=m, session=s),
            )  # fmt: skip
    compared = (
        "redundancy", "percent_redundancy", "information_shuffled", "information",
        "fraction_along_fprime",
    )  # fmt: skip
    if "control_redundancy" in ds:
        cpoint, crep = _split(ds, "control_", compared)
        for cond in ds.condition.values:
            for m in compared:
                out[f"control_{cond}_{m}"] = effect(
                    cpoint, crep,
                    lambda d, c=cond, m=m: d[m].sel(condition=c, phase="after")
                    - d[m].sel(condition=c, phase="before"),
                )  # fmt: skip
    if "network_redundancy" in ds:
        npoint, nrep = _split(ds, "network_", compared + ("accuracy",))
        for b in ds.baseline.values:
            for noise in ds.noise.values:
                for m in compared:
                    sel = dict(baseline=b, noise=noise)
                    out[f"network_{b}_{noise}_{m}"] = effect(
                        npoint, nrep,
                        lambda d, m=m, sel=sel: d[m].sel(session=last, **sel)
                        - d[m].sel(session=0, **sel),
                    )  # fmt: skip
                out[f"network_{b}_{noise}_percent_redundancy_last"] = effect(
                    npoint, nrep,
                    lambda d, b=b, n=noise: d.percent_redundancy.sel(
                        session=last, baseline=b, noise=n
                    ),
                )  # fmt: skip
    return out


COMPANIONS = (
    "fraction_along_fprime", "accuracy", "psychometric_slope", "choice_probability",
    "noise_correlation_same_minus_different", "kernel_mean", "information_pooled",
    "information_shuffled_pooled", "redundancy_pooled",
)  # fmt: skip
"""Per-session measures besides the redundancy family whose change with learning is reported."""


PASSIVE_MARGIN = 0.25
"""Equivalence margin of the passive null, as a fraction of the engaged change: the passive
presentation's change of I_red counts as no change if it lies within +-PASSIVE_MARGIN times
the mean engaged change over the within-trial bins (docs/measures.md says why)."""

INFORMATION_MARGIN = 0.25
"""Non-inferiority margin of "population information not lower", as a fraction of the naive
session's engaged I: learning may cost at most this fraction (docs/measures.md says why)."""

Z95 = 1.959963984540054  # the 97.5% standard normal quantile: a 95% interval's half-width in sd


def _engagement_effects(point, rep, change, window_change, last: int) -> dict:
    """The engagement contrast and the equivalence tests' statistics.

    - ``change_redundancy_bin<k>_<mode>``: the change of I_red in within-trial bin ``k``
      (1-based; bin 1 is the passive presentation's window), the time course;
    - ``change_<m>_bins_engaged``: the engaged change averaged over the bins (``m``: I_red and
      % redundancy);
    - ``engagement_contrast_<m>``: that mean minus the passive presentation's change (the
      first bin of the passive block, a presentation as long as one bin): the authors' contrast;
    - ``equivalence_passive_margin``: PASSIVE_MARGIN times the engaged mean change;
      ``equivalence_passive_lower`` / ``_upper``: the passive presentation's change plus / minus
      that margin, each evaluated per resample (the margin's uncertainty included);
    - ``noninferiority_information_margin``: INFORMATION_MARGIN times the naive engaged I;
      ``noninferiority_information``: the engaged change of I plus that margin.
    """
    out = {}
    if "redundancy_by_time" not in point:
        return out
    n_bins = point.sizes["time"]

    def bin_change(mode, b):
        return lambda d: change(mode, "redundancy_by_time")(d).isel(time=b)

    def bins_mean(measure):
        return lambda d: change("engaged", f"{measure}_by_time")(d).mean("time")

    def contrast(measure):
        return lambda d: bins_mean(measure)(d) - window_change("passive", measure)(d)

    for mode in ("engaged", "passive"):
        for b in range(n_bins):
            out[f"change_redundancy_bin{b + 1}_{mode}"] = effect(point, rep, bin_change(mode, b))
    for measure in ("redundancy", "percent_redundancy"):
        if f"{measure}_by_time" in point:
            out[f"change_{measure}_bins_engaged"] = effect(point, rep, bins_mean(measure))
            out[f"engagement_contrast_{measure}"] = effect(point, rep, contrast(measure))

    def margin(d):
        return PASSIVE_MARGIN * bins_mean("redundancy")(d)

    passive = window_change("passive", "redundancy")
    out["equivalence_passive_margin"] = effect(point, rep, margin)
    out["equivalence_passive_lower"] = effect(point, rep, lambda d: passive(d) + margin(d))
    out["equivalence_passive_upper"] = effect(point, rep, lambda d: passive(d) - margin(d))
    if "information" in point:

        def info_margin(d):
            return INFORMATION_MARGIN * d.information.sel(mode="engaged", session=0)

        out["noninferiority_information_margin"] = effect(point, rep, info_margin)
        out["noninferiority_information"] = effect(
            point, rep, lambda d: change("engaged", "information")(d) + info_margin(d)
        )
    return out


def equivalent(lower, upper):
    """Two one-sided tests (TOST) of ``-margin < x < margin`` from the 95% intervals of
    ``x + margin`` (``lower``) and ``x - margin`` (``upper``), each ``(value, low, high)``:
    True (equivalent: ``lower`` above 0 and ``upper`` below 0, each one-sided test at 2.5%),
    False (``x`` shown outside the margin: ``lower`` below 0 or ``upper`` above 0), else
    :data:`~bayescortex.experiments.results.INCONCLUSIVE` (the interval is wider than the
    margin allows).

    >>> equivalent((0.3, 0.1, 0.5), (-0.3, -0.5, -0.1))
    True
    >>> equivalent((0.3, -0.1, 0.7), (-0.3, -0.7, 0.1))
    INCONCLUSIVE
    """
    if lower[1] > 0 and upper[2] < 0:
        return True
    if lower[2] < 0 or upper[1] > 0:
        return False
    return INCONCLUSIVE


def non_inferior(shifted):
    """One-sided (non-inferiority) test of ``x > -margin`` from the 95% interval of
    ``x + margin`` (``shifted``): True if it lies above 0, False if below 0 (a fall larger than
    the margin is shown), else :data:`~bayescortex.experiments.results.INCONCLUSIVE`."""
    if shifted[1] > 0:
        return True
    if shifted[2] < 0:
        return False
    return INCONCLUSIVE


def equivalence_power(margin: float, low: float, high: float, sides: int = 2) -> float:
    """Power of the test at this run's size if the true value is 0: the standard error is
    read off the 95% interval of the tested value, ``se = (high - low) / (2 z)``, and the
    power is ``2 Phi(margin / se - z) - 1`` for two one-sided tests (``sides=2``) or
    ``Phi(margin / se - z)`` for one (z = 1.96: each side at 2.5%). 0 where the margin is not
    positive, NaN where the interval is not finite.

    >>> round(equivalence_power(0.1, -0.05, 0.05), 3), equivalence_power(-1.0, -0.1, 0.1)
    (0.95, 0.0)
    """
    se = (high - low) / (2 * Z95)
    if not (np.isfinite(se) and np.isfinite(margin)):
        return float("nan")
    if margin <= 0:
        return 0.0
    if se <= 0:
        return 1.0
    p = 0.5 * (1.0 + math.erf((margin / se - Z95) / math.sqrt(2.0)))  # Phi
    return max(2 * p - 1, 0.0) if sides == 2 else p


def learning_index(d: xr.Dataset, mode: str = "engaged") -> xr.DataArray:
    """Per session, the gain of the psychometric slope over the naive session's
    (:func:`bayescortex.analysis.psychometric.learning_index`, on seed means)."""
    slope = d.psychometric_slope.sel(mode=mode)
    return slope - slope.isel(session=0)


MIN_LEARNING_SESSIONS = 3
"""Learning sessions (1..S) the correlation with the learning index needs: with fewer it is
undefined (two points always correlate perfectly)."""


def learning_correlation(d: xr.Dataset, mode: str = "engaged") -> xr.DataArray:
    """Correlation of ``mode`` redundancy with the learning index over the learning sessions
    1..S only: with the naive session 0 in, one naive-to-trained jump carries it. NaN with
    fewer than :data:`MIN_LEARNING_SESSIONS` learning sessions."""
    learning = d.session > 0
    red, index = d.redundancy.sel(mode=mode), learning_index(d, mode)
    r = xr.corr(red.where(learning, drop=True), index.where(learning, drop=True), dim="session")
    return r if int(learning.sum()) >= MIN_LEARNING_SESSIONS else r * np.nan


def _paper_effects(point, rep, last: int, change) -> dict:
    """The paper's remaining analyses: learning index and its correlation with redundancy,
    d' groups, decision-aligned relevant vs irrelevant neurons, per coherence."""
    out = {}
    if "psychometric_slope" in point:
        out["learning_index_last_engaged"] = effect(
            point, rep, lambda d: learning_index(d).sel(session=last)
        )
        if int((point.session > 0).sum()) >= MIN_LEARNING_SESSIONS:  # else undefined: n/a
            out["correlation_redundancy_learning_index_engaged"] = effect(
                point, rep, learning_correlation
            )
    if "kernel_late_minus_early" in point:
        # The kernel's shape is defined once choices follow the evidence: after learning.
        out["kernel_late_minus_early_last_engaged"] = effect(
            point, rep, lambda d: d.kernel_late_minus_early.sel(mode="engaged", session=last)
        )
    if "redundancy_dprime_top" in point:
        for mode in MODES:
            out[f"change_dprime_top_minus_bottom_{mode}"] = effect(
                point, rep,
                lambda d, m=mode: change(m, "redundancy_dprime_top")(d)
                - change(m, "redundancy_dprime_bottom")(d),
            )  # fmt: skip
    if "redundancy_relevant_by_time" in point:

        def gap(time):
            return lambda d: (
                change("engaged", "redundancy_relevant_by_time")(d)
                - change("engaged", "redundancy_irrelevant_by_time")(d)
            ).isel(time=time)

        out["change_relevant_minus_irrelevant_onset_engaged"] = effect(point, rep, gap(0))
        out["change_relevant_minus_irrelevant_decision_engaged"] = effect(point, rep, gap(-1))
        out["decision_minus_onset_relevant_minus_irrelevant_engaged"] = effect(
            point, rep, lambda d: gap(-1)(d) - gap(0)(d)
        )
    if "redundancy_by_coherence" in point:
        for c in point.coherence.values:
            out[f"change_redundancy_c{c:g}_engaged"] = effect(
                point, rep, lambda d, c=c: change("engaged", "redundancy_by_coherence")(d).sel(
                    coherence=c
                ),
            )  # fmt: skip
    return out


def with_effects(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the effects (``effect_value``, ``effect_low``, ``effect_high`` over dim
    ``effect``) and 95% bands of every per-session measure (``<name>_low``, ``<name>_high``)."""
    found = effects(ds)
    values = np.array(list(found.values()))
    ds = ds.assign(
        effect_value=("effect", values[:, 0]),
        effect_low=("effect", values[:, 1]),
        effect_high=("effect", values[:, 2]),
    ).assign_coords(effect=list(found))
    for name in list(ds.data_vars):
        if f"{name}_resampled" in ds and "session" in ds[name].dims:
            rep = ds[f"{name}_resampled"]
            low, high = percentile_interval(
                np.asarray(rep.transpose("resample", ...)), 0.95, center=np.asarray(ds[name])
            )
            ds[f"{name}_low"] = (ds[name].dims, np.asarray(low))
            ds[f"{name}_high"] = (ds[name].dims, np.asarray(high))
    return ds


FROZEN_BAND = 25.0
"""Percent redundancy within which a feedforward code's frozen-noise redundancy counts as
"near zero": its covariance then holds only private noise and the learned internal noise."""


def _passive_equivalence(e):
    # The change and its margin are read first, so the summary figure shows them too.
    e("change_redundancy_window_passive"), e("equivalence_passive_margin")
    return equivalent(e("equivalence_passive_lower"), e("equivalence_passive_upper"))


def _information_non_inferiority(e):
    e("change_information_engaged"), e("noninferiority_information_margin")
    return non_inferior(e("noninferiority_information"))


CRITERIA = (
    (
        "engaged redundancy rises with learning (CI > 0)",
        lambda e: e("change_redundancy_engaged")[1] > 0,
    ),
    (
        "engaged single-neuron (shuffled) information rises (CI > 0)",
        lambda e: e("change_information_shuffled_engaged")[1] > 0,
    ),
    (
        "engagement: mean change of I_red over the engaged time bins (400 ms by default) minus "
        "the passive presentation's change (one bin long), positive (CI > 0)",
        lambda e: e("engagement_contrast_redundancy")[1] > 0,
    ),
    (
        f"passive presentation: redundancy unchanged, equivalent to 0 within +-"
        f"{PASSIVE_MARGIN:g} x the engaged bins' mean change (two one-sided tests, 95% CIs)",
        lambda e: _passive_equivalence(e),
    ),
    (
        "late in learning, engaged redundancy rises within the trial (slope CI > 0)",
        lambda e: e("within_trial_slope_late_engaged")[1] > 0,
    ),
    (
        f"population information not lower after learning: change of I above -"
        f"{INFORMATION_MARGIN:g} x the naive I (one-sided non-inferiority test, 95% CI)",
        lambda e: _information_non_inferiority(e),
    ),
    (
        "engaged accuracy after learning at least 0.8 (signal trials, seed mean)",
        lambda e: e("final_accuracy_engaged")[0] >= 0.8,
    ),
    (
        "no overshoot: last session's accuracy not significantly below its peak",
        lambda e: not e("last_minus_peak_accuracy_engaged")[2] < 0,
    ),
    (
        "no overshoot: last session's population information not significantly below its peak",
        lambda e: not e("last_minus_peak_information_engaged")[2] < 0,
    ),
    (
        "task-relevant neurons by passive d' (ranked on a held-out block) rise more than the "
        "least relevant (CI > 0)",
        lambda e: e("change_dprime_top_minus_bottom_engaged")[1] > 0,
    ),
    (
        "relevant-minus-irrelevant rise larger at decision time than at onset (CI > 0)",
        lambda e: e("decision_minus_onset_relevant_minus_irrelevant_engaged")[1] > 0,
    ),
    (
        "engaged redundancy correlates with the learning index over sessions 1..S (naive "
        f"session excluded; n/a with fewer than {MIN_LEARNING_SESSIONS} learning sessions) "
        "(CI > 0)",
        lambda e: e("correlation_redundancy_learning_index_engaged")[1] > 0,
    ),
    (
        "sampling model: frozen-noise (internally generated) redundancy rises (CI > 0)",
        lambda e: e("control_frozen_engaged_redundancy")[1] > 0,
    ),
    (
        f"discriminative baseline (lambda_TC = 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        lambda e: abs(e("network_discriminative_frozen_percent_redundancy_last")[0]) <= FROZEN_BAND,
    ),
    (
        f"efficient-coding baseline (lambda_TC > 0): frozen-noise % redundancy after training "
        f"within +-{FROZEN_BAND:g} of 0",
        lambda e: abs(e("network_efficient_frozen_percent_redundancy_last")[0]) <= FROZEN_BAND,
    ),
)
"""The paper's claims as acceptance criteria, ``(text, check)``: ``check(e)`` reads effects
as ``e(name) -> (value, low, high)`` and returns True, False or
:data:`~bayescortex.experiments.results.INCONCLUSIVE` (the equivalence tests)."""

SANITY_CHECKS = (
    (
        "before learning, no within-trial rise (slope CI not above 0): the naive kernel is 0, "
        "so the belief cannot reach the neurons",
        lambda e: not e("within_trial_slope_early_engaged")[1] > 0,
    ),
    (
        "efficient-coding baseline: redundancy does not rise with training (CI lower end <= 0): "
        "its loss penalises total correlation",
        lambda e: not e("network_efficient_fresh_redundancy")[1] > 0,
    ),
)
"""Checks that hold by construction of the model or the baselines: they check the machinery,
not the paper's claims, and are printed apart from :data:`CRITERIA`."""

PREDICTIONS = (
    (
        "interaction_redundancy",
        "engaged-minus-passive change of I_red in the first bin alone: under the authors' "
        "schedule (trial_layout reference) the bin holds the samples whose belief restarts "
        "from the prior (the first `presignal`), so the model predicts a contrast near 0 "
        "there, well below the contrast over the bins",
    ),
)
"""The model's falsifiable predictions under the authors' schedule, reported beside the
criteria (value and 95% CI), not judged: ``(effect, statement)``."""


def criteria(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each acceptance criterion (:data:`CRITERIA`, the paper's claims) and whether it holds
    (True, False or INCONCLUSIVE): None where its data were not run, and False (never a pass)
    where an effect or its interval is not finite."""
    return evaluate_criteria(ds, CRITERIA)


def sanity_checks(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each of :data:`SANITY_CHECKS` and whether it holds, as :func:`criteria`."""
    return evaluate_criteria(ds, SANITY_CHECKS)


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
    for mode in MODES:
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

    def show(effect):
        row = ds.sel(effect=effect)
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
    for name in ds.effect.values:
        row = ds.sel(effect=name)
        lines.append(
            f"  {name:46s} {float(row.effect_value):9.4f} "
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
