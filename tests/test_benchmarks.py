"""Every benchmark's ``--quick`` mode runs to the end (marker ``examples``; a CI step).

The benchmarks print ratios measured in one run; their full sizes are for people, their quick
sizes keep them from rotting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("bench_*.py"))


def test_benchmarks_are_found():
    assert len(BENCHMARKS) >= 5


@pytest.mark.examples
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_quick_mode_runs(script, tmp_path):
    out = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, f"{script.name}:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert out.stdout.strip(), f"{script.name} printed nothing"


@pytest.mark.examples
def test_profile_splits_the_trials_over_two_host_devices(tmp_path):
    """``bench_profile.py --devices 2`` times the split sweep in a child process: it must
    print the split table and its ratios, or say that the child did not finish in time (the
    multi-device XLA:CPU runtime can hang; the benchmark reports that instead of hanging)."""
    script = next(p for p in BENCHMARKS if p.name == "bench_profile.py")
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--devices", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    split = out.stdout.split("trials split over 2 devices:")[1]
    assert "failed" not in split, split
    assert "x the throughput" in split or "did not finish" in split, split
