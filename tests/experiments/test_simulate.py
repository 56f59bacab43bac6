"""`bayescortex simulate`: a tiny run folder, and config errors that name the field."""

import json

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments.cli import main as cli_main
from bayescortex.experiments.simulate import SimulateConfig


def test_simulate_writes_a_run_folder(tmp_path, capsys):
    args = "--trials 6 --neurons 8 --units 4 --samples 12 --presignal 2 --bins 2"
    cli_main(["simulate", *args.split(), "--contrasts", "0", "6", "-6", "--output", str(tmp_path)])
    (folder,) = (tmp_path / "simulate").iterdir()
    ds = xr.open_dataset(folder / "results.nc")
    assert ds.counts.shape == (18, 2, 8)
    assert np.isfinite(ds.counts.values).all() and (ds.counts.values >= 0).all()
    config = json.loads((folder / "config.json").read_text())
    assert config["samples"] == 12 and config["mode"] == "engaged"
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "field, value", [("samples", 0), ("presignal", -1), ("trials", 0), ("contrasts", ())]
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SimulateConfig(**{field: value})
