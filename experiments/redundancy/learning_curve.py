"""The learning curve of a redundancy run: behaviour and the learned feedback, session by
session.

Per session (seed means, engaged trials): the accuracy over all signal contrasts, the accuracy
at the hardest (smallest) contrast, both signs pooled, with its binomial standard error over
the pooled trials; the psychometric slope ``beta`` and the threshold ``ln 3 / beta``, the
contrast at which an unbiased logistic observer is 75% correct; the trained task's category
kernel ``kappa_o`` (parametric feedback) and the task cue's prior on the trained task.

"Still learning after the first session" is judged on the hardest contrast: its accuracy in the
last session minus that in session 1, with a normal 95% interval from the two binomial
standard errors (:func:`late_gain`). A curve that has reached its plateau in session 1 has a
late gain whose interval includes 0.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

Z95 = 1.959964
"""The normal 97.5% quantile."""


def _trials_per_contrast(ds: xr.Dataset, given: int | None) -> int:
    if given is not None:
        return int(given)
    if "config" not in ds.attrs:
        raise ValueError(
            "trials_per_contrast: give it, or a dataset whose attrs hold the run's config "
            "(a saved run's results.nc)"
        )
    return int(json.loads(ds.attrs["config"])["record_trials"])


def learning_curve(
    ds: xr.Dataset, mode: str = "engaged", trials_per_contrast: int | None = None
) -> xr.Dataset:
    """Per session: ``accuracy``, ``hardest_accuracy`` and ``hardest_se``, ``slope``,
    ``threshold`` (``ln 3 / slope``; inf where the slope is not positive), and, where the run
    learned them, ``kappa_o`` and ``p_task_given_task`` of the trained task (seed means).
    ``trials_per_contrast`` (recorded trials per signed contrast, per seed) sets the binomial
    SE; by default it is read from the saved run's config."""
    by_contrast = ds.accuracy_by_contrast.sel(mode=mode)
    signal = by_contrast.contrast[by_contrast.contrast != 0]
    hardest = float(np.min(np.abs(signal)))
    pooled = by_contrast.sel(contrast=[hardest, -hardest]).mean(("seed", "contrast"))
    n = 2 * _trials_per_contrast(ds, trials_per_contrast) * ds.sizes["seed"]
    slope = ds.psychometric_slope_per_seed.sel(mode=mode).mean("seed")
    out = xr.Dataset(
        {
            "accuracy": ds.accuracy_per_seed.sel(mode=mode).mean("seed"),
            "hardest_accuracy": pooled,
            "hardest_se": np.sqrt(pooled * (1 - pooled) / n),
            "slope": slope,
            "threshold": xr.where(slope > 0, np.log(3.0) / slope.where(slope > 0), np.inf),
        },
        attrs={"hardest_contrast": hardest, "mode": mode},
    )
    task = ds.attrs.get("task", "cardinal")
    params = ds.parameters.mean("seed")
    learned = {"kappa_o": f"kappa_o_{task}", "p_task_given_task": f"p_{task}_given_task"}
    for name, key in learned.items():
        if key in params.parameter:
            out[name] = params.sel(parameter=key, drop=True)
    return out


def late_gain(curve: xr.Dataset) -> tuple[float, float, float]:
    """Hardest-contrast accuracy of the last session minus that of session 1, with a normal 95%
    interval from the binomial standard errors: ``(value, low, high)`` (NaN without session 1
    or with fewer than 2 learning sessions)."""
    sessions = curve.session.values
    if sessions.size < 3 or 1 not in sessions:
        return (np.nan, np.nan, np.nan)
    first, last = curve.sel(session=1), curve.sel(session=int(sessions[-1]))
    value = float(last.hardest_accuracy - first.hardest_accuracy)
    se = float(np.hypot(last.hardest_se, first.hardest_se))
    return value, value - Z95 * se, value + Z95 * se


def learning_curve_text(
    ds: xr.Dataset, mode: str = "engaged", trials_per_contrast: int | None = None
) -> str:
    """The learning curve as summary lines (arguments: :func:`learning_curve`)."""
    curve = learning_curve(ds, mode, trials_per_contrast)
    learned = [n for n in ("kappa_o", "p_task_given_task") if n in curve]
    head = f"  session  accuracy  acc(c={curve.attrs['hardest_contrast']:g})   slope  threshold"
    lines = [
        f"Learning curve ({mode} trials, seed means; threshold = ln 3 / slope, the contrast of "
        "75% correct; acc(c) pools +c and -c, +- its binomial SE):",
        head + "".join(f"  {n:>17}" for n in learned),
    ]
    for s in curve.session.values:
        row = curve.sel(session=s)
        line = (
            f"  {int(s):7d}  {float(row.accuracy):8.3f}  {float(row.hardest_accuracy):5.3f} "
            f"+- {float(row.hardest_se):5.3f}  {float(row.slope):6.3f}  "
            f"{float(row.threshold):9.2f}"
        )
        lines.append(line + "".join(f"  {float(row[n]):17.3f}" for n in learned))
    value, low, high = late_gain(curve)
    lines.append(
        f"  still learning after session 1 (hardest contrast, last minus session 1): "
        f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"
    )
    return "\n".join(lines)
