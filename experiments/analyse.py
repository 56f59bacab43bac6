"""``bayescortex analyse``: the redundancy summary of a recorded NWB file.

Reads spike counts per trial (and optionally per time bin) from the file's ``units`` and
``trials`` tables with :func:`bayescortex.analysis.io.counts_from_nwb`, then estimates the
bias-corrected linear Fisher information ``I``, the shuffled information ``I_shuffle``, the
redundancy ``I_red = I_shuffle - I`` and percent redundancy with
:func:`bayescortex.analysis.redundancy_summary`: per coherence and combined over coherences,
as the median over random equal-size neuron subsets, with bootstrap confidence intervals over
trials (resampled within signal levels). The run folder (``save_run``) holds the Dataset, the
config, the versions and ``summary.txt``.
"""

from __future__ import annotations

import dataclasses

import jax
import xarray as xr

from bayescortex.analysis import bin_edges, counts_from_nwb, redundancy_summary
from bayescortex.analysis.io import NWB_INSTALL_HINT

from .results import RunOptions, check_fields


@dataclasses.dataclass(frozen=True)
class AnalyseConfig(RunOptions):
    """Redundancy of a recording: I, I_shuffle, I_red and % redundancy from an NWB file."""

    path: str
    """NWB file with a units table (spike_times) and a trials table."""
    signal_column: str
    """Trials column with the signed signal level per trial (0 on zero-signal trials)."""
    window: tuple[float, float]
    """Counting window (start, stop) in seconds relative to the align column."""
    align: str = "start_time"
    """Trials column with the time (s) the window is relative to, e.g. a stimulus onset."""
    bins: int = 1
    """Equal time bins in the window (more than 1 for the within-trial analysis)."""
    choice_column: str | None = None
    """Trials column with the 0/1 choice; adds choice probabilities (None: no choices)."""
    subset_size: int | None = 32
    """Units per random subset (population-size control); None uses all units at once."""
    subsets: int = 1000
    """Random unit subsets; the estimates are medians over them."""
    bootstrap: int = 200
    """Bootstrap resamples of trials for 95% confidence intervals (0 for none)."""

    def __post_init__(self):
        bin_edges(self.window, self.bins)  # ValueError naming window or bins
        check_fields(self, positive=("subsets",), non_negative=("bootstrap",))
        if self.subset_size is not None and not self.subset_size > 0:
            raise ValueError(f"subset_size: must be positive or None, got {self.subset_size}")
        self.check_run()


def run(config: AnalyseConfig) -> xr.Dataset:
    """Read ``config.path`` and return its :func:`redundancy_summary` Dataset.

    With ``bins == 1`` the counts are ``(trial, neuron)`` and the combined estimates are
    scalars; with more bins every estimate has a ``time`` dim (bin centres, seconds relative
    to ``align``). Attributes add the source file and the reading settings.

    Raises:
        ValueError: from reading the file (missing tables or columns, bad values), a
            ``subset_size`` larger than the number of units, or from the estimators (too few
            zero-signal trials for the subset size, no ``+c``/``-c`` pair, ...).
    """
    recording = counts_from_nwb(
        config.path,
        signal_column=config.signal_column,
        window=config.window,
        bins=config.bins,
        align=config.align,
        choice_column=config.choice_column,
    )
    counts = recording.counts
    if config.bins == 1:
        counts = counts.isel(time=0, drop=True)
    n_units = recording.sizes["neuron"]
    if config.subset_size is not None and config.subset_size > n_units:
        raise ValueError(
            f"subset_size: {config.subset_size} is more than the {n_units} units in "
            f"{config.path}; use a smaller subset_size, or None for all units at once"
        )
    ds = redundancy_summary(
        counts,
        recording.signal,
        recording.get("choice"),
        subset_size=config.subset_size,
        n_subsets=config.subsets,
        key=jax.random.key(config.seed),
        n_bootstrap=config.bootstrap,
    )
    if config.bins > 1:
        ds = ds.assign_coords(
            time_start=("time", recording.time_start.values),
            time_stop=("time", recording.time_stop.values),
        )
    keep = ("source", "signal_column", "align", "window", "bins", "choice_column")
    return ds.assign_attrs(
        {k: v for k, v in recording.attrs.items() if k in keep},
        n_trials=recording.sizes["trial"],
        n_units=n_units,
    )


MEASURES = (
    ("I", "information"),
    ("I_shuffle", "information_shuffled"),
    ("I_red", "redundancy"),
    ("% redundancy", "percent_redundancy"),
)


def _measure_lines(ds: xr.Dataset, indent: str) -> list[str]:
    """One line per measure: the combined estimate and, when bootstrapped, its interval."""
    lines = []
    for label, name in MEASURES:
        value = float(ds[f"{name}_combined"])
        line = f"{indent}{label:14s}{value:12.4f}"
        if f"{name}_combined_ci" in ds:
            ci = ds[f"{name}_combined_ci"]
            line += f"  [{float(ci.sel(bound='low')):10.4f}, {float(ci.sel(bound='high')):10.4f}]"
        lines.append(line)
    return lines


def summary_text(config: AnalyseConfig, ds: xr.Dataset) -> str:
    """The combined estimates (with CIs when bootstrapped) as a short text."""
    a = ds.attrs
    subsets = (
        f"median over {a['n_subsets']} subsets of {a['subset_size']} units"
        if config.subset_size is not None
        else "all units at once"
    )
    coherences = ", ".join(f"{c:g}" for c in ds.coherence.values)
    lines = [
        f"Redundancy of {config.path}",
        f"signal {config.signal_column!r}, window [{config.window[0]:g}, {config.window[1]:g}] s "
        f"from {config.align!r}, {config.bins} bin(s)"
        + (f", choices {config.choice_column!r}" if config.choice_column else ""),
        f"{a['n_trials']} trials ({a['t0']} zero-signal), {a['n_units']} units, coherences "
        f"{coherences}; {subsets}",
    ]
    if a["n_bootstrap"]:
        lines.append(
            f"{100 * a['level']:g}% CIs: bootstrap over trials within signal levels "
            f"({a['n_bootstrap']} resamples)"
        )
    lines += ["", "Combined over coherences (inverse-variance weighted):"]
    if "time" in ds.dims:
        for t in ds.time.values:
            lines.append(f"  time bin centred at {t:g} s:")
            lines += _measure_lines(ds.sel(time=t), "    ")
    else:
        lines += _measure_lines(ds, "  ")
    if "choice_probability_preferred" in ds:
        cp = ds.choice_probability_preferred.mean("neuron")
        values = ", ".join(f"{float(v):.3f}" for v in cp.values.ravel())
        lines += ["", f"Mean choice probability (preferred choice, zero-signal trials): {values}"]
    return "\n".join(lines) + "\n"


def main(config: AnalyseConfig) -> None:
    """Run the analysis, write the run folder and print the summary.

    Without pynwb (the ``nwb`` extra) it exits with one line saying how to install it.
    """
    from .results import save_run

    try:
        ds = run(config)
    except ImportError as err:
        if err.name != "pynwb":
            raise
        # One line, no traceback: the command is usable once the extra is installed.
        raise SystemExit(
            f"bayescortex analyse: reading NWB files needs pynwb, which is not installed: "
            f"{NWB_INSTALL_HINT}"
        ) from None
    text = summary_text(config, ds)
    folder = save_run("analyse", config, ds, root=config.output, run_id=config.run_id, summary=text)
    print(text)
    print(f"written to {folder}")
