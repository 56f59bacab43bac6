"""Sweeps of the real redundancy pipeline (slow: each program compiles for a minute or more):
a sweep point equals the run of that configuration alone, one compilation serves a shape
group, the configuration axis split over 4 host devices equals one device, a run with its
recordings' conditions on 2 host devices equals one device, Ray shards merged equal the
in-process sweep, and the baselines finish with the configurations on 2 host devices."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments import redundancy
from bayescortex.experiments.redundancy import pipeline
from bayescortex.experiments.sweep import report as sweep_report
from bayescortex.experiments.sweep import sweep
from tests.host_devices import run_on_host_devices

pytestmark = pytest.mark.slow

TINY = redundancy.RedundancyConfig(
    seeds=2, sessions=1, neurons=12, units=6, trials_per_session=16, batch=8,
    record_trials=10, zero_blocks=2, coherences=(6.0, 12.0), samples=12, presignal=3,
    subset_size=6, subsets=6, bootstrap=4, bootstrap_subsets=3, controls=False, chunk=8,
)  # fmt: skip
GRID = {"learning_rate": [0.02, 0.1], "odds_increment": [0.05, 0.2]}
COMPARED = ("accuracy_per_seed", "redundancy_per_seed", "information_per_seed", "parameters")


def _close(a: xr.Dataset, b: xr.Dataset, rtol=2e-3, atol=2e-4):
    """Equal but for float32 rounding of vectorised reductions in another batch width."""
    for name in COMPARED:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    before = pipeline.record_configs._cache_size()
    ds = sweep("redundancy", TINY, GRID, shard_size=2, progress=False,
               folder=tmp_path_factory.mktemp("local"))  # fmt: skip
    return ds, pipeline.record_configs._cache_size() - before


def test_a_sweep_point_equals_the_run_of_that_configuration(swept):
    ds, compiled = swept
    # Two shards of one shape: one compilation at most (none where an earlier test of this
    # process compiled the same shape).
    assert compiled <= 1
    assert list(ds.status.values) == ["ok"] * 4
    for i in (0, 3):
        config = dataclasses.replace(
            TINY, learning_rate=float(ds.learning_rate[i]),
            odds_increment=float(ds.odds_increment[i]),
        )  # fmt: skip
        alone = redundancy.run(config, progress=False)
        _close(ds.isel(config=i), alone)


SHARDED = textwrap.dedent(
    """
    import sys, jax
    assert jax.local_device_count() == 4
    from bayescortex.experiments.sweep import sweep
    from tests.experiments.test_sweep_pipeline import TINY, GRID
    ds = sweep("redundancy", TINY, GRID, devices=4, progress=False)
    placement = '{"devices": 4, "batch": null, "conditions": 1}'
    assert ds.attrs["placement"] == placement, ds.attrs["placement"]
    ds.to_netcdf(sys.argv[1], engine="h5netcdf")
    """
)


def test_configurations_split_over_four_host_devices_equal_one_device(swept, tmp_path):
    path = tmp_path / "four.nc"
    out = run_on_host_devices(SHARDED, 4, str(path), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    with xr.open_dataset(path, engine="h5netcdf") as four:
        for i in range(4):
            _close(four.isel(config=i), swept[0].isel(config=i))


def test_ray_shards_merged_equal_the_in_process_sweep(swept, tmp_path):
    ray = pytest.importorskip("ray")
    # One CPU: the two shards run one after the other in one reused worker process, so the
    # second finds the first's compiled programs (two workers compiled both at once: 12 min
    # of a 2-core CI). Two shards are still written and merged.
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        merged = sweep("redundancy", TINY, GRID, shard_size=2, progress=False, folder=tmp_path,
                       executor="ray")  # fmt: skip
    finally:
        ray.shutdown()
    assert len(list((tmp_path / "shards").glob("*.nc"))) == 2
    assert list(merged.status.values) == ["ok"] * 4
    for i in range(4):
        _close(merged.isel(config=i), swept[0].isel(config=i), rtol=1e-6, atol=1e-7)


ONE_RUN = textwrap.dedent(
    """
    import dataclasses, json, sys, jax
    assert jax.local_device_count() == 2
    from bayescortex.experiments import redundancy
    from tests.experiments.test_sweep_pipeline import TINY, GRID
    config = dataclasses.replace(
        TINY, learning_rate=GRID["learning_rate"][1], odds_increment=GRID["odds_increment"][0]
    )
    ds = redundancy.run(config, progress=False)
    placement = json.loads(ds.attrs["placement"])
    assert placement["devices"] == 1 and placement["conditions"] == 2, placement
    ds.to_netcdf(sys.argv[1], engine="h5netcdf")
    """
)


def test_a_run_with_its_conditions_on_two_host_devices_equals_one_device(swept, tmp_path):
    path = tmp_path / "two.nc"
    out = run_on_host_devices(ONE_RUN, 2, str(path), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    ds = swept[0]
    lr, odds = ds.learning_rate.values, ds.odds_increment.values
    chosen = (lr == GRID["learning_rate"][1]) & (odds == GRID["odds_increment"][0])
    i = int(np.flatnonzero(chosen)[0])
    with xr.open_dataset(path, engine="h5netcdf") as two:
        _close(two, ds.isel(config=i))


WITH_BASELINES = textwrap.dedent(
    """
    import dataclasses, sys, jax
    import numpy as np
    assert jax.local_device_count() == 2
    from bayescortex.experiments.sweep import sweep
    from tests.experiments.test_sweep_pipeline import TINY
    config = dataclasses.replace(TINY, controls=True)
    ds = sweep("redundancy", config, {"learning_rate": [0.02, 0.1]}, devices=2, progress=False)
    assert list(ds.status.values) == ["ok", "ok"], ds.message.values
    steps = ds["network_steps"].values
    assert steps.shape[:2] == (2, config.seeds), steps.shape
    assert np.all(steps[:, :, 0] == 0) and np.any(steps[:, :, 1:] > 0), steps
    print("ok")
    """
)


def test_baselines_finish_with_configurations_on_two_host_devices(tmp_path):
    """Regression: the baselines' training (a batched LAPACK LU) deadlocked when two host
    devices ran it at once; on CPU they now run on one device while the sessions split."""
    out = run_on_host_devices(WITH_BASELINES, 2, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_a_sweep_over_the_contrasts_compiles_once_and_each_point_equals_its_run(tmp_path):
    """The recorded coherences are a traced leaf (their count is the shape): two contrast sets
    of one size share a shard and one compilation, and each point equals the run of its own
    configuration, contrast coordinates included (the merged Dataset holds the union of the
    points' contrasts, NaN where a point has none; the swept tuples as JSON text)."""
    grid = {"coherences": [(6.0, 12.0), (4.0, 8.0)]}
    before = pipeline.record_configs._cache_size()
    ds = sweep("redundancy", TINY, grid, shard_size=2, progress=False)
    assert pipeline.record_configs._cache_size() - before <= 1  # 0 where TINY compiled already
    assert list(ds.status.values) == ["ok"] * 2
    assert ds.coherences.values.tolist() == ["[6.0, 12.0]", "[4.0, 8.0]"]
    ds.to_netcdf(tmp_path / "contrasts.nc", engine="h5netcdf")
    assert "[4.0, 8.0]" in sweep_report.summary_text(ds, ("change_redundancy_engaged",))
    assert sorted(ds.coherence.values.tolist()) == [4.0, 6.0, 8.0, 12.0]
    for i, coherences in enumerate(grid["coherences"]):
        alone = redundancy.run(dataclasses.replace(TINY, coherences=coherences), progress=False)
        point = ds.isel(config=i).sel(contrast=alone.contrast, coherence=alone.coherence)
        _close(point, alone)
        np.testing.assert_allclose(
            point.accuracy_by_contrast.values, alone.accuracy_by_contrast.values, atol=1e-6
        )
        other = sorted(set(ds.coherence.values.tolist()) - set(coherences))
        assert np.isnan(ds.isel(config=i).redundancy_by_coherence.sel(coherence=other)).all()
