"""Reference numbers: a small run of each command, computed through the same entry points as
the command line, kept in ``tests/reference_numbers.json``.

A refactor must not change a number: ``tests/experiments/test_same_numbers.py`` (slow)
recomputes these runs and compares them with the stored values. When a change is meant to
change numbers (a new estimator, a fixed bug, another jax release), regenerate the file on
purpose and say why in the commit::

    python -m tests.reference          # from the project root; about 3 min on 2 cores

The file records the jax version and platform it was computed with.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import jax
import numpy as np
import xarray as xr

PATH = Path(__file__).with_name("reference_numbers.json")
MAX_SIZE = 4096
"""Variables with more elements than this are left out (the file stays small)."""


def configs() -> dict:
    """The small configuration of each command (the command line's defaults otherwise)."""
    from bayescortex.experiments import bci, redundancy, training

    return {
        "redundancy": redundancy.RedundancyConfig(
            seeds=2, sessions=1, neurons=12, units=6, trials_per_session=16, batch=8,
            record_trials=10, zero_blocks=2, coherences=(6.0, 12.0), samples=12, presignal=3,
            subset_size=6, subsets=6, bootstrap=4, bootstrap_subsets=3, controls=False, chunk=8,
        ),
        "bci": bci.BCIConfig(
            variants=("vectorized", "scalar", "blocked"), seeds=2, sessions=2, neurons=10,
            targets=4, trials=12, steps=20, calibration_trials=50, record_trials=8, bootstrap=50,
        ),
        "train": training.TrainConfig(
            sessions=2, neurons=12, units=6, trials_per_session=16, batch=8, record_trials=8,
            samples=12, presignal=3, bins=3,
        ),
    }  # fmt: skip


SWEEP_GRID = {"learning_rate": [0.02, 0.1]}
"""The sweep: the redundancy configuration at two learning rates."""


def _numbers(ds: xr.Dataset) -> dict:
    out = {}
    for name in sorted(ds.data_vars):
        values = np.asarray(ds[name].values)
        if values.dtype.kind in "fiub" and values.size <= MAX_SIZE:
            out[str(name)] = values.astype(float).round(7).tolist()
    return out


def compute() -> dict:
    """Every command's small run: its Dataset's numeric variables (effects included)."""
    from bayescortex.experiments import experiment_named, training
    from bayescortex.experiments.sweep import sweep

    cfg = configs()
    found = {}
    for name in ("redundancy", "bci"):
        exp = experiment_named(name)
        found[name] = _numbers(exp.add_effects(exp.run_one(cfg[name], progress=False)))
    found["train"] = _numbers(training.train(cfg["train"], progress=False)[1])
    swept = sweep("redundancy", cfg["redundancy"], SWEEP_GRID, progress=False)
    found["sweep"] = _numbers(swept)
    return found


def main() -> None:
    numbers = compute()
    meta = {
        "jax": jax.__version__,
        "platform": platform.machine(),
        "python": sys.version.split()[0],
    }
    lines = [f'{{"computed_with": {json.dumps(meta)}, "numbers": {{']
    for i, (command, variables) in enumerate(numbers.items()):
        lines.append(f"{json.dumps(command)}: {{")  # one variable a line: readable diffs
        rows = [
            f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
            for k, v in variables.items()
        ]
        lines.append(",\n".join(rows))
        lines.append("}," if i < len(numbers) - 1 else "}")
    PATH.write_text("\n".join(lines) + "\n}}\n")
    print(f"written {PATH} ({PATH.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
