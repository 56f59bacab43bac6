"""From a recording to the arrays the estimators take: spike counts per trial, bin and neuron.

A recording is spike times (seconds, one array per unit) and trials, each with an alignment
time (trial start, stimulus onset, ...), a signal level and optionally a choice. Counts are taken
in a window relative to the alignment time, split into ``bins`` equal half-open bins
``[lo, hi)``:

- :func:`counts_from_spike_times`: the numpy core (``searchsorted``), no extra dependencies;
- :func:`counts_from_nwb`: an NWB file (the ``units`` and ``trials`` tables, read with pynwb,
  ``pip install 'bayescortex[nwb]'``) to an ``xarray.Dataset`` with ``counts``, ``signal`` and
  optionally ``choice``, ready for :func:`bayescortex.analysis.redundancy_summary`;
- :func:`counts_from_pynapple`: a pynapple ``TsGroup`` and ``IntervalSet`` to a counts
  DataArray (duck-typed: pynapple is not imported here).

Example::

    ds = counts_from_nwb("session.nwb", signal_column="coherence", window=(0.05, 0.55))
    summary = redundancy_summary(ds.counts.isel(time=0), ds.signal, subset_size=32,
                                 n_subsets=1000, key=jax.random.key(0))
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr
from jaxtyping import Float, Int

from .recording import ArrayInput

NWB_INSTALL_HINT = "pip install 'bayescortex[nwb]'"


def bin_edges(
    window: Sequence[numbers.Real], bins: numbers.Real = 1
) -> Float[np.ndarray, " bins_plus_1"]:
    """Edges (seconds, relative to the alignment time) of ``bins`` equal bins of ``window``.

    Raises:
        ValueError: naming ``window`` (not two finite numbers with stop > start) or ``bins``
            (not a positive integer).

    >>> bin_edges((0.0, 0.5), 2).tolist()
    [0.0, 0.25, 0.5]
    """
    try:
        start, stop = (float(w) for w in window)
    except (TypeError, ValueError) as err:
        raise ValueError(f"window: expected (start, stop) in seconds, got {window!r}") from err
    if not (np.isfinite(start) and np.isfinite(stop)):
        raise ValueError(f"window: start and stop must be finite, got {window!r}")
    if not stop > start:
        raise ValueError(f"window: stop must be after start, got (start, stop) = {window!r}")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins: expected a positive integer, got {bins!r}")
    return np.linspace(start, stop, int(bins) + 1)


def bin_centres(
    window: Sequence[numbers.Real], bins: numbers.Real = 1
) -> Float[np.ndarray, " bins"]:
    """Centres (seconds, relative to the alignment time) of the bins of :func:`bin_edges`.

    >>> bin_centres((0.0, 0.5), 2).tolist()
    [0.125, 0.375]
    """
    edges = bin_edges(window, bins)
    return (edges[:-1] + edges[1:]) / 2


def counts_from_spike_times(
    spike_times: Sequence[ArrayInput] | np.ndarray,
    trial_starts: ArrayInput,
    *,
    window: Sequence[numbers.Real],
    bins: numbers.Real = 1,
) -> Int[np.ndarray, "trials bins neurons"]:
    """Spike counts of every neuron in ``bins`` equal bins of ``window`` around each trial.

    Bin ``k`` of trial ``t`` is the half-open interval ``[a_t + e_k, a_t + e_{k+1})`` with
    ``a_t = trial_starts[t]`` and ``e = bin_edges(window, bins)``; windows of different trials
    may overlap (a spike is then counted in both).

    Args:
        spike_times: one array of spike times (seconds) per neuron, in any order.
        trial_starts: alignment time of every trial (seconds, same clock), shape ``(trial,)``.
        window: ``(start, stop)`` seconds relative to the alignment time, ``stop > start``.
        bins: number of equal time bins in the window (a positive integer).

    Returns:
        Integer counts, shape ``(trial, bins, neuron)``.

    Raises:
        ValueError: naming ``window``, ``bins``, ``trial_starts`` (not 1-d, NaN) or
            ``spike_times`` (not 1-d, NaN).

    >>> counts_from_spike_times([np.array([0.1, 0.3, 1.2]), np.array([1.45])],
    ...                         np.array([0.0, 1.0]), window=(0.0, 0.5), bins=2)[:, :, 0].tolist()
    [[1, 1], [1, 0]]
    """
    edges = bin_edges(window, bins)
    starts = np.asarray(trial_starts, dtype=float)
    if starts.ndim != 1:
        raise ValueError(f"trial_starts: expected one time per trial, got shape {starts.shape}")
    if not np.all(np.isfinite(starts)):
        bad = np.flatnonzero(~np.isfinite(starts))
        raise ValueError(
            f"trial_starts: {bad.size} NaN/inf alignment times (trial indices {bad[:10].tolist()})"
        )
    if isinstance(spike_times, np.ndarray) and spike_times.ndim == 1 and spike_times.size:
        if np.issubdtype(spike_times.dtype, np.number):
            raise ValueError(
                "spike_times: expected a list with one array per neuron, got one flat array "
                "(wrap it in a list for a single neuron)"
            )
    absolute = starts[:, None] + edges[None, :]  # (trial, bins + 1)
    out = np.empty((starts.size, len(edges) - 1, len(spike_times)), dtype=np.int64)
    for i, times in enumerate(spike_times):
        st = np.asarray(times, dtype=float)
        if st.ndim != 1:
            raise ValueError(f"spike_times[{i}]: expected a 1-d array, got shape {st.shape}")
        if np.isnan(st).any():
            raise ValueError(f"spike_times[{i}]: contains NaN spike times")
        st = np.sort(st)
        out[:, :, i] = np.diff(np.searchsorted(st, absolute, side="left"), axis=1)
    return out


def counts_from_nwb(
    path_or_nwbfile: str | os.PathLike | object,
    *,
    signal_column: str,
    window: Sequence[numbers.Real],
    bins: numbers.Real = 1,
    align: str = "start_time",
    choice_column: str | None = None,
    units: ArrayInput | None = None,
    trials: ArrayInput | None = None,
) -> xr.Dataset:
    """Spike counts, signal and choices of an NWB recording, ready for the estimators.

    Reads ``nwbfile.units`` (``spike_times`` of every unit) and ``nwbfile.trials`` (the
    alignment column, the signal column and optionally a choice column) and counts every unit's
    spikes in ``bins`` equal bins of ``window`` seconds around each trial's ``align`` time
    (half-open bins, see :func:`counts_from_spike_times`).

    Args:
        path_or_nwbfile: path of an ``.nwb`` (HDF5) file, or an open ``pynwb.NWBFile``.
        signal_column: trials column with the signed signal level (0 on zero-signal trials).
        window: ``(start, stop)`` seconds relative to ``align``, e.g. ``(0.05, 0.55)``.
        bins: equal time bins in the window (1 for one count per trial).
        align: trials column with the alignment time in seconds (``start_time``, or e.g. a
            stimulus-onset column).
        choice_column: trials column with the 0/1 (or bool) choice; None for no choices.
        units: unit ids (the units table's ``id``) to keep, in this order; None for all.
        trials: trial ids (the trials table's ``id``) to keep, in this order; None for all.
            Use it to drop aborted trials whose signal or choice is missing.

    Returns:
        A Dataset with ``counts`` (``trial, time, neuron``, integers), ``signal`` (``trial``)
        and, with ``choice_column``, ``choice`` (``trial``, 0/1); coordinates ``trial`` (trial
        ids), ``time`` (bin centres, seconds relative to ``align``), ``time_start`` and
        ``time_stop`` (bin edges) and ``neuron`` (unit ids). Attributes record the source and
        the settings. With ``bins=1`` use ``ds.counts.isel(time=0)`` for ``(trial, neuron)``.

    Raises:
        ImportError: pynwb is not installed (and a path was given); ``name="pynwb"``.
        FileNotFoundError: no file at the path.
        ValueError: naming the missing or bad thing: a file that is not NWB (not HDF5, or
            without the ``nwb_version`` attribute), no trials or units table, a missing
            column (listing the available ones), unknown unit or trial ids, a bad window or
            bins, NaN signal or alignment times, choices other than 0/1.

    Example:
        >>> ds = counts_from_nwb("session.nwb", signal_column="signal", window=(0.0, 0.5),
        ...                      choice_column="choice")  # doctest: +SKIP
        >>> ds.counts.dims  # doctest: +SKIP
        ('trial', 'time', 'neuron')
    """
    edges = bin_edges(window, bins)
    if isinstance(path_or_nwbfile, str | os.PathLike):
        try:
            from pynwb import NWBHDF5IO
        except ImportError as err:
            raise ImportError(
                f"counts_from_nwb needs pynwb to read NWB files: {NWB_INSTALL_HINT}", name="pynwb"
            ) from err
        _check_nwb_file(os.fspath(path_or_nwbfile))
        with NWBHDF5IO(os.fspath(path_or_nwbfile), "r") as io:
            recording = _read_nwb(io.read(), signal_column, align, choice_column, units, trials)
        source = os.fspath(path_or_nwbfile)
    else:
        recording = _read_nwb(path_or_nwbfile, signal_column, align, choice_column, units, trials)
        source = str(getattr(path_or_nwbfile, "identifier", "NWBFile"))
    spike_times, unit_ids, trial_ids, align_times, signal, choice = recording
    counts = counts_from_spike_times(spike_times, align_times, window=window, bins=bins)
    data_vars = {
        "counts": (
            ("trial", "time", "neuron"),
            counts,
            {"description": "spike count per bin", "units": "spikes"},
        ),
        "signal": ("trial", signal, {"description": f"trials column {signal_column!r}"}),
    }
    if choice is not None:
        data_vars["choice"] = ("trial", choice, {"description": f"trials column {choice_column!r}"})
    coords = {
        "trial": ("trial", trial_ids),
        "neuron": ("neuron", unit_ids),
        "time": ("time", (edges[:-1] + edges[1:]) / 2, {"units": "s", "align": align}),
        "time_start": ("time", edges[:-1], {"units": "s"}),
        "time_stop": ("time", edges[1:], {"units": "s"}),
    }
    attrs = {
        "source": source,
        "signal_column": signal_column,
        "align": align,
        "window": [float(edges[0]), float(edges[-1])],
        "bins": int(bins),
        "description": "spike counts of NWB units per trial and bin "
        "(bayescortex.analysis.io.counts_from_nwb)",
    }
    if choice_column is not None:
        attrs["choice_column"] = choice_column
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _check_nwb_file(path: str) -> None:
    # pynwb answers a plain HDF5 file with a TypeError and a non-HDF5 one with h5py's OSError,
    # neither naming the file.
    import h5py

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an NWB file (not an HDF5 file)")
    with h5py.File(path, "r") as f:
        if "nwb_version" not in f.attrs:
            raise ValueError(
                f"{path} is not an NWB file (an HDF5 file without the 'nwb_version' attribute)"
            )


def _column(table, name: str, argument: str) -> np.ndarray:
    """A trials column as numpy, or a ValueError naming ``argument`` and the columns there are."""
    if name not in table.colnames:
        raise ValueError(
            f"{argument}: no column {name!r} in the trials table; available columns: "
            f"{list(table.colnames)}"
        )
    column = table[name]
    if getattr(column, "target", None) is not None:  # a VectorIndex
        raise ValueError(f"{argument}: column {name!r} is ragged (several values per trial)")
    return np.asarray(column.data[:])


def _numeric(values: np.ndarray, argument: str, name: str, trial_ids: np.ndarray) -> np.ndarray:
    """``values`` as float, or a ValueError for non-numbers and NaN naming the trial ids."""
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise ValueError(
            f"{argument}: column {name!r} must hold numbers, got dtype {values.dtype} "
            f"(e.g. {values[:3].tolist()})"
        )
    values = values.astype(float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{argument}: column {name!r} has {int(bad.sum())} NaN/inf values (trial ids "
            f"{trial_ids[bad][:10].tolist()}{' ...' if bad.sum() > 10 else ''}); keep only "
            "the trials with a value with trials=[...]"
        )
    return values


def _select(ids: np.ndarray, wanted: ArrayInput | None, argument: str, table: str):
    """Row indices of ``wanted`` ids (all rows for None), or a ValueError naming unknown ids."""
    if wanted is None:
        return np.arange(ids.size)
    wanted = np.asarray(wanted)
    if wanted.ndim != 1 or wanted.size == 0:
        raise ValueError(f"{argument}: expected a non-empty list of {table} ids, got {wanted!r}")
    row_of = {int(i): r for r, i in enumerate(ids)}
    unknown = [int(i) for i in wanted if int(i) not in row_of]
    if unknown:
        raise ValueError(
            f"{argument}: unknown {table} ids {unknown[:10]} (the {table} table has ids "
            f"{int(ids.min())}..{int(ids.max())}, {ids.size} rows)"
        )
    return np.array([row_of[int(i)] for i in wanted], dtype=np.int64)


def _read_nwb(nwbfile, signal_column, align, choice_column, units, trials):
    """Spike times, ids, alignment times, signal and choices from an open NWBFile."""
    table = getattr(nwbfile, "trials", None)
    if table is None:
        raise ValueError(
            "trials: the NWB file has no trials table (nwbfile.trials is None); the signal "
            "and alignment times are read from it"
        )
    unit_table = getattr(nwbfile, "units", None)
    if unit_table is None or len(unit_table) == 0:
        raise ValueError(
            "units: the NWB file has no units (nwbfile.units is empty or None); spike-sorted "
            "units with spike_times are needed"
        )
    if "spike_times" not in unit_table.colnames:
        raise ValueError(
            f"units: the units table has no 'spike_times' column; available columns: "
            f"{list(unit_table.colnames)}"
        )
    all_trial_ids = np.asarray(table.id[:])
    rows = _select(all_trial_ids, trials, "trials", "trial")
    trial_ids = all_trial_ids[rows]
    align_times = _numeric(_column(table, align, "align")[rows], "align", align, trial_ids)
    signal = _numeric(
        _column(table, signal_column, "signal_column")[rows], "signal_column", signal_column,
        trial_ids,
    )  # fmt: skip
    choice = None
    if choice_column is not None:
        raw = _column(table, choice_column, "choice_column")[rows]
        values = _numeric(raw, "choice_column", choice_column, trial_ids)
        if not np.all((values == 0) | (values == 1)):
            raise ValueError(
                f"choice_column: column {choice_column!r} must hold 0/1 (or bool) choices, got "
                f"values {np.unique(values)[:10].tolist()}; recode it, or keep only the trials "
                "with a binary choice with trials=[...]"
            )
        choice = values.astype(np.int32)

    all_unit_ids = np.asarray(unit_table.id[:])
    unit_rows = _select(all_unit_ids, units, "units", "unit")
    index = unit_table["spike_times"]  # a VectorIndex: end offsets into the flat spike times
    ends = np.asarray(index.data[:], dtype=np.int64)
    flat = index.target.data
    spike_times = [
        np.asarray(flat[(ends[r - 1] if r > 0 else 0) : ends[r]], dtype=float) for r in unit_rows
    ]
    return spike_times, all_unit_ids[unit_rows], trial_ids, align_times, signal, choice


def counts_from_pynapple(
    tsgroup,
    epochs,
    *,
    window: Sequence[numbers.Real],
    bins: numbers.Real = 1,
) -> xr.DataArray:
    """Spike counts of a pynapple ``TsGroup`` around the starts of an ``IntervalSet``.

    Every interval of ``epochs`` is one trial, aligned to its ``start``; counts are taken in
    ``bins`` equal half-open bins of ``window`` seconds relative to it (the interval's end is
    not used). pynapple objects are used through ``tsgroup.keys()``, ``tsgroup[k].t`` and
    ``epochs.start`` only, so pynapple is not imported here.

    Returns:
        A DataArray ``(trial, time, neuron)`` of integer counts with coordinates ``trial``
        (interval index), ``time`` (bin centres, seconds relative to the start) and ``neuron``
        (the TsGroup keys).

    Example:
        >>> counts = counts_from_pynapple(units, trials_intervalset,
        ...                               window=(0.0, 0.5))  # doctest: +SKIP
    """
    keys = list(tsgroup.keys())
    spike_times = [np.asarray(tsgroup[k].t, dtype=float) for k in keys]
    starts = np.asarray(epochs.start, dtype=float)
    counts = counts_from_spike_times(spike_times, starts, window=window, bins=bins)
    return xr.DataArray(
        counts,
        dims=("trial", "time", "neuron"),
        coords={
            "trial": np.arange(starts.size),
            "time": ("time", bin_centres(window, bins), {"units": "s"}),
            "neuron": np.asarray(keys),
        },
        name="counts",
    )
