"""One apical gain in both experiments: ``apical_gain`` (g_a) blocks the top-down drive of the
sensory neurons in the redundancy model as it blocks the instructive signal of the BCI model.

Exact checks: with g_a = 0 at recording, the recorded neurons cannot see the learned feedback,
so a trained model's block equals the naive model's block on the same keys, bit for bit (the
redundancy change is 0 by construction); without the block the two differ. With g_a = 0 during
learning, the feedback still learns (the middle layer reads the neurons bottom-up, and the
feedback's gradient lives there): the redundancy model's learning is not instructed through
the sensory dendrites, unlike the BCI model's, whose learning the block abolishes.
"""

import dataclasses

import jax
import numpy as np
import pytest

from bayescortex.experiments import blocks, protocol
from bayescortex.experiments.bci import BCIConfig
from bayescortex.experiments.redundancy import RedundancyConfig
from bayescortex.experiments.redundancy import pipeline as P

TINY = RedundancyConfig(
    seeds=1, sessions=1, neurons=12, units=6, trials_per_session=32, batch=8,
    record_trials=10, zero_blocks=2, coherences=(6.0, 12.0), samples=12, presignal=3, bins=3,
    subset_size=6, subsets=6, bootstrap=4, bootstrap_subsets=3, controls=False, chunk=8,
    kappa_o=0.0, choice_temperature=0.0,
)  # fmt: skip
"""Deterministic choices: at this size (12 samples) a choice sampled from the belief hardly
depends on kappa_o, so 32 reward trials rarely move it from 0."""


def test_one_parameter_of_the_same_name_and_range_in_both_configs():
    for cls in (RedundancyConfig, BCIConfig):
        assert cls().apical_gain == 1.0
        with pytest.raises(ValueError, match="apical_gain"):
            dataclasses.replace(cls(), apical_gain=1.5)
    table = {
        "none": (0.7, 0.7), "learning": (0.0, 0.7), "recording": (0.7, 0.0), "both": (0.0, 0.0),
    }  # fmt: skip
    for block, (learning, recording) in table.items():
        _, hyper = dataclasses.replace(TINY, apical_gain=0.7, apical_block=block).split()
        assert (float(hyper.apical_learning), float(hyper.apical_recording)) == pytest.approx(
            (learning, recording)
        )
    with pytest.raises(ValueError, match="apical_block"):
        dataclasses.replace(TINY, apical_block="sometimes")


# Compiled once per shape (op by op, every scan inside compiled on each call: 28 s more).
_train = jax.jit(protocol.train_session, static_argnums=(0, 4))
_record = jax.jit(blocks.record, static_argnums=0)


def _trained_and_naive(config):
    static, hyper = config.split()
    key = P.seed_keys(config.seed, 1)[0]
    naive = protocol.init_state(static.protocol, hyper, key)
    trained, _ = _train(static.protocol, hyper, naive, jax.random.fold_in(key, 1), static.task)
    return static, hyper, key, naive, trained


def _counts(static, hyper, model, key):
    conds = P.main_conditions(static)
    stats = _record(
        static.protocol, hyper, model, jax.random.fold_in(key, 7), jax.random.fold_in(key, 8),
        conds,
    )  # fmt: skip
    return np.asarray(stats.moments.total), np.asarray(stats.trials.responses)


@pytest.fixture(scope="module")
def blocked_at_recording():
    return _trained_and_naive(dataclasses.replace(TINY, apical_block="recording"))


def test_blocked_at_recording_the_neurons_do_not_see_what_was_learned(blocked_at_recording):
    static, hyper, key, naive, trained = blocked_at_recording
    kappa = float(np.max(np.asarray(trained.model.feedback.kappa_o)))
    assert kappa > 0.05  # the feedback learned (learning was not blocked)
    before = _counts(static, hyper, naive.model, key)
    after = _counts(static, hyper, trained.model, key)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    # Not blocked: the learned feedback reaches the neurons and changes their counts.
    open_hyper = dataclasses.replace(hyper, apical_recording=np.float32(1.0))
    before = _counts(static, open_hyper, naive.model, key)
    after = _counts(static, open_hyper, trained.model, key)
    assert not np.array_equal(before[1], after[1])


def test_blocked_during_learning_the_feedback_still_learns():
    # The redundancy model's prediction, opposite to the BCI model's: its feedback learns in
    # the middle layer, which reads the neurons bottom-up whatever g_a.
    _, _, _, naive, blocked = _trained_and_naive(dataclasses.replace(TINY, apical_block="learning"))
    _, _, _, _, open_ = _trained_and_naive(TINY)
    start = float(np.max(np.asarray(naive.model.feedback.kappa_o)))
    learned = [float(np.max(np.asarray(s.model.feedback.kappa_o))) for s in (blocked, open_)]
    assert start == 0.0
    assert min(learned) > 0.05, learned
