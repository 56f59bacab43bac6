"""`bayescortex simulate`: a tiny run folder, a one-hot context prior, and config errors that
name the field; the CLI's presets."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments import cli, results
from bayescortex.experiments.cli import main as cli_main
from bayescortex.experiments.redundancy.config import LEGACY as REDUNDANCY_LEGACY
from bayescortex.experiments.simulate import IMPOSSIBLE_LOGIT, SimulateConfig, context_logits
from bayescortex.experiments.simulate import run as simulate_run

TINY = "--trials 6 --neurons 8 --units 4 --samples 12 --presignal 2 --bins 2"


def test_simulate_writes_a_run_folder(tmp_path, capsys):
    cli_main(["simulate", *TINY.split(), "--contrasts", "0", "6", "-6", "--output", str(tmp_path)])
    (folder,) = (tmp_path / "simulate").iterdir()
    ds = xr.open_dataset(folder / "results.nc")
    assert ds.counts.shape == (18, 2, 8)
    assert np.isfinite(ds.counts.values).all() and (ds.counts.values >= 0).all()
    np.testing.assert_allclose(ds.context_posterior.sum("context"), 1.0, rtol=1e-5)
    config = json.loads((folder / "config.json").read_text())
    assert config["samples"] == 12 and config["mode"] == "engaged" and config["cue"] == "task"
    out, err = capsys.readouterr()
    assert "accuracy" in out
    assert "compiling" in err  # the bar says why it waits at 0%
    assert "results.nc" in results.check_complete(folder)


def test_one_hot_context_prior_gives_finite_trials(tmp_path):
    """A known task (p(K | q) one-hot) used to break the evidence accumulator (0 * -inf): the
    counts and beliefs stay finite, and the posterior never leaves the certain context."""
    args = ["--context-prior", "1", "0", "0", "--kappa-o", "1", "2", "--cue", "fixation"]
    args += ["--contrasts", "0", "6", "-6", "--output", str(tmp_path), "--run-id", "known task"]
    cli_main(["simulate", *TINY.split(), *args])
    (folder,) = (tmp_path / "simulate").iterdir()
    assert folder.name == "known task"  # --run-id names the folder, as for every command
    ds = xr.open_dataset(folder / "results.nc")
    assert np.isfinite(ds.counts.values).all() and (ds.counts.values >= 0).all()
    assert np.isfinite(ds.belief.values).all()
    np.testing.assert_allclose(ds.context_posterior.sel(context="cardinal"), 1.0, rtol=1e-6)


def test_context_prior_becomes_the_cue_row_of_the_logits():
    cfg = SimulateConfig(cue="fixation", context_prior=(2.0, 0.0, 2.0), kappa_o=(0.5, 1.5))
    logits = cfg.logits()
    np.testing.assert_allclose(logits[0], 0.0)  # the task cue keeps the uniform prior
    np.testing.assert_allclose(logits[1], [np.log(0.5), IMPOSSIBLE_LOGIT, np.log(0.5)])
    fb = cfg.model().feedback
    np.testing.assert_allclose(np.exp(fb.context_log_prior(1)), [0.5, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(fb.kappa_o, [0.5, 1.5])
    np.testing.assert_allclose(np.exp(context_logits((1, 1, 1))), 1 / 3)


@pytest.mark.parametrize(
    "field, value",
    [
        ("samples", 0),
        ("presignal", -1),
        ("trials", 0),
        ("contrasts", ()),
        ("delta", -0.1),
        ("delta", 1e30),
        ("contrasts", (3.0, 1e30)),
        ("kappa_o", (1.0, 2.0, 3.0)),
        ("kappa_o", (-1.0,)),
        ("context_prior", (1.0, 0.0)),
        ("context_prior", (0.0, 0.0, 0.0)),
        ("context_prior", (1.0, -1.0, 1.0)),
        ("mode", "passive"),
        ("frame_every", -1),
    ],
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SimulateConfig(**{field: value})


def test_run_redundancy_legacy_preset_parses():
    """``--legacy`` supplies the first version's definitions; explicit flags override them."""
    command, config, _ = cli._parse(["run", "redundancy", "--legacy", "--seeds", "1"])
    assert command == "run"
    assert config == dataclasses.replace(REDUNDANCY_LEGACY, seeds=1)
    assert (config.objective, config.passive, config.frame_every) == ("joint", "cut", 0)
    _, full, _ = cli._parse(["run", "redundancy", "--full"])
    assert full.objective == "reward"
    with pytest.raises(SystemExit, match="one preset"):
        cli._parse(["run", "redundancy", "--full", "--legacy"])
    with pytest.raises(SystemExit) as exit_info:
        cli._parse(["run", "redundancy", "--legacy", "--help"])
    assert exit_info.value.code == 0
    assert "--legacy" in cli.USAGE


@pytest.mark.slow  # three compiled batch widths: about 15 s
def test_chunking_changes_nothing_beyond_float_rounding():
    """Trial n uses fold_in(key, n) whatever the chunk: the same images and choices, and
    counts and beliefs that differ only by rounding: batches of another width (1 is compiled
    without the batch axis) vectorise the sampler's sums differently, by an amount that depends
    on the host's vector units. Measured: width 1 within 0.04 spikes in float32 and 3e-10 in
    float64 (BAYESCORTEX_X64=1); width 4 equal to 12 on one host, within 0.008 spikes on
    another (AMD EPYC, AVX2); beliefs equal on both."""
    base = dict(trials=6, neurons=16, units=8, samples=20, presignal=4, bins=2,
                contrasts=(0.0, 6.0))  # fmt: skip
    one, four, all_ = (
        simulate_run(SimulateConfig(**base, chunk=c), progress=False) for c in (1, 4, 12)
    )
    x64 = one.counts.dtype == np.float64
    for part in (one, four):
        for name in ("choice", "energy"):
            np.testing.assert_array_equal(part[name].values, all_[name].values, err_msg=name)
        for name, atol in (("counts", 0.1), ("belief", 0.01), ("context_posterior", 0.01)):
            np.testing.assert_allclose(part[name].values, all_[name].values, rtol=0,
                                       atol=1e-8 if x64 else atol, err_msg=name)  # fmt: skip
