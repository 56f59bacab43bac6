"""Test-wide JAX settings: strict rank promotion, and a float64 switch.

Set BAYESCORTEX_X64=1 to run the whole suite in double precision (the float64 pass).
"""

import os

import jax

from bayescortex.experiments.compilation import CACHE_ENV, cache_if_named  # noqa: E402

# The command line keeps compiled programs in the user's cache folder by default; a test run
# must not depend on what an earlier run left there, so the cache is off unless the run names
# a folder (.ci/run names a fresh one, shared by its steps, their worker processes and the
# command lines they start: each program is compiled once per CI run). Tests that count
# cache hits pin their own folder (tests/experiments/test_compilation.py).
os.environ.setdefault(CACHE_ENV, "off")  # also for the command lines the tests start
cache_if_named()

jax.config.update("jax_numpy_rank_promotion", "raise")
if os.environ.get("BAYESCORTEX_X64") == "1":
    jax.config.update("jax_enable_x64", True)
# Start the backends now, with the device count the environment chose: importing bayescortex
# starts none, and a command-line test that ran first would otherwise split the CPU
# (placement.split_cpu) for every later test of its worker.
jax.devices()
