"""The redundancy experiment's effects with bootstrap intervals, and the statistics of its tests.

Every effect is an xarray expression evaluated on the seed-averaged measures and, identically,
on each of their bootstrap resamples (dimension ``resample``: trials resampled in the stream by
Poisson weights, then seeds drawn with replacement); its 95% interval is the centred percentile
interval of the resampled values (:func:`bayescortex.analysis.percentile_interval`).

The equivalence and non-inferiority tests (:func:`equivalent`, :func:`non_inferior`) read the
intervals of effects shifted by stated margins (:data:`PASSIVE_MARGIN`,
:data:`INFORMATION_MARGIN`) and may answer INCONCLUSIVE; :func:`equivalence_power` gives their
power at a run's size.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from bayescortex.analysis import percentile_interval

from ..criteria import INCONCLUSIVE
from ..experiment import assign_effects
from .measures import MEASURES
from .pipeline import RECORDED_MODES


def _split(ds: xr.Dataset, prefix: str, names) -> tuple[xr.Dataset, xr.Dataset]:
    point = xr.Dataset({n: ds[f"{prefix}{n}"] for n in names if f"{prefix}{n}" in ds})
    rep = xr.Dataset({n: ds[f"{prefix}{n}_resampled"] for n in names if f"{prefix}{n}" in ds})
    return point, rep


def effect(point: xr.Dataset, resampled: xr.Dataset, fn, correlation: bool = False):
    """Value of ``fn`` on the point estimates, and its centred 95% interval over resamples.

    ``correlation=True``: ``fn`` is a correlation, and the interval is centred on Fisher's
    ``z = arctanh(r)`` scale and mapped back, so it stays inside [-1, 1] (centring the
    resamples of ``r`` itself can push a bound past 1).

    ``(value, low, high)`` as floats where ``fn`` gives one number; where the Datasets carry
    further dimensions that ``fn`` keeps (a sweep's ``config``), arrays over them: every
    configuration's effect in one pass.

    >>> point, rep = xr.Dataset({"r": 0.9}), xr.Dataset({"r": ("resample", [0.5, 0.99, 0.999])})
    >>> value, low, high = effect(point, rep, lambda d: d.r, correlation=True)
    >>> value, -1 <= low <= high <= 1
    (0.9, True)
    """
    value = fn(point)
    dims = value.dims if isinstance(value, xr.DataArray) else ()
    value = np.asarray(value, float)
    samples = np.asarray(fn(resampled).transpose("resample", *dims)).reshape(-1, *value.shape)
    out = float if value.ndim == 0 else np.asarray
    if not correlation:
        low, high = percentile_interval(samples, 0.95, center=value)
        return out(value), out(low), out(high)
    z = lambda r: np.arctanh(np.clip(r, -1 + 1e-7, 1 - 1e-7))  # noqa: E731
    low, high = percentile_interval(z(samples), 0.95, center=z(value))
    return out(value), out(np.tanh(low)), out(np.tanh(high))


def effects(ds: xr.Dataset) -> dict[str, tuple]:
    """Every effect of the experiment: learning changes, interaction, within-trial slopes,
    relevant vs irrelevant neurons, and (when recorded) the controls and the network.

    ``{name: (value, low, high)}``: floats for one run's Dataset; arrays over ``config`` for a
    sweep's configurations stacked along a ``config`` dimension (:func:`effect`), computed in
    one pass."""
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
        # The peak session is chosen on the data (per configuration in a sweep).
        peak = point[measure].sel(mode=mode).argmax("session")
        return lambda d: (
            d[measure].sel(mode=mode, session=last) - d[measure].sel(mode=mode).isel(session=peak)
        )

    out = {}
    for mode in RECORDED_MODES:
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
    for mode in RECORDED_MODES:
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
    "information_shuffled_pooled", "redundancy_pooled", "fraction_along_fprime_zero",
    "fraction_along_fprime_within_choice", "choice_share_along_fprime",
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
    :data:`~bayescortex.experiments.criteria.INCONCLUSIVE` (the interval is wider than the
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
    the margin is shown), else :data:`~bayescortex.experiments.criteria.INCONCLUSIVE`."""
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
                point, rep, learning_correlation, correlation=True
            )
    if "kernel_late_minus_early" in point:
        # The kernel's shape is defined once choices follow the evidence: after learning.
        out["kernel_late_minus_early_last_engaged"] = effect(
            point, rep, lambda d: d.kernel_late_minus_early.sel(mode="engaged", session=last)
        )
    if "kernel_logistic_late_minus_early" in point:
        # The logistic kernel's shape: the confirmation-bias (primacy) signature, reported.
        out["kernel_logistic_late_minus_early_last_engaged"] = effect(
            point, rep,
            lambda d: d.kernel_logistic_late_minus_early.sel(mode="engaged", session=last),
        )  # fmt: skip
    if "choice_share_along_fprime" in point:
        # The share of the noise along f' that travels with the choice, after learning.
        out["choice_share_along_fprime_last_engaged"] = effect(
            point, rep, lambda d: d.choice_share_along_fprime.sel(mode="engaged", session=last)
        )
    if "redundancy_dprime_top" in point:
        for mode in RECORDED_MODES:
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
    ds = assign_effects(ds, effects(ds))
    for name in list(ds.data_vars):
        if f"{name}_resampled" in ds and "session" in ds[name].dims:
            rep = ds[f"{name}_resampled"]
            low, high = percentile_interval(
                np.asarray(rep.transpose("resample", ...)), 0.95, center=np.asarray(ds[name])
            )
            ds[f"{name}_low"] = (ds[name].dims, np.asarray(low))
            ds[f"{name}_high"] = (ds[name].dims, np.asarray(high))
    return ds
