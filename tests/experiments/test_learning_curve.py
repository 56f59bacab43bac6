"""The learning curve of a redundancy run, on planted datasets with exact answers."""

import json

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments.redundancy.learning_curve import (
    late_gain,
    learning_curve,
    learning_curve_text,
)


def planted(hardest, slopes, trials=100, seeds=2):
    """A run's dataset with the hardest contrast's accuracy per session (both signs, every
    seed) and the psychometric slope per session given."""
    sessions = np.arange(len(hardest))
    contrast = np.array([0.0, 3.0, -3.0, 6.0, -6.0])
    acc = np.full((seeds, sessions.size, 2, contrast.size), 0.9)
    acc[..., 0] = 0.5
    acc[..., 1:3] = np.asarray(hardest)[None, :, None, None]
    per_seed = np.broadcast_to(np.asarray(slopes)[None, :, None], (seeds, sessions.size, 2))
    coords = dict(seed=np.arange(seeds), session=sessions, mode=["engaged", "passive"])
    return xr.Dataset(
        {
            "accuracy_by_contrast": (("seed", "session", "mode", "contrast"), acc),
            "accuracy_per_seed": (("seed", "session", "mode"), acc[..., 1:].mean(-1)),
            "psychometric_slope_per_seed": (("seed", "session", "mode"), per_seed),
            "parameters": (
                ("seed", "session", "parameter"),
                np.broadcast_to(sessions[None, :, None] * [0.1, 0.2], (seeds, sessions.size, 2)),
            ),
        },
        coords={**coords, "contrast": contrast,
                "parameter": ["kappa_o_cardinal", "p_cardinal_given_task"]},
        attrs={"config": json.dumps({"record_trials": trials}), "task": "cardinal"},
    )  # fmt: skip


def test_curve_values_are_exact():
    ds = planted([0.5, 0.6, 0.7, 0.8], [0.0, 0.2, 0.4, 0.5])
    curve = learning_curve(ds)
    assert curve.attrs["hardest_contrast"] == 3.0
    np.testing.assert_allclose(curve.hardest_accuracy, [0.5, 0.6, 0.7, 0.8])
    # 2 signs x 100 trials x 2 seeds = 400 trials per session.
    np.testing.assert_allclose(curve.hardest_se[1], np.sqrt(0.6 * 0.4 / 400))
    np.testing.assert_allclose(curve.threshold[1:], np.log(3) / np.array([0.2, 0.4, 0.5]))
    assert np.isinf(curve.threshold[0])  # a slope of 0: no contrast gives 75%
    np.testing.assert_allclose(curve.kappa_o, [0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(curve.p_task_given_task, [0.0, 0.2, 0.4, 0.6])


def test_late_gain_separates_a_curve_from_a_step():
    """Rising after session 1 by 0.2 at 400 trials a session: the interval excludes 0; a step
    to the plateau in session 1: it includes 0."""
    value, low, high = late_gain(learning_curve(planted([0.5, 0.6, 0.7, 0.8], [0, 1, 2, 3])))
    se = np.hypot(np.sqrt(0.6 * 0.4 / 400), np.sqrt(0.8 * 0.2 / 400))
    np.testing.assert_allclose((value, low, high), (0.2, 0.2 - 1.959964 * se, 0.2 + 1.959964 * se))
    assert low > 0
    _, low, high = late_gain(learning_curve(planted([0.5, 0.8, 0.8, 0.8], [0, 1, 1, 1])))
    assert low < 0 < high
    assert np.isnan(late_gain(learning_curve(planted([0.5, 0.8], [0, 1])))[0])


def test_trials_given_or_read_from_the_saved_config():
    ds = planted([0.5, 0.6, 0.7], [0.1, 0.2, 0.3], trials=100)
    np.testing.assert_allclose(
        learning_curve(ds).hardest_se, learning_curve(ds, trials_per_contrast=100).hardest_se
    )
    with pytest.raises(ValueError, match="trials_per_contrast"):
        learning_curve(ds.drop_attrs())


def test_text_has_a_row_per_session():
    text = learning_curve_text(planted([0.5, 0.6, 0.7], [0.1, 0.2, 0.3]))
    rows = text.splitlines()
    assert len(rows) == 2 + 3 + 1
    assert "kappa_o" in rows[1] and "still learning after session 1" in rows[-1]
