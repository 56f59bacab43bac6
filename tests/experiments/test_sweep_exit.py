"""The sweep command's outcome is never silent: a sweep with a failed point exits non-zero
naming it, flags and grid points out of range are refused before anything runs, and Ctrl-C
stops between shards (even when the KeyboardInterrupt itself was swallowed) with the finished
shards kept for a resume. On the toy experiment of test_sweep (no real compilation)."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import xarray as xr

from bayescortex.experiments.cli import main
from bayescortex.experiments.sweep import run as sweep_run
from bayescortex.experiments.sweep import sweep
from bayescortex.experiments.sweep.interrupts import interrupts
from tests.experiments import test_sweep
from tests.experiments.test_sweep import ToyConfig  # registers the toy experiment


@pytest.fixture(autouse=True)
def _sigint_as_at_a_terminal():
    """Python's own SIGINT handler for every test, as in a program started at a terminal:
    a process started in the background by a non-interactive shell inherits SIGINT ignored,
    and `interrupts` then (rightly) installs nothing, so these tests would test nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _fresh_toy_programs():
    """test_sweep counts the toy's compilations: leave none of ours in its cache."""
    yield
    test_sweep.PROGRAMS.clear()


def _sweep(tmp_path, *flags):
    main(["sweep", "toy", *flags, "--output", str(tmp_path), "--run-id", "x"])


def test_a_sweep_whose_points_are_all_ok_exits_zero(tmp_path, capsys):
    _sweep(tmp_path, "--grid", "scale=1,2")  # returns: exit status 0
    assert "status: ok 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, why",
    [
        (["--grid", "fail=false,true"], "config 1 (fail=True): error: RuntimeError: this shard"),
        (["--grid", "scale=1,2", "--devices", "99"], "config 0 (scale=1.0): error: ValueError: "
                                                     "devices: 99 requested"),
    ],
    ids=["failing-shard", "devices-99"],
)  # fmt: skip
def test_a_sweep_with_failed_points_exits_non_zero_naming_each(tmp_path, flags, why):
    with pytest.raises(SystemExit) as exit_info:
        _sweep(tmp_path, *flags)
    message = str(exit_info.value.code)
    assert exit_info.value.code not in (0, None)
    assert "configurations not ok" in message and why in message, message
    lines = message.splitlines()
    assert len(lines) == 1 + int(message.split(" of ")[0].split()[-1])  # one line per point
    assert (tmp_path / "sweep" / "toy" / "x" / "summary.txt").exists()  # written all the same


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--devices", "0"], "--devices"),
        (["--config-batch", "0"], "--config-batch"),
        (["--shard-size", "0"], "--shard-size"),
        (["--ray-gpus", "-1"], "--ray-gpus"),
    ],
)
def test_sweep_counts_out_of_range_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "toy", "--grid", "scale=1,2", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grid", "learning-rate=0.05,1e30"], r"point 1 \(learning_rate=1e\+30\) is refused: "
                                                r"learning_rate \(--learning-rate\): must lie in "
                                                r"\(0, 10\]"),
        (["--grid", "kappa-o=1,-1"], r"kappa_o \(--kappa-o\): must lie in \[0, 100\]"),
        (["--random", "2", "none-logit=-1e30:0"], r"none_logit \(--none-logit\): must lie in"),
        (["--grid", "seed=0,1", "--seeds", "1", "--seeds", "2"], "--seeds given twice"),
        (["--grid", "seed=0,1", "--devices", "1", "--devices", "2"], "--devices given twice"),
    ],
    ids=["grid", "grid-kappa", "random", "experiment-flag", "sweep-flag"],
)  # fmt: skip
def test_sweep_points_and_flags_are_refused_before_running(argv, message, tmp_path, monkeypatch):
    def must_not_run(*args, **kw):
        raise AssertionError("a shard ran")

    monkeypatch.setattr(sweep_run, "compute_shard", must_not_run)
    with pytest.raises(SystemExit, match=message):
        main(["sweep", "redundancy", *argv, "--output", str(tmp_path)])
    assert not (tmp_path / "sweep").exists()


# -- Ctrl-C -------------------------------------------------------------------------------------

main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers are set in the main thread only",
)


def _swallowed_interrupt():
    """SIGINT to this process, its KeyboardInterrupt lost as in a gc callback of jax's."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes, soon after the kill
            pass
    except KeyboardInterrupt:
        pass  # "Exception ignored in: <function _xla_gc_callback ...>"


@main_thread_only
def test_ctrl_c_stops_between_shards_even_when_swallowed_and_the_sweep_resumes(
    tmp_path, monkeypatch
):
    grid = {"scale": [1.0, 2.0, 3.0]}
    handler = signal.getsignal(signal.SIGINT)
    original = sweep_run.compute_shard
    calls = []

    def first_swallows(*args, **kw):
        calls.append(args)
        out = original(*args, **kw)
        if len(calls) == 1:
            _swallowed_interrupt()
        return out

    monkeypatch.setattr(sweep_run, "compute_shard", first_swallows)
    with pytest.raises(KeyboardInterrupt):
        sweep("toy", ToyConfig(), grid, folder=tmp_path, shard_size=1, progress=False)
    assert len(calls) == 1  # stopped at the first shard boundary
    assert len(list((tmp_path / "shards").glob("*.nc"))) == 1  # the finished shard is kept
    assert signal.getsignal(signal.SIGINT) is handler  # the previous handler is back

    calls.clear()
    monkeypatch.setattr(
        sweep_run, "compute_shard", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    resumed = sweep("toy", ToyConfig(), grid, folder=tmp_path, shard_size=1, progress=False)
    assert len(calls) == 2 and list(resumed.status.values) == ["ok"] * 3
    whole = sweep("toy", ToyConfig(), grid, progress=False)
    xr.testing.assert_allclose(resumed.y_per_seed, whole.y_per_seed)


@main_thread_only
def test_the_sigint_handler_raises_at_once_and_records_the_interrupt():
    handler = signal.getsignal(signal.SIGINT)
    with interrupts() as seen:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        assert seen.seen
        with pytest.raises(KeyboardInterrupt):
            seen.check()
    assert signal.getsignal(signal.SIGINT) is handler


def test_an_interrupted_sweep_command_says_how_to_resume(tmp_path, monkeypatch):
    original = sweep_run.compute_shard
    calls = []

    def second_interrupts(*args, **kw):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kw)

    monkeypatch.setattr(sweep_run, "compute_shard", second_interrupts)
    with pytest.raises(SystemExit) as exit_info:
        _sweep(tmp_path, "--grid", "scale=1,2,3", "--shard-size", "1")
    message = str(exit_info.value.code)
    assert "interrupted; 1 finished shard(s) kept" in message
    assert "--run-id x to resume" in message
    assert len(calls) == 2
