"""Placement: configurations and a block's conditions split over devices, inputs moved
between programs with different meshes, where LAPACK may run, and the command line's split of
the CPU into host devices."""

from __future__ import annotations

import json
import os
import textwrap

import jax
import pytest

from bayescortex.experiments.placement import (
    Placement,
    for_devices,
    kernel_placement,
    like_runs,
    split_cpu,
)
from tests.host_devices import run_on_host_devices


def test_lapack_programs_run_on_one_cpu_device():
    assert jax.default_backend() == "cpu"
    assert kernel_placement(Placement(devices=4, batch=2, conditions=2)) == Placement(batch=2)
    assert kernel_placement(Placement()) == Placement()


def test_a_shard_splits_configurations_first_then_conditions():
    assert for_devices(1, 3) == Placement(devices=1, conditions=1)
    assert for_devices(2, 1) == Placement(devices=1, conditions=2)
    assert for_devices(2, 5) == Placement(devices=2, conditions=1)
    assert for_devices(4, 2) == Placement(devices=2, conditions=2)


def test_a_sweep_lays_each_configuration_out_as_its_run():
    for available in (1, 2, 3, 4, 8):
        alone = for_devices(available)
        assert like_runs(available, 1) == alone
        for n in (2, 3, 7):
            many = like_runs(available, n)
            assert (many.batch, many.conditions) == (1, alone.conditions)
            assert 1 <= many.devices * many.conditions <= max(available, 1)


def test_split_cpu_does_nothing_once_jax_has_started_and_says_so():
    jax.devices()
    if len(jax.devices("cpu")) == 1 and (os.cpu_count() or 1) > 1:
        with pytest.warns(RuntimeWarning, match="already started with one CPU device"):
            assert split_cpu() is None
    else:  # several CPU devices already (XLA_FLAGS), or one core: nothing to say
        assert split_cpu() is None


SPLIT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    assert jax.local_device_count() == 4, jax.devices()
    from bayescortex.experiments.placement import Placement, over_configs, put, kernel_placement

    def one(h, k, conds):  # per configuration: (seeds, conditions, 3)
        noise = jax.vmap(lambda kk: jax.random.normal(kk, (3,)))(k)
        return h * noise[:, None, :] + conds[None, :, None]

    hypers = jnp.arange(1.0, 5.0)  # 4 configurations
    keys = jax.vmap(lambda i: jax.random.split(jax.random.key(i), 3))(jnp.arange(4))
    conds = jnp.asarray([10.0, 20.0])
    ref = jax.jit(over_configs(one, Placement(), 2, split=(2, 2)))(hypers, keys, conds)
    for p in (Placement(conditions=2), Placement(devices=2, conditions=2),
              Placement(devices=4), Placement(devices=2, batch=1, conditions=2)):
        f = jax.jit(over_configs(one, p, 2, split=(2, 2)))
        out = f(*put((hypers, keys), p, 2, split=True), conds)
        np.testing.assert_allclose(out, ref, rtol=1e-5)  # float rounding
        assert len(out.sharding.device_set) == p.devices * p.conditions, (p, out.sharding)
        # A mapped argument's condition axis (its axis 2, as in the outputs) splits alike.
        twice = jax.jit(over_configs(lambda x: 2 * x, p, 1, split=(0, 2)))(out)
        np.testing.assert_allclose(twice, 2 * np.asarray(ref), rtol=1e-5)
        # What one program left on its devices moves to the next program's devices.
        where = kernel_placement(p)
        total = jax.jit(over_configs(lambda x: jnp.linalg.slogdet(
            jnp.eye(2) * jnp.sum(x ** 2))[1], where, 1))(*put((out,), where, 1))
        assert len(total.sharding.device_set) == 1, total.sharding
        np.testing.assert_allclose(total, 2 * np.log(np.sum(np.asarray(ref) ** 2, axis=(1, 2, 3))),
                                   rtol=1e-5)
    try:
        over_configs(one, Placement(conditions=3), 2, split=(2, 2))
    except ValueError as err:
        assert "2 conditions" in str(err), err
    else:
        raise AssertionError("3 conditions accepted")
    print("split ok")
    """
)


def test_conditions_split_over_host_devices_equal_one_device():
    out = run_on_host_devices(SPLIT, 4, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "split ok" in out.stdout


CLI_SPLIT = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")  # split_cpu's "too late" warning fails the script
    # Importing bayescortex and building configurations start no jax backend, so the CPU can
    # still be split after them.
    import bayescortex.analysis, bayescortex.inference, bayescortex.models
    from bayescortex.experiments import bci, cli, redundancy, sweep, training
    redundancy.RedundancyConfig(seeds=2), redundancy.FULL, training.TrainConfig(), bci.BCIConfig()
    from bayescortex.experiments.placement import one_run, split_cpu
    n = split_cpu()
    import jax
    assert n == min(2, __import__("os").cpu_count()), n
    assert jax.local_device_count() == n, jax.devices()
    assert one_run().conditions == (2 if n == 2 else 1), one_run()
    assert split_cpu() is None  # started: the count cannot change
    print("cpu split ok")
    """
)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to split")
def test_the_command_line_splits_the_cpu_unless_the_user_chose():
    out = run_on_host_devices(CLI_SPLIT, None, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cpu split ok" in out.stdout
    chosen = run_on_host_devices(
        "from bayescortex.experiments.placement import split_cpu\n"
        "import jax\nassert split_cpu() is None\nassert jax.local_device_count() == 3\n",
        3, timeout=120,
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr[-3000:]


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_run_and_sweep_split_the_cpu_before_anything_else(command, monkeypatch):
    from bayescortex.experiments import cli

    calls = []
    monkeypatch.setattr(cli, "split_cpu", lambda: calls.append("split"))

    class Stop(Exception):
        pass

    def stop(*_):
        calls.append(command)
        raise Stop

    monkeypatch.setattr(cli, "_parse", stop)
    monkeypatch.setattr(cli, "_sweep_cli", lambda: type("M", (), {"main": staticmethod(stop)}))
    with pytest.raises(Stop):
        cli.main([command, "redundancy"])
    assert calls == ["split", command]


NO_EXCHANGE = textwrap.dedent(
    """
    import json, os, pathlib, sys
    dump = pathlib.Path(sys.argv[1])
    os.environ["XLA_FLAGS"] += f" --xla_dump_to={dump} --xla_dump_hlo_as_text"
    from bayescortex.experiments.cli import main
    # No persistent cache: a program loaded from it is not compiled, so not in the dump.
    main(["--no-compile-cache", "run", "redundancy", "--seeds", "2", "--sessions", "1",
          "--neurons", "12", "--units", "6", "--trials-per-session", "16", "--batch", "8",
          "--record-trials", "10", "--coherences", "6", "12", "--samples", "12", "--presignal", "3",
          "--subset-size", "6", "--subsets", "6", "--bootstrap", "4", "--bootstrap-subsets", "3",
          "--network-steps", "10", "--network-hidden", "8", "--output", sys.argv[2]])
    found = {}
    for f in dump.glob("*after_optimizations.txt"):
        text = f.read_text()
        name = f.name.split(".")[1]
        for word in ("collective-permute", "all-gather", "all-reduce", "all-to-all",
                     "reduce-scatter", "custom-call"):
            if word in text:
                found.setdefault(word, set()).add(name)
    print("programs", len(list(dump.glob("*after_optimizations.txt"))))
    print("found", json.dumps({k: sorted(v) for k, v in found.items()}))
    """
)


@pytest.mark.slow  # about 2 minutes
def test_a_run_on_two_host_devices_exchanges_nothing_between_them(tmp_path):
    """A whole run (training, recordings and measures split over two host devices, the
    controls, the classic baselines, the report) compiles no collective in any program (an
    XLA:CPU collective between host devices aborts the run after 40 s when a loaded machine
    delays one device: seen with the control blocks joined by a jax concatenate), and no
    library kernel (custom call) outside the classic baselines, which run on one device."""
    out = run_on_host_devices(
        NO_EXCHANGE, 2, str(tmp_path / "dump"), str(tmp_path / "runs"), timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    programs = int(out.stdout.split("\nprograms ")[1].split()[0])
    assert programs > 20  # the dump saw the run's programs
    found = json.loads(out.stdout.split("found ")[1])
    assert found.keys() <= {"custom-call"}, found
    assert set(found.get("custom-call", [])) <= {"jit__networks"}, found
