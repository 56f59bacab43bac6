"""Run inside a fresh virtual environment holding only ``pip install .`` (no extras).

The estimators must import and run with jax, numpy and xarray alone; the model stack and
plotting must not have been installed; the models must say which extra they need.
"""

import importlib.metadata as metadata
import subprocess
import sys

import jax
import numpy as np

HEAVY = ("flax", "optax", "numpyro", "equinox", "matplotlib")


def installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


pulled = [name for name in HEAVY if installed(name)]
assert not pulled, f"the estimator install pulled in {pulled}"

from bayescortex.analysis import redundancy_summary  # noqa: E402

rng = np.random.default_rng(0)
signal = np.repeat([-0.2, 0.0, 0.2], 200)
counts = 10 + signal[:, None] * rng.normal(size=8) + rng.normal(size=(signal.size, 8))
ds = redundancy_summary(counts, signal, key=jax.random.key(0))
assert np.isfinite(float(ds["information_combined"])), ds
# What a user does next: save the result and read it back (h5netcdf needs its h5py backend).
import xarray as xr  # noqa: E402

ds.to_netcdf("summary.nc")
with xr.open_dataset("summary.nc") as back:
    assert float(back["information_combined"]) == float(ds["information_combined"])

try:
    import bayescortex.models  # noqa: F401
except ModuleNotFoundError as error:
    assert "bayescortex[models]" in str(error), error
else:
    raise AssertionError("bayescortex.models imported without the [models] extra")
cli = [sys.executable, "-m", "bayescortex.experiments.cli"]
out = subprocess.run([*cli, "run", "redundancy"], capture_output=True, text=True)
assert out.returncode != 0 and "bayescortex[models]" in out.stderr, out
assert "equinox is not installed" in out.stderr, out.stderr
print(f"estimators alone: OK (none of {', '.join(HEAVY)} installed)")
