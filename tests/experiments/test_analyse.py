"""``bayescortex analyse``: an NWB file in, the redundancy summary out (experiments.analyse)."""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis import counts_from_nwb, redundancy_summary
from bayescortex.experiments import analyse
from bayescortex.experiments.analyse import AnalyseConfig, main, run
from bayescortex.experiments.results import load_config
from tests.nwb_recording import N_UNITS, planted, write_nwb


@pytest.fixture(scope="module")
def nwb_path(tmp_path_factory):
    pytest.importorskip("pynwb")
    return write_nwb(tmp_path_factory.mktemp("nwb") / "planted.nwb", planted(seed=1))


def config(path, **kw):
    base = dict(
        path=path, signal_column="signal", window=(0.0, 0.5), align="stim_on",
        choice_column="choice", subset_size=8, subsets=16, bootstrap=0, seed=3,
    )  # fmt: skip
    return AnalyseConfig(**(base | kw))


def expected_summary(path, n_bootstrap):
    rec = counts_from_nwb(
        path, signal_column="signal", window=(0.0, 0.5), align="stim_on", choice_column="choice"
    )
    return redundancy_summary(
        rec.counts.isel(time=0), rec.signal, rec.choice, subset_size=8, n_subsets=16,
        key=jax.random.key(3), n_bootstrap=n_bootstrap,
    )  # fmt: skip


def test_run_equals_redundancy_summary(nwb_path):
    ds = run(config(nwb_path))
    assert "time" not in ds.dims and ds.information_combined.shape == ()
    assert "choice_probability_preferred" in ds
    xr.testing.assert_allclose(ds.drop_attrs(), expected_summary(nwb_path, 0).drop_attrs())
    assert ds.attrs["n_units"] == N_UNITS and ds.attrs["n_trials"] == 120
    assert ds.attrs["source"] == nwb_path and ds.attrs["window"] == [0.0, 0.5]


@pytest.mark.slow
def test_run_equals_redundancy_summary_with_bootstrap(nwb_path):
    ds = run(config(nwb_path, bootstrap=8))
    assert "information_combined_ci" in ds
    xr.testing.assert_allclose(ds.drop_attrs(), expected_summary(nwb_path, 8).drop_attrs())


def test_run_passes_the_settings(nwb_path, monkeypatch):
    seen = {}

    def spy(counts, signal, choices, **kw):
        seen.update(kw, counts=counts, choices=choices)
        return redundancy_summary(counts, signal, choices, **(kw | dict(n_bootstrap=0)))

    monkeypatch.setattr(analyse, "redundancy_summary", spy)
    run(config(nwb_path, bootstrap=7, subsets=16, seed=5))
    assert (seen["subset_size"], seen["n_subsets"], seen["n_bootstrap"]) == (8, 16, 7)
    np.testing.assert_array_equal(
        jax.random.key_data(seen["key"]), jax.random.key_data(jax.random.key(5))
    )
    assert seen["counts"].dims == ("trial", "neuron") and seen["choices"] is not None


def test_run_with_time_bins(nwb_path):
    ds = run(config(nwb_path, bins=2, choice_column=None))
    np.testing.assert_allclose(ds.time.values, [0.125, 0.375])
    np.testing.assert_allclose(ds.time_start.values, [0.0, 0.25])
    assert ds.information_combined.dims == ("time",)
    assert "choice_probability" not in ds
    text = analyse.summary_text(config(nwb_path, bins=2), ds)
    assert "time bin centred at 0.125 s" in text and "time bin centred at 0.375 s" in text


def test_main_writes_the_run_folder(nwb_path, tmp_path, capsys):
    cfg = config(nwb_path, output=str(tmp_path))
    main(cfg)
    (folder,) = (tmp_path / "analyse").iterdir()
    summary = (folder / "summary.txt").read_text()
    for label in ("I ", "I_shuffle", "I_red", "% redundancy", "choice probability"):
        assert label in summary
    assert summary in capsys.readouterr().out
    saved = xr.load_dataset(folder / "results.nc", engine="h5netcdf")
    assert float(saved.percent_redundancy_combined) == pytest.approx(
        float(run(cfg).percent_redundancy_combined)
    )
    assert load_config(AnalyseConfig, folder / "config.json") == cfg
    assert json.loads((folder / "config.json").read_text())["window"] == [0.0, 0.5]


def test_summary_shows_intervals(nwb_path):
    ds = run(config(nwb_path))
    for _, name in analyse.MEASURES:
        value = float(ds[f"{name}_combined"])
        ds[f"{name}_combined_ci"] = ("bound", [value - 1.0, value + 1.0])
    ds = ds.assign_coords(bound=["low", "high"]).assign_attrs(n_bootstrap=8)
    text = analyse.summary_text(config(nwb_path, bootstrap=8), ds)
    assert "95% CIs: bootstrap over trials within signal levels (8 resamples)" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("I_red"))
    red = float(ds.redundancy_combined)
    assert f"[{red - 1:10.4f}, {red + 1:10.4f}]" in line


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(window=(0.5, 0.5)), "window: stop must be after start"),
        (dict(bins=0), "bins: expected a positive integer"),
        (dict(subsets=0), "subsets: must be positive"),
        (dict(bootstrap=-1), "bootstrap: must be >= 0"),
        (dict(subset_size=0), "subset_size: must be positive or None"),
    ],
)
def test_config_checks(kw, match):
    with pytest.raises(ValueError, match=match):
        config("x.nwb", **kw)


def test_run_errors_name_the_problem(nwb_path):
    with pytest.raises(ValueError, match="subset_size: 32 is more than the 12 units"):
        run(config(nwb_path, subset_size=32))
    with pytest.raises(ValueError, match="signal_column: no column 'coherence'.*'signal'"):
        run(config(nwb_path, signal_column="coherence"))


def _cli_error(argv) -> str:
    """The message ``bayescortex <argv>`` exits with (what the user sees, without traceback)."""
    from bayescortex.experiments.cli import main as cli_main

    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    message = exit_info.value.code
    assert isinstance(message, str), message  # a str code: printed alone, exit status 1
    assert "\n" not in message and "Traceback" not in message
    return message


ANALYSE = ["analyse", "--signal-column", "signal", "--window", "0", "0.5", "--path"]


def test_cli_names_a_file_that_is_not_nwb(tmp_path):
    pytest.importorskip("pynwb")
    h5py = pytest.importorskip("h5py")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1, 2, 3]
    message = _cli_error([*ANALYSE, str(plain)])
    assert message.startswith(f"bayescortex analyse: {plain} is not an NWB file (")
    text = tmp_path / "notes.nwb"
    text.write_text("not even HDF5")
    message = _cli_error([*ANALYSE, str(text)])
    assert message.startswith(f"bayescortex analyse: {text} is not an NWB file (")
    message = _cli_error([*ANALYSE, str(tmp_path / "missing.nwb")])
    assert message.startswith("bayescortex analyse: ") and "missing.nwb" in message


def test_cli_without_pynwb_says_how_to_install(nwb_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # as in an install without the nwb extra
    message = _cli_error([*ANALYSE, nwb_path])
    assert message.startswith("bayescortex analyse: ")
    assert "pip install 'bayescortex[nwb]'" in message
