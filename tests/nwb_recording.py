"""A tiny planted recording written as an NWB file, shared by the io and analyse tests.

12 units whose Poisson rates depend on each trial's signal in the 0.5 s after stimulus onset,
plus a 4 Hz background over the whole session (so spikes fall outside the windows too); 120
trials at 1 s spacing (40 zero-signal, 20 at each of -0.2, -0.1, 0.1, 0.2) with the columns
``start_time``, ``stop_time``, ``stim_on`` (start + 0.1 s), ``signal`` and ``choice``. Unit and
trial ids are offset (100 + i, 1000 + t) so that ids and row indices cannot be confused.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

import numpy as np

N_UNITS = 12
UNIT_IDS = 100 + np.arange(N_UNITS)
LEVELS = {0.0: 40, -0.2: 20, -0.1: 20, 0.1: 20, 0.2: 20}


class Planted(NamedTuple):
    spike_times: list[np.ndarray]
    start: np.ndarray
    stim_on: np.ndarray
    signal: np.ndarray
    choice: np.ndarray
    trial_ids: np.ndarray


def planted(seed: int = 0) -> Planted:
    """Spike times and trials of the planted model (numpy only)."""
    rng = np.random.default_rng(seed)
    signal = rng.permutation(np.concatenate([np.full(n, c) for c, n in LEVELS.items()]))
    n_trials = signal.size
    start = 1.0 * np.arange(n_trials) + 0.5
    stim_on = start + 0.1
    base = rng.uniform(8.0, 20.0, N_UNITS)
    gain = rng.uniform(-40.0, 40.0, N_UNITS)
    session = start[-1] + 1.5
    spike_times = []
    for i in range(N_UNITS):
        background = rng.uniform(0.0, session, rng.poisson(4.0 * session))
        rates = np.clip(base[i] + gain[i] * signal, 0.5, None)
        n = rng.poisson(0.5 * rates)
        driven = np.repeat(stim_on, n) + rng.uniform(0.0, 0.5, n.sum())
        spike_times.append(np.sort(np.concatenate([background, driven])))
    choice = (signal + rng.normal(0.0, 0.1, n_trials) > 0).astype(int)
    return Planted(spike_times, start, stim_on, signal, choice, 1000 + np.arange(n_trials))


def nwbfile(rec: Planted, *, trials: bool = True, units: bool = True, choice_values=None):
    """The recording as an in-memory ``pynwb.NWBFile`` (pynwb imported here)."""
    from pynwb import NWBFile

    f = NWBFile(
        session_description="planted Poisson recording",
        identifier="bayescortex-test",
        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    if trials:
        choices = rec.choice if choice_values is None else choice_values
        f.add_trial_column("stim_on", "stimulus onset (s)")
        f.add_trial_column("signal", "signed signal level")
        f.add_trial_column("choice", "0/1 choice")
        for t in range(rec.signal.size):
            f.add_trial(
                id=int(rec.trial_ids[t]),
                start_time=float(rec.start[t]),
                stop_time=float(rec.start[t] + 0.8),
                stim_on=float(rec.stim_on[t]),
                signal=float(rec.signal[t]),
                choice=float(choices[t]),
            )
    if units:
        for i, st in enumerate(rec.spike_times):
            f.add_unit(id=int(UNIT_IDS[i]), spike_times=st)
    return f


def write_nwb(path, rec: Planted, **kwargs) -> str:
    """Write :func:`nwbfile` to ``path`` (HDF5) and return the path as a string."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile(rec, **kwargs))
    return str(path)


def direct_counts(rec: Planted, align: np.ndarray, window, bins: int) -> np.ndarray:
    """Counts (trial, bin, unit) by comparing every spike with the bin edges, no searchsorted."""
    width = (window[1] - window[0]) / bins
    out = np.zeros((align.size, bins, N_UNITS), dtype=int)
    for t, a in enumerate(align):
        for k in range(bins):
            lo, hi = a + window[0] + k * width, a + window[0] + (k + 1) * width
            for i, st in enumerate(rec.spike_times):
                out[t, k, i] = np.count_nonzero((st >= lo) & (st < hi))
    return out
