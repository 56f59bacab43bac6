"""Test-wide JAX settings: strict rank promotion, and a float64 switch.

Set BAYESCORTEX_X64=1 to run the whole suite in double precision (the float64 pass).
"""

import os

import jax

# The command line keeps compiled programs in the user's cache folder by default; tests that
# measure compiling or count cache hits must not depend on what an earlier run left there
# (tests/experiments/test_compilation.py checks the default and the flags explicitly).
os.environ.setdefault("BAYESCORTEX_COMPILE_CACHE", "off")

jax.config.update("jax_numpy_rank_promotion", "raise")
if os.environ.get("BAYESCORTEX_X64") == "1":
    jax.config.update("jax_enable_x64", True)
# Start the backends now, with the device count the environment chose: importing bayescortex
# starts none, and a command-line test that ran first would otherwise split the CPU
# (placement.split_cpu) for every later test of its worker.
jax.devices()
