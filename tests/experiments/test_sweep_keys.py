"""A sweep point gives the numbers of its configuration alone: batched with a neighbour, swept
alone (shard size 1) and run with ``run``, the same results and the same intervals.

Slow (two programs compile, in a child process with one CPU device, or two host devices as
the command line splits the CPU). The configuration is a little larger than the other
pipeline tests' tiny one: at that size, before sweeps laid each configuration out as its run,
vectorising two configurations on one device moved percent-redundancy resamples by 20 (the
float rounding of another program, amplified by the sampler's discrete draws), and on two
devices (configurations split over the devices, the run's recordings' conditions split)
resamples differed by 1e-5 and once a training choice flipped."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from tests.experiments.test_sweep_pipeline import TINY
from tests.host_devices import run_on_host_devices

pytestmark = pytest.mark.slow

BASE = dataclasses.replace(
    TINY, seeds=3, sessions=2, bootstrap=100, neurons=24, subset_size=12, subsets=24,
    bootstrap_subsets=8, record_trials=24, samples=24, presignal=4, trials_per_session=32,
)  # fmt: skip

SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys, jax, numpy as np
    assert jax.local_device_count() == int(sys.argv[1])
    from bayescortex.experiments import redundancy
    from bayescortex.experiments.sweep import sweep
    from tests.experiments.test_sweep_keys import BASE

    # The issue's sweep: a neighbour at an extreme value (the largest learning rate allowed).
    batched = sweep("redundancy", BASE, {"learning_rate": [10.0, 0.05]}, progress=False)
    alone = sweep("redundancy", BASE, {"learning_rate": [0.05]}, shard_size=1, progress=False)
    run = redundancy.with_effects(
        redundancy.run(dataclasses.replace(BASE, learning_rate=0.05), progress=False)
    )
    batched, alone = batched.isel(config=1), alone.isel(config=0)
    assert str(batched.status.values) == str(alone.status.values) == "ok"
    names = [v for v in run.data_vars if v in batched and not v.startswith("effect")]
    assert len(names) > 50, names
    discrete = ("train_correct", "accuracy_per_seed", "accuracy_by_contrast")
    for other, what in ((alone, "alone"), (run, "run")):
        for name in discrete:  # the trials themselves: any divergence shows here first
            np.testing.assert_array_equal(batched[name].values, other[name].values,
                                          err_msg=f"{name}: batched vs {what}")
        for name in names:
            np.testing.assert_allclose(batched[name].values, other[name].values, rtol=1e-5,
                                       atol=1e-6, err_msg=f"{name}: batched vs {what}")
    for effect in run.effect.values:
        interval = [float(run[f"effect_{k}"].sel(effect=effect)) for k in ("value", "low", "high")]
        for ds, what in ((batched, "batched"), (alone, "alone")):
            np.testing.assert_allclose(ds[f"effect_{effect}"].values, interval, rtol=1e-5,
                                       atol=1e-6, err_msg=f"{effect}: {what} vs run")
    print("same numbers")
    """
)


@pytest.mark.parametrize("devices", [1, 2])
def test_a_point_of_a_batched_sweep_equals_it_swept_alone_and_run(devices):
    out = run_on_host_devices(SCRIPT, devices, str(devices), timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "same numbers" in out.stdout
