"""Spike counts from spike times, NWB files and pynapple objects (bayescortex.analysis.io)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from bayescortex.analysis import (
    bin_centres,
    bin_edges,
    counts_from_nwb,
    counts_from_pynapple,
    counts_from_spike_times,
)
from tests.nwb_recording import N_UNITS, UNIT_IDS, direct_counts, nwbfile, planted, write_nwb

# counts_from_spike_times: the numpy core


def test_bins_are_half_open():
    spikes = [np.array([0.0, 0.25, 0.5, 0.75]), np.array([], dtype=float)]
    counts = counts_from_spike_times(spikes, np.array([0.0, 0.5]), window=(0.0, 0.5), bins=2)
    assert counts.shape == (2, 2, 2) and counts.dtype == np.int64
    # trial 0: [0, .25) holds 0.0, [.25, .5) holds 0.25; trial 1: 0.5 and 0.75
    assert counts[:, :, 0].tolist() == [[1, 1], [1, 1]]
    assert counts[:, :, 1].sum() == 0


def test_unsorted_spikes_and_negative_window():
    spikes = [np.array([2.3, 0.9, 1.95, 2.05])]
    counts = counts_from_spike_times(spikes, np.array([1.0, 2.0]), window=(-0.1, 0.1), bins=1)
    assert counts[:, 0, 0].tolist() == [1, 2]


def test_bin_edges_and_centres():
    assert bin_edges((-0.1, 0.5), 3) == pytest.approx([-0.1, 0.1, 0.3, 0.5])
    assert bin_centres((-0.1, 0.5), 3) == pytest.approx([0.0, 0.2, 0.4])


@pytest.mark.parametrize(
    "window, bins, match",
    [
        ((0.5, 0.5), 1, "window: stop must be after start"),
        ((0.5, 0.1), 1, "window: stop must be after start"),
        ((0.0, np.nan), 1, "window: start and stop must be finite"),
        ((0.0,), 1, "window: expected"),
        ((0.0, 0.5), 0, "bins: expected a positive integer"),
        ((0.0, 0.5), 1.5, "bins: expected a positive integer"),
    ],
)
def test_bad_window_or_bins(window, bins, match):
    with pytest.raises(ValueError, match=match):
        counts_from_spike_times([np.array([0.1])], np.array([0.0]), window=window, bins=bins)


def test_bad_spike_times_or_starts():
    with pytest.raises(ValueError, match="trial_starts: 1 NaN"):
        counts_from_spike_times([np.array([0.1])], np.array([0.0, np.nan]), window=(0, 1))
    with pytest.raises(ValueError, match=r"spike_times\[1\]: contains NaN"):
        counts_from_spike_times(
            [np.array([0.1]), np.array([np.nan])], np.array([0.0]), window=(0, 1)
        )
    with pytest.raises(ValueError, match="spike_times: expected a list"):
        counts_from_spike_times(np.array([0.1, 0.2]), np.array([0.0]), window=(0, 1))


# counts_from_nwb


@pytest.fixture(scope="module")
def recording():
    return planted(seed=0)


@pytest.fixture(scope="module")
def nwb_path(recording, tmp_path_factory):
    pytest.importorskip("pynwb")
    return write_nwb(tmp_path_factory.mktemp("nwb") / "planted.nwb", recording)


def test_nwb_counts_equal_direct_count(recording, nwb_path):
    window = (-0.1, 0.5)
    ds = counts_from_nwb(
        nwb_path, signal_column="signal", window=window, bins=3, align="stim_on",
        choice_column="choice",
    )  # fmt: skip
    assert ds.counts.dims == ("trial", "time", "neuron")
    assert ds.counts.shape == (recording.signal.size, 3, N_UNITS)
    np.testing.assert_array_equal(
        ds.counts.values, direct_counts(recording, recording.stim_on, window, 3)
    )
    np.testing.assert_array_equal(ds.trial.values, recording.trial_ids)
    np.testing.assert_array_equal(ds.neuron.values, UNIT_IDS)
    np.testing.assert_allclose(ds.time.values, [0.0, 0.2, 0.4], atol=1e-12)
    np.testing.assert_allclose(ds.time_start.values, [-0.1, 0.1, 0.3], atol=1e-12)
    np.testing.assert_array_equal(ds.signal.values, recording.signal)
    np.testing.assert_array_equal(ds.choice.values, recording.choice)
    assert ds.attrs["window"] == [-0.1, 0.5] and ds.attrs["align"] == "stim_on"
    assert ds.counts.sum() > 0


def test_nwb_default_align_and_open_nwbfile(recording, nwb_path):
    window = (0.0, 0.6)
    from_path = counts_from_nwb(nwb_path, signal_column="signal", window=window)
    from_object = counts_from_nwb(nwbfile(recording), signal_column="signal", window=window)
    assert "choice" not in from_path
    np.testing.assert_array_equal(from_path.counts.values, from_object.counts.values)
    np.testing.assert_array_equal(
        from_path.counts.values, direct_counts(recording, recording.start, window, 1)
    )


def test_nwb_select_units_and_trials(recording, nwb_path):
    units, trials = [UNIT_IDS[5], UNIT_IDS[2]], recording.trial_ids[[7, 3, 50]]
    ds = counts_from_nwb(
        nwb_path, signal_column="signal", window=(0.1, 0.6), units=units, trials=trials
    )
    full = direct_counts(recording, recording.start, (0.1, 0.6), 1)
    np.testing.assert_array_equal(ds.counts.values, full[[7, 3, 50]][:, :, [5, 2]])
    np.testing.assert_array_equal(ds.neuron.values, units)
    np.testing.assert_array_equal(ds.signal.values, recording.signal[[7, 3, 50]])
    with pytest.raises(ValueError, match=r"units: unknown unit ids \[7\]"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0, 1), units=[7])
    with pytest.raises(ValueError, match=r"trials: unknown trial ids \[5\]"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0, 1), trials=[5])


def test_nwb_missing_column_lists_the_columns(nwb_path):
    with pytest.raises(ValueError, match="signal_column: no column 'coherence'") as err:
        counts_from_nwb(nwb_path, signal_column="coherence", window=(0, 0.5))
    assert "['start_time', 'stop_time', 'stim_on', 'signal', 'choice']" in str(err.value)
    with pytest.raises(ValueError, match="choice_column: no column 'decision'"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0, 0.5), choice_column="decision")
    with pytest.raises(ValueError, match="align: no column 'go_cue'"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0, 0.5), align="go_cue")


def test_nwb_missing_trials_or_units(recording, tmp_path):
    pytest.importorskip("pynwb")
    no_trials = write_nwb(tmp_path / "no_trials.nwb", recording, trials=False)
    with pytest.raises(ValueError, match="trials: the NWB file has no trials table"):
        counts_from_nwb(no_trials, signal_column="signal", window=(0, 0.5))
    with pytest.raises(ValueError, match="units: the NWB file has no units"):
        counts_from_nwb(nwbfile(recording, units=False), signal_column="signal", window=(0, 0.5))


def test_nwb_bad_values(recording, nwb_path):
    pytest.importorskip("pynwb")
    with pytest.raises(ValueError, match="window: stop must be after start"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0.5, 0.0))
    with pytest.raises(ValueError, match="choice_column: column 'signal' must hold 0/1"):
        counts_from_nwb(nwb_path, signal_column="signal", window=(0, 0.5), choice_column="signal")
    nan_choice = recording.choice.astype(float)
    nan_choice[[4, 9]] = np.nan
    f = nwbfile(recording, choice_values=nan_choice)
    with pytest.raises(
        ValueError, match=r"choice_column: column 'choice' has 2 NaN.*\[1004, 1009\]"
    ):
        counts_from_nwb(f, signal_column="signal", window=(0, 0.5), choice_column="choice")
    keep = np.delete(recording.trial_ids, [4, 9])
    ds = counts_from_nwb(
        f, signal_column="signal", window=(0, 0.5), choice_column="choice", trials=keep
    )
    assert ds.sizes["trial"] == recording.signal.size - 2
    nan_signal = recording._replace(
        signal=np.where(np.arange(recording.signal.size) == 2, np.nan, recording.signal)
    )
    with pytest.raises(ValueError, match=r"signal_column: column 'signal' has 1 NaN.*\[1002\]"):
        counts_from_nwb(nwbfile(nan_signal), signal_column="signal", window=(0, 0.5))


def test_nwb_without_pynwb_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ImportError, match=r"pip install 'bayescortex\[nwb\]'"):
        counts_from_nwb(tmp_path / "x.nwb", signal_column="signal", window=(0, 0.5))


# counts_from_pynapple


def test_pynapple_counts_equal_spike_time_counts(recording):
    nap = pytest.importorskip("pynapple")
    group = nap.TsGroup(
        {int(u): nap.Ts(t) for u, t in zip(UNIT_IDS, recording.spike_times, strict=True)}
    )
    epochs = nap.IntervalSet(start=recording.stim_on, end=recording.stim_on + 0.5)
    counts = counts_from_pynapple(group, epochs, window=(0.0, 0.5), bins=2)
    assert counts.dims == ("trial", "time", "neuron")
    np.testing.assert_array_equal(counts.neuron.values, UNIT_IDS)
    np.testing.assert_array_equal(
        counts.values, direct_counts(recording, recording.stim_on, (0.0, 0.5), 2)
    )
