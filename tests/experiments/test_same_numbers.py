"""Refactors change no number: a small run of ``run redundancy``, ``run bci``, ``train`` and
``sweep``, through the command line's entry points, against the values stored in
``tests/reference_numbers.json`` (computed by ``tests/reference.py``, which says how to
regenerate them when a change is meant to change numbers). Float rounding apart: the same
jax and XLA give the same draws, so the tolerance is tight."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from tests import reference

pytestmark = pytest.mark.slow  # four small runs, about 3 min on 2 cores


@pytest.fixture(scope="module")
def stored():
    return json.loads(reference.PATH.read_text())


@pytest.fixture(scope="module")
def computed():
    return reference.compute()


@pytest.mark.parametrize("command", ["redundancy", "bci", "train", "sweep"])
def test_the_same_numbers_as_the_reference(stored, computed, command):
    made_with = stored["computed_with"]["jax"]
    before, now = stored["numbers"][command], computed[command]
    assert len(before) > 10, sorted(before)
    missing = sorted(set(before) - set(now))
    assert not missing, f"{command}: variables gone: {missing}"
    for name, values in before.items():
        np.testing.assert_allclose(
            np.asarray(now[name], float), np.asarray(values, float), rtol=1e-4, atol=1e-6,
            err_msg=f"{command}: {name} changed (reference computed with jax {made_with}, "
            f"now {jax.__version__}); if meant, regenerate: python -m tests.reference",
        )  # fmt: skip
