"""``import bayescortex.analysis`` needs only jax, numpy, xarray and jaxtyping.

The estimators are meant for users' own recordings, so importing them must not pull in the
model stack (flax, optax, numpyro, equinox), plotting (matplotlib) or the optional readers
(pynwb, pynapple, imported only when used). Checked in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("flax", "optax", "numpyro", "equinox", "matplotlib", "pynwb", "hdmf", "pynapple")


@pytest.mark.parametrize("module", ["bayescortex.analysis", "bayescortex.experiments.analyse"])
def test_import_pulls_in_no_heavy_packages(module):
    code = (
        f"import sys, {module}; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", f"{module} imports {out.stdout.strip()}"
