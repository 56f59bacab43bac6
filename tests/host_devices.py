"""Run a Python script in a child process whose CPU is split into host devices (the count is
fixed when jax starts, so a test that needs several devices cannot set it in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_on_host_devices(script: str, n_devices: int | None, *args: str, timeout: float):
    """``python -c script *args`` from the project root with ``n_devices`` CPU devices (None:
    the count left unchosen, ``XLA_FLAGS`` and ``JAX_NUM_CPU_DEVICES`` removed); returns the
    completed process (stdout and stderr as text)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env["JAX_PLATFORMS"] = "cpu"
    if n_devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    return subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
