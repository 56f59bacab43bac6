"""Resumed runs: a damaged first checkpoint (nothing earlier to fall back to) restarts the run
from scratch naming the file, and a resumed redundancy run reports the trials and time of the
sessions it ran in this process, not of every session."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.experiments import checkpoint, redundancy
from bayescortex.experiments.redundancy.run import trials_simulated
from bayescortex.experiments.redundancy.selection import selection_protocol
from bayescortex.experiments.session import run_sessions
from tests.experiments.test_session import step
from tests.experiments.test_sweep_pipeline import TINY


@pytest.mark.parametrize("suffix", [".eqx", ".json"])
def test_a_damaged_first_checkpoint_starts_over_naming_the_file(tmp_path, suffix):
    final, _ = run_sessions(step, jnp.zeros(2), 3, progress=False)
    run_sessions(step, jnp.zeros(2), 2, checkpoint_dir=tmp_path, config={"a": 1}, progress=False)
    path = tmp_path / f"session_0000{suffix}"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    ran = {}
    with pytest.warns(RuntimeWarning, match=rf"session_0000\{suffix}.*resuming from the start"):
        resumed, outputs = run_sessions(
            step, jnp.zeros(2), 3, checkpoint_dir=tmp_path, config={"a": 1}, progress=False,
            ran=ran,
        )  # fmt: skip
    assert ran == {"start": 0}  # started over: every session ran in this call
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(final))
    assert [float(o["after"][0]) for o in outputs] == [0.0, 1.0, 3.0, 6.0]
    assert checkpoint.checkpointed_sessions(tmp_path) == [0, 1, 2, 3]


def test_run_sessions_says_where_it_resumed(tmp_path):
    run_sessions(step, jnp.zeros(2), 1, checkpoint_dir=tmp_path, progress=False)
    ran = {}
    run_sessions(step, jnp.zeros(2), 3, checkpoint_dir=tmp_path, progress=False, ran=ran)
    assert ran == {"start": 2}
    run_sessions(step, jnp.zeros(2), 3, checkpoint_dir=tmp_path, progress=False, ran=ran)
    assert ran == {"start": 4}  # nothing left to run


def test_trials_count_the_sessions_run():
    static = dataclasses.replace(TINY, sessions=3, controls=True).split()[0]
    p = static.protocol
    # A recorded block and its held-out selection block; training: two chains per trial.
    block = p.record_trials + selection_protocol(p).record_trials
    training = 2 * p.trials_per_session
    n_controls = 6
    full = trials_simulated(static)
    assert full == static.seeds * (3 * training + 4 * 2 * block + 2 * n_controls * block)
    # Resumed at session 2: sessions 2 and 3 train and record; the last records the controls.
    assert trials_simulated(static, 2) == static.seeds * (
        2 * training + 2 * 2 * block + n_controls * block
    )
    assert trials_simulated(static, 4) == 0


@pytest.mark.slow
def test_a_resumed_run_reports_the_trials_it_ran_and_a_damaged_first_checkpoint_restarts(
    tmp_path,
):
    """One tiny run, resumed after session 0 (its trials: session 1's alone, its results those
    of the whole run), then rerun with session 0's checkpoint truncated (started over, naming
    the file: every trial again)."""
    config = dataclasses.replace(TINY, controls=True)  # the control blocks' join traced too
    static = config.split()[0]
    whole = redundancy.run(config, progress=False, checkpoint_dir=tmp_path)
    assert whole.attrs["resumed_at_session"] == 0
    assert whole.attrs["trials_simulated"] == trials_simulated(static)

    for path in tmp_path.glob("session_0001.*"):  # as if killed during session 1
        path.unlink()
    resumed = redundancy.run(config, progress=False, checkpoint_dir=tmp_path)
    assert resumed.attrs["resumed_at_session"] == 1
    p = static.protocol
    block = p.record_trials + selection_protocol(p).record_trials  # with its held-out block
    n_controls = 6  # session 1 is the last: it records the control blocks too
    ran = static.seeds * (2 * p.trials_per_session + (2 + n_controls) * block)  # session 1 alone
    assert resumed.attrs["trials_simulated"] == trials_simulated(static, 1) == ran
    for name in ("accuracy_per_seed", "redundancy_per_seed", "redundancy_resampled"):
        np.testing.assert_array_equal(resumed[name].values, whole[name].values)

    eqx = tmp_path / "session_0000.eqx"
    eqx.write_bytes(eqx.read_bytes()[: eqx.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match=r"session_0000\.eqx.*resuming from the start"):
        again = redundancy.run(config, progress=False, checkpoint_dir=tmp_path)
    assert again.attrs["resumed_at_session"] == 0
    assert again.attrs["trials_simulated"] == trials_simulated(static)
    for name in ("accuracy_per_seed", "redundancy_per_seed", "redundancy_resampled"):
        np.testing.assert_array_equal(again[name].values, whole[name].values)
