"""The sweep engine on a toy experiment whose answer is known exactly: points, grouping into
one compilation per shape, equality with per-configuration runs, resume, statuses, the
command line, and (in a subprocess with 4 host devices) sharded == unsharded. The toy is a
third experiment built from the protocol alone (config, one effect, one criterion, summary,
figures): ``bayescortex run toy`` and ``bayescortex sweep toy`` both run it."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from bayescortex.experiments.criteria import above_zero, evaluate_criteria, verdict_label
from bayescortex.experiments.experiment import Experiment, register
from bayescortex.experiments.placement import VECTORISED, over_configs
from bayescortex.experiments.results import RunOptions
from bayescortex.experiments.sweep import (
    parse_grid,
    points,
    random_points,
    run_shard,
    summary_text,
    sweep,
)
from bayescortex.experiments.sweep import run as sweep_run
from tests.host_devices import run_on_host_devices

TRACES = []


@dataclasses.dataclass(frozen=True)
class ToyConfig(RunOptions):
    """y_s = scale * mean(z_s) + shift over ``size`` standard normals z of seed s."""

    scale: float = 1.0
    shift: float = 0.0
    size: int = 4
    seeds: int = 3
    fail: bool = False

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"size: must be positive, got {self.size}")

    def split(self):
        return (self.size, self.seeds, self.fail), {"scale": self.scale, "shift": self.shift}


class Out(NamedTuple):
    y: jax.Array


def _keys(config):
    root = jax.random.key(config.seed)
    return jax.vmap(lambda s: jax.random.fold_in(root, s))(jnp.arange(config.seeds))


def _one(size, hyper, keys):
    z = jax.vmap(lambda k: jax.random.normal(k, (size,)))(keys)
    # sqrt(scale): a negative scale gives NaN, which the sweep must report.
    return Out(jnp.sqrt(hyper["scale"]) ** 2 * z.mean(1) + hyper["shift"])


def _program(static, placement):
    @jax.jit
    def program(hypers, keys):
        TRACES.append(static)
        return over_configs(lambda h, k: _one(static[0], h, k), placement, 2)(hypers, keys)

    return program


PROGRAMS = {}


def toy_run_configs(configs, *, placement=VECTORISED, progress=False):
    static = configs[0].split()[0]
    if static[2]:
        raise RuntimeError("this shard fails on purpose")
    padded = list(configs) + [configs[-1]] * (-len(configs) % placement.devices)
    hypers = jax.tree.map(lambda *a: jnp.asarray(a), *[c.split()[1] for c in padded])
    keys = jnp.stack([_keys(c) for c in padded])
    program = PROGRAMS.setdefault((static, placement), _program(static, placement))
    y = np.asarray(program(hypers, keys).y)
    return [
        xr.Dataset(
            {"y_per_seed": ("seed", y[i]), "y": ((), y[i].mean())},
            coords={"seed": np.arange(c.seeds)},
        )
        for i, c in enumerate(configs)
    ]


def toy_effects(ds):
    v = float(ds.y)
    return {"y": (v, v - 1.0, v + 1.0)}


TOY_CRITERION = above_zero("y is positive (interval > 0)", "y")


def toy_summary(config, ds):
    ((text, ok),) = evaluate_criteria(ds, [TOY_CRITERION])
    return f"toy: y = {float(ds.y):.4f}\n[{verdict_label(ok)}] {text}"


def toy_figures(ds):
    fig = Figure()
    fig.add_subplot().plot(ds.y_per_seed.values)
    return {"toy": fig}


TOY = Experiment(
    "toy", ToyConfig, toy_run_configs, toy_effects, toy_summary, toy_figures,
    criteria=(TOY_CRITERION,), presets={"big": ToyConfig(shift=5.0)}, required=("y",),
    headline=("y",),
)  # fmt: skip
register(TOY)


def _expected(config):
    z = jax.vmap(lambda k: jax.random.normal(k, (config.size,)))(_keys(config))
    return np.asarray(config.scale * z.mean(1) + config.shift)


# -- points ---------------------------------------------------------------------------------------


def test_grid_values_are_typed_by_the_config_fields():
    grid = parse_grid(ToyConfig, ["scale=0.5,2", "size=3,5"])
    assert grid == {"scale": [0.5, 2.0], "size": [3, 5]}
    assert isinstance(grid["size"][0], int)
    with pytest.raises(ValueError, match="expected int"):
        parse_grid(ToyConfig, ["size=2.5"])
    with pytest.raises(ValueError, match="not a field one can sweep"):
        parse_grid(ToyConfig, ["output=a,b"])
    with pytest.raises(ValueError, match="name=v1,v2"):
        parse_grid(ToyConfig, ["scale"])


def test_points_are_the_product_of_the_grid_times_the_draws():
    drawn = random_points(ToyConfig, 3, ["shift=1e-3:1:log", "size=2:4"], seed=0)
    assert all(1e-3 <= v <= 1 for v in drawn["shift"])
    assert all(isinstance(v, int) and 2 <= v <= 4 for v in drawn["size"])
    assert drawn == random_points(ToyConfig, 3, ["shift=1e-3:1:log", "size=2:4"], seed=0)
    pts = points({"scale": [1.0, 2.0], "seeds": [1, 2]}, {"shift": drawn["shift"]})
    assert len(pts) == 12
    assert pts[0] == {"scale": 1.0, "seeds": 1, "shift": drawn["shift"][0]}
    with pytest.raises(ValueError, match="lo <= hi"):
        random_points(ToyConfig, 2, ["shift=1:0"], seed=0)
    with pytest.raises(ValueError, match="both on the grid and drawn"):
        points({"shift": [1.0]}, {"shift": [2.0]})


# -- the sweep ------------------------------------------------------------------------------------


def test_sweep_equals_each_configuration_and_compiles_once_per_shape():
    """Six points in two shapes (size 4 and 6): two compilations, each configuration equal to
    its closed form, coordinates the swept values."""
    TRACES.clear()
    base = ToyConfig()
    ds = sweep("toy", base, {"size": [4, 6], "scale": [0.5, 1.0, 2.0]}, progress=False)
    assert sorted(TRACES) == [(4, 3, False), (6, 3, False)]
    assert list(ds.size.values) == [4, 4, 4, 6, 6, 6]
    assert list(ds.scale.values) == [0.5, 1.0, 2.0] * 2
    for i in range(6):
        config = dataclasses.replace(base, size=int(ds.size[i]), scale=float(ds.scale[i]))
        np.testing.assert_allclose(ds.y_per_seed[i], _expected(config), rtol=1e-6, atol=1e-7)
    assert list(ds.status.values) == ["ok"] * 6
    np.testing.assert_allclose(ds.effect_y.sel(interval="value"), ds.y)


def test_batched_and_chunked_placements_equal_the_vectorised_one():
    base = ToyConfig()
    grid = {"scale": [0.5, 1.0, 2.0, 3.0, 4.0]}
    whole = sweep("toy", base, grid, progress=False)
    for kw in (dict(batch=2), dict(shard_size=2), dict(shard_size=3, batch=1)):
        other = sweep("toy", base, grid, progress=False, **kw)
        np.testing.assert_allclose(other.y_per_seed, whole.y_per_seed, rtol=1e-6)


def test_nan_invalid_and_failing_configurations_are_reported_and_the_others_complete():
    grid = {"scale": [1.0, -1.0], "size": [4, 0]}
    ds = sweep("toy", ToyConfig(), grid, progress=False)
    assert list(ds.status.values) == ["ok", "invalid", "nan", "invalid"]
    assert "size: must be positive" in str(ds.message.values[1])
    assert "not finite: y" in str(ds.message.values[2])
    assert np.isfinite(ds.y.values[0]) and np.isnan(ds.y.values[1])
    assert np.isnan(ds.effect_y.values[2]).all()  # no effect computed from NaN
    failing = sweep("toy", ToyConfig(), {"fail": [False, True]}, progress=False)
    assert list(failing.status.values) == ["ok", "error"]
    assert "fails on purpose" in str(failing.message.values[1])
    text = summary_text(ds, ("y",))
    assert "invalid 2" in text and "config 2: nan: not finite: y" in text


STACKED_CALLS = []


def _stacked_toy_effects(ds):
    """The toy's effect written over a ``config`` dimension (arrays) as well as for one run."""
    STACKED_CALLS.append(ds.sizes.get("config"))
    v = np.asarray(ds.y, float)
    return {"y": (v, v - 1.0, v + 1.0)}


def _failing_effects(ds):
    raise RuntimeError("stacked effects fail on purpose")


STACKED = dataclasses.replace(
    TOY, name="toy_stacked", effects=_stacked_toy_effects, stacked_effects=True
)
register(STACKED)
register(dataclasses.replace(STACKED, name="toy_stacked_failing", effects=_failing_effects))


def test_stacked_effects_equal_the_effects_of_each_configuration():
    """``stacked_effects``: one call over the shard's configurations gives what one call per
    configuration gives; a configuration that is not ``ok`` gets NaN effects; an error in the
    one call is reported on every ``ok`` configuration."""
    grid = {"scale": [1.0, -1.0, 2.0, 3.0]}
    one_by_one = sweep("toy", ToyConfig(), grid, progress=False)
    STACKED_CALLS.clear()
    stacked = sweep("toy_stacked", ToyConfig(), grid, progress=False)
    assert STACKED_CALLS == [3]  # one call, over the three ok configurations
    assert list(stacked.status.values) == ["ok", "nan", "ok", "ok"]
    assert stacked.effect_y.dims == ("config", "interval")
    np.testing.assert_array_equal(stacked.effect_y.values, one_by_one.effect_y.values)
    assert np.isnan(stacked.effect_y.values[1]).all()
    failed = sweep("toy_stacked_failing", ToyConfig(), {"scale": [1.0, -1.0]}, progress=False)
    assert list(failed.status.values) == ["error", "nan"]
    assert "effects: RuntimeError: stacked effects fail on purpose" in str(failed.message[0].values)


def test_resumed_sweep_skips_finished_shards(tmp_path, monkeypatch):
    grid = {"scale": [1.0, 2.0, 3.0, 4.0]}
    first = sweep("toy", ToyConfig(), grid, folder=tmp_path, shard_size=2, progress=False)
    shards = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert len(shards) == 2
    (tmp_path / "shards" / shards[0]).unlink()  # as if killed while that shard was in flight
    calls = []
    original = sweep_run.compute_shard
    monkeypatch.setattr(
        sweep_run, "compute_shard", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    again = sweep("toy", ToyConfig(), grid, folder=tmp_path, shard_size=2, progress=False)
    assert len(calls) == 1 and len(calls[0][1]) == 2  # only the missing shard ran
    xr.testing.assert_allclose(first.y_per_seed, again.y_per_seed)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == shards


def test_shard_names_address_the_content():
    from bayescortex.experiments.sweep import shard_name

    a = [ToyConfig(scale=1.0), ToyConfig(scale=2.0)]
    assert shard_name("toy", a) == shard_name(
        "toy", [ToyConfig(scale=1.0, output="x"), ToyConfig(scale=2.0, run_id="y")]
    )
    assert shard_name("toy", a) != shard_name("toy", a[::-1])
    assert shard_name("toy", a) != shard_name("toy", [ToyConfig(scale=1.0, seed=1), a[1]])


def test_run_shard_writes_a_self_describing_file(tmp_path):
    path = run_shard("toy", [dataclasses.asdict(ToyConfig(scale=2.0))], tmp_path / "s.nc", None)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert json.loads(ds.attrs["configs"])[0]["scale"] == 2.0
        assert str(ds.status.values[0]) == "ok"
    assert not list(tmp_path.glob(".*partial"))


WORKER_CACHE = textwrap.dedent(
    """
    import sys, jax
    from bayescortex.experiments.sweep.run import use_cache
    assert not jax.config.jax_compilation_cache_dir
    use_cache(None)
    assert not jax.config.jax_compilation_cache_dir
    use_cache(sys.argv[1])  # a fresh worker takes the driver's folder
    use_cache(sys.argv[1] + "-other")  # and keeps it
    print(jax.config.jax_compilation_cache_dir)
    """
)


def test_a_ray_worker_uses_the_drivers_compilation_cache(tmp_path):
    """A fresh worker process (a Ray task's) turns on the folder the driver passes: the
    workers of one machine then compile each program once between them."""
    out = run_on_host_devices(WORKER_CACHE, 1, str(tmp_path / "jax"), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(tmp_path / "jax")
    assert (tmp_path / "jax").is_dir()


def test_unknown_experiment_and_bad_base_are_clear_errors():
    with pytest.raises(ValueError, match="unknown .nope.; expected one of"):
        sweep("nope", ToyConfig(), {"scale": [1.0]})
    with pytest.raises(ValueError, match="expected a ToyConfig"):
        sweep("toy", object(), {"scale": [1.0]})


SHARDED = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, os.getcwd())
    import jax, numpy as np
    assert jax.local_device_count() == 4, jax.devices()
    from tests.experiments import test_sweep as T
    base = T.ToyConfig()
    grid = {"scale": [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]}
    one = T.sweep("toy", base, grid, devices=1, progress=False)
    four = T.sweep("toy", base, grid, devices=4, progress=False)
    two = T.sweep("toy", base, grid, devices=2, batch=1, progress=False)
    for other in (four, two):
        np.testing.assert_allclose(other.y_per_seed, one.y_per_seed, rtol=1e-6)
    # the sharded program really is split over the devices
    from bayescortex.experiments.placement import Placement
    placement = Placement(devices=4)
    hypers = {"scale": jax.numpy.ones(4), "shift": jax.numpy.zeros(4)}
    keys = jax.numpy.stack([T._keys(base)] * 4)
    y = T._program(T.ToyConfig().split()[0], placement)(hypers, keys).y
    assert len(y.sharding.device_set) == 4, y.sharding
    print("sharded ok")
    """
)


def test_sharded_over_four_host_devices_equals_one_device():
    out = run_on_host_devices(SHARDED, 4, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sharded ok" in out.stdout


def test_parts_run_disjoint_shards_that_merge(tmp_path):
    grid = {"scale": [1.0, 2.0, 3.0, 4.0]}
    kw = dict(folder=tmp_path, shard_size=1, progress=False)
    first = sweep("toy", ToyConfig(), grid, part=(0, 2), **kw)
    assert list(first.status.values) == ["ok", "pending", "ok", "pending"]
    second = sweep("toy", ToyConfig(), grid, part=(1, 2), **kw)
    assert list(second.status.values) == ["ok"] * 4  # its own shards and the first part's
    merged = sweep("toy", ToyConfig(), grid, **kw)
    xr.testing.assert_allclose(merged.y_per_seed, sweep("toy", ToyConfig(), grid,
                                                        progress=False).y_per_seed)  # fmt: skip
    with pytest.raises(ValueError, match="part"):
        sweep("toy", ToyConfig(), grid, part=(2, 2), **kw)


def test_command_line_writes_a_sweep_folder(tmp_path, capsys):
    from bayescortex.experiments.cli import main

    with pytest.raises(SystemExit, match="--grid or --random"):
        main(["sweep", "redundancy", "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="not a field one can sweep"):
        main(["sweep", "redundancy", "--grid", "colour=1,2"])
    with pytest.raises(SystemExit, match="--run-id"):
        main(["sweep", "redundancy", "--grid", "seed=1,2", "--part", "0/2"])
    main(["sweep", "toy", "--grid", "scale=1,2", "--grid", "shift=0,1", "--seeds", "2",
          "--output", str(tmp_path), "--run-id", "x"])  # fmt: skip
    folder = tmp_path / "sweep" / "toy" / "x"
    names = {p.name for p in folder.iterdir()}
    assert {"results.nc", "summary.txt", "sweep.png", "sweep.pdf", "config.json"} <= names
    with xr.open_dataset(folder / "results.nc", engine="h5netcdf") as ds:
        assert ds.sizes["config"] == 4 and ds.sizes["seed"] == 2
        assert list(ds["shift"].values) == [0.0, 1.0, 0.0, 1.0]
    assert json.loads((folder / "config.json").read_text())["grid"]["scale"] == [1.0, 2.0]
    assert "status: ok 4" in capsys.readouterr().out


def test_the_toy_experiment_runs_through_the_command_line(tmp_path, capsys):
    """Registered from the protocol alone, the toy is a ``bayescortex run`` experiment too:
    its preset, flags, run folder, criterion and summary, with the numbers of its sweep."""
    from bayescortex.experiments.cli import main

    main(["run", "toy", "--big", "--scale", "2", "--seeds", "2", "--output", str(tmp_path),
          "--run-id", "r"])  # fmt: skip
    folder = tmp_path / "toy" / "r"
    assert {"config.json", "results.nc", "summary.txt", "toy.png"} <= {
        p.name for p in folder.iterdir()
    }
    config = json.loads((folder / "config.json").read_text())
    assert (config["shift"], config["scale"]) == (5.0, 2.0)  # the preset, then the flag
    expected = _expected(ToyConfig(scale=2.0, shift=5.0, seeds=2)).mean()
    with xr.open_dataset(folder / "results.nc", engine="h5netcdf") as ds:
        np.testing.assert_allclose(float(ds.y), expected, rtol=1e-6)
        np.testing.assert_allclose(float(ds.effect_value.sel(effect="y")), expected, rtol=1e-6)
    assert "[PASS] y is positive" in (folder / "summary.txt").read_text()
    assert "written to" in capsys.readouterr().out


def test_configurations_whose_time_bins_differ_merge_padded_with_nan():
    """A sweep over a shape field (e.g. bins) gives datasets whose coordinate-less ``time``
    dimension differs: the merge pads the shorter with NaN instead of refusing to align."""
    from bayescortex.experiments.sweep.run import _aligned

    two = xr.Dataset({"r": (("time",), [1.0, 2.0]), "a": ((), 0.5)})
    four = xr.Dataset({"r": (("time",), [3.0, 4.0, 5.0, 6.0]), "a": ((), 0.7)})
    merged = xr.concat(_aligned([two, four]), dim="config", join="outer")
    np.testing.assert_array_equal(merged.r.values, [[1, 2, np.nan, np.nan], [3, 4, 5, 6]])
    np.testing.assert_array_equal(merged.a.values, [0.5, 0.7])
    same = _aligned([two, two])  # equal sizes: left as they are
    assert "time" not in same[0].coords


def test_a_sweep_without_a_folder_keeps_its_shards_in_memory(monkeypatch):
    def must_not_write(*args):
        raise AssertionError("a shard was written")

    monkeypatch.setattr(sweep_run, "_write_shard", must_not_write)
    ds = sweep("toy", ToyConfig(), {"scale": [1.0, 2.0, 3.0]}, shard_size=2, progress=False)
    assert list(ds.status.values) == ["ok"] * 3
    np.testing.assert_allclose(ds.y_per_seed[2], _expected(ToyConfig(scale=3.0)), rtol=1e-6)
