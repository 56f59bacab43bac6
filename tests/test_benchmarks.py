"""Every benchmark's ``--quick`` mode runs to the end (marker ``examples``; a CI step).

The benchmarks print ratios measured in one run; their full sizes are for people, their quick
sizes keep them from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("bench_*.py"))


def test_benchmarks_are_found():
    assert len(BENCHMARKS) >= 5


def _bench(script: Path, *args: str, cwd: Path, timeout: float = 900):
    """Run a benchmark script in a child process (headless plots)."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _script(name: str) -> Path:
    return next(p for p in BENCHMARKS if p.name == name)


@pytest.mark.examples
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_quick_mode_runs(script, tmp_path):
    out = _bench(script, "--quick", cwd=tmp_path)
    assert out.returncode == 0, f"{script.name}:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert out.stdout.strip(), f"{script.name} printed nothing"


@pytest.mark.examples
def test_profile_splits_the_trials_over_two_host_devices(tmp_path):
    """``bench_profile.py --devices 2`` times the split sweep in a child process: it must
    print the split table and its ratios, or say that the child did not finish in time (the
    multi-device XLA:CPU runtime can hang; the benchmark reports that instead of hanging)."""
    out = _bench(_script("bench_profile.py"), "--quick", "--devices", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    split = out.stdout.split("trials split over 2 devices:")[1]
    assert "failed" not in split, split
    assert "x the throughput" in split or "did not finish" in split, split


@pytest.mark.examples
def test_program_memory_lists_every_program_at_one_and_the_presets_seeds(tmp_path):
    """``bench_redundancy.py --programs`` compiles each program (nothing runs) and reports what
    XLA reserves for it, at 1 seed and the preset's (quick: 2)."""
    out = _bench(_script("bench_redundancy.py"), "--quick", "--programs", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout)["programs"]
    programs = {"training", "recording", "measures", "classic baselines"}
    assert {(r["program"], r["seeds"]) for r in rows} == {(p, s) for p in programs for s in (1, 2)}
    for r in rows:
        assert r["temp_gib"] > 0 and r["output_gib"] > 0, r
    # The recording's outputs (per seed statistics) double with the seeds.
    rec = {r["seeds"]: r["output_gib"] for r in rows if r["program"] == "recording"}
    assert rec[2] == pytest.approx(2 * rec[1], rel=0.05)


GPU_CHECK = BENCHMARKS[0].parent / "gpu_check.py"
STEP_KEYS = {
    "name": str, "command": list, "status": str, "reason": (str, type(None)),
    "exit_code": (int, type(None)), "timed_out": bool, "timeout_seconds": (float, type(None)),
    "wall_seconds": (float, type(None)), "compile_seconds": (float, type(None)),
    "peak_host_rss_mib": (float, type(None)), "gpu_memory_before_mib": (float, type(None)),
    "peak_gpu_memory_mib": (float, type(None)), "stdout_log": (str, type(None)),
    "stderr_log": (str, type(None)), "stderr_tail": str, "result": (dict, type(None)),
}  # fmt: skip
TOP_KEYS = {
    "schema": str, "created": str, "argv": list, "dry_run": bool, "ok": bool,
    "failed_steps": list, "budget_seconds": float, "wall_seconds": float, "workdir": str,
    "machine": dict, "steps": dict,
}  # fmt: skip
MACHINE_KEYS = {
    "hostname": str, "platform": str, "python": str, "cpu_count": int, "gpus": list,
    "cuda_version": (str, type(None)), "cuda_extra": str, "git_commit": (str, type(None)),
    "env": dict, "jax_version": str, "jaxlib_version": str, "jax_backend": str,
    "jax_devices": list,
}  # fmt: skip
GIBBS_ROW = {
    "neurons": int, "units": int, "trials": int, "compile_seconds": float, "run_seconds": float,
    "trials_per_second": float, "gflops": float, "fraction_of_matmul": float, "vs_matlab": float,
    "peak_device_bytes": (int, type(None)),
}  # fmt: skip


def _check_keys(obj: dict, keys: dict, where: str) -> None:
    for key, kind in keys.items():
        assert key in obj, f"{where}: no {key!r}"
        assert isinstance(obj[key], kind), f"{where}.{key}: {obj[key]!r} is not {kind}"


def _gpu_check(tmp_path, *flags, timeout=900):
    out = _bench(
        GPU_CHECK, "--dry-run", "--out", str(tmp_path / "check.json"), *flags, cwd=tmp_path,
        timeout=timeout,
    )  # fmt: skip
    path = tmp_path / "check.json"
    assert path.exists(), f"no JSON written:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    report = json.loads(path.read_text())
    _check_keys(report, TOP_KEYS, "report")
    _check_keys(report["machine"], MACHINE_KEYS, "machine")
    assert report["schema"] == "bayescortex.gpu_check/1" and report["dry_run"]
    for name, step in report["steps"].items():
        _check_keys(step, STEP_KEYS, name)
        assert step["name"] == name
        assert step["status"] in ("ok", "failed", "timeout", "skipped")
    assert report["steps"]["install"]["status"] == "skipped"  # a dry run installs nothing
    return out, report


@pytest.mark.examples
def test_gpu_check_dry_run_writes_the_documented_json(tmp_path):
    """``gpu_check.py --dry-run --steps gibbs,default``: the JSON of docs/performance.md ("A GPU
    run, prepared"), every key with its type; the run's effects and criteria read back."""
    out, report = _gpu_check(tmp_path, "--steps", "gibbs,default", "--chunks", "64")
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert report["ok"] and report["failed_steps"] == []
    assert list(report["steps"]) == ["install", "gibbs", "default"]
    gibbs, default = report["steps"]["gibbs"], report["steps"]["default"]
    for step in (gibbs, default):
        assert step["status"] == "ok" and step["exit_code"] == 0 and not step["timed_out"]
        assert step["wall_seconds"] > 0 and step["peak_host_rss_mib"] > 0
        assert step["compile_seconds"] > 0
    assert gibbs["result"]["backend"] == "cpu"
    assert [r["trials"] for r in gibbs["result"]["rows"]] == [64]
    for row in gibbs["result"]["rows"]:
        _check_keys(row, GIBBS_ROW, "gibbs row")
    result = default["result"]
    assert "--run-id" in default["command"] and Path(result["run_dir"]).is_dir()
    criteria = result["criteria"]
    assert set(criteria) == {"pass", "fail", "na"} and sum(criteria.values()) > 0
    assert result["wall_time_line"].startswith("wall time:")
    for key in ("simulation_seconds", "simulation_compile_seconds", "ms_per_trial"):
        assert isinstance(result["attrs"][key], float), key
    assert isinstance(result["attrs"]["trials_simulated"], int)
    effects = result["effects"]
    assert "change_redundancy_engaged" in effects
    assert all(len(v) == 3 and all(isinstance(x, (float, type(None))) for x in v)
               for v in effects.values())  # fmt: skip
    docs = (GPU_CHECK.parent.parent / "docs" / "performance.md").read_text()
    section = docs.split("## A GPU run, prepared")[1]
    for key in [*TOP_KEYS, *MACHINE_KEYS, *STEP_KEYS, *GIBBS_ROW, "criteria", "effects"]:
        assert f"`{key}`" in section or f".{key}`" in section, f"{key} not documented"


@pytest.mark.examples
def test_gpu_check_records_a_timed_out_step_and_fails(tmp_path):
    """A step past its timeout is killed and recorded; the check exits non-zero."""
    out, report = _gpu_check(tmp_path, "--steps", "gibbs", "--timeouts", "gibbs=2", timeout=120)
    assert out.returncode == 1
    step = report["steps"]["gibbs"]
    assert step["status"] == "timeout" and step["timed_out"] and step["exit_code"] != 0
    assert report["failed_steps"] == ["gibbs"] and not report["ok"]


@pytest.mark.examples
def test_reward_gradient_probe_reads_a_training_run(tmp_path):
    """``probe_reward_gradient.py`` on a tiny reward-trained run: one row per session with the
    documented keys; at ``choice_temperature = 1`` a sampled choice is correct with probability
    ``b`` (the final belief in the revealed category), so the pairs' mean reward and mean belief
    estimate the same accuracy (within 4 SE of their difference)."""
    from bayescortex.experiments import cli

    flags = "--sessions 1 --neurons 16 --units 8 --trials-per-session 32 --batch 16 "
    flags += "--record-trials 8 --samples 24 --presignal 4 --bins 2 --choice-temperature 1"
    cli.main(["train", *flags.split(), "--output", str(tmp_path), "--run-id", "r"])
    out = _bench(BENCHMARKS[0].parent / "probe_reward_gradient.py", str(tmp_path / "train" / "r"),
                 "--trials", "128", "--sessions", "1", "--json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["session"] == 1 and row["trials"] == 128
    for name in ("context_logit", "kappa_o"):
        for stem in (f"accuracy_{name}_pairs", f"belief_{name}_pairs", f"d_reward_{name}",
                     f"d_belief_{name}", f"spsa_{name}"):  # fmt: skip
            assert all(np.isfinite(row[stem])), (stem, row[stem])
        acc, se_acc = row[f"accuracy_{name}_pairs"]
        belief, se_belief = row[f"belief_{name}_pairs"]
        assert abs(acc - belief) < 4 * np.hypot(se_acc, se_belief), (name, acc, belief)


@pytest.mark.examples
def test_reward_gradient_probe_directions_are_unit_vectors():
    """Each probed direction is 1 at exactly its parameter and 0 elsewhere."""
    import importlib.util

    import jax

    from bayescortex.experiments import training
    from bayescortex.experiments.protocol import initial_model

    spec = importlib.util.spec_from_file_location(
        "probe", BENCHMARKS[0].parent / "probe_reward_gradient.py"
    )
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    config = training.TrainConfig(neurons=16, units=8, kappa_o=0.5)
    model = initial_model(*config.split(), jax.random.key(0))
    for task in (0, 1):
        dirs = probe.unit_directions(model, 0.2, task)
        logits = np.asarray(dirs["context_logit"].feedback.context_logits)
        assert logits[0, task] == 1 and logits.sum() == 1
        assert np.asarray(dirs["context_logit"].feedback.kappa_o).sum() == 0
        kappa = np.asarray(dirs["kappa_o"].feedback.kappa_o)
        assert kappa[task] == 1 and kappa.sum() == 1
        assert np.asarray(dirs["kappa_o"].feedback.context_logits).sum() == 0
