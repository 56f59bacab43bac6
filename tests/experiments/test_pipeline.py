"""The compiled pipeline: seeds as an axis, streamed statistics, no recompilation, resume.

One tiny configuration (compiled once for the module) serves every test; the checks are
equalities with the uncompiled or differently batched computation of the same numbers.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import moments_from_trials
from bayescortex.experiments import blocks, protocol
from bayescortex.experiments.compilation import compile_time
from bayescortex.experiments.placement import Placement
from bayescortex.experiments.redundancy import RedundancyConfig
from bayescortex.experiments.redundancy import pipeline as P
from bayescortex.experiments.session import run_sessions
from bayescortex.inference import inference_mode, simulate_trials
from bayescortex.models import Stimulus

TINY = RedundancyConfig(
    seeds=3, sessions=2, neurons=12, units=6, trials_per_session=16, batch=8,
    record_trials=10, zero_blocks=2, coherences=(6.0, 12.0), samples=12, presignal=3,
    subset_size=6, subsets=6, bootstrap=4, bootstrap_subsets=3, controls=False, chunk=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny():
    static, hyper = TINY.split()
    hypers, keys = _configs(hyper), P.seed_keys(TINY.seed, TINY.seeds)[None]
    states = P.init_states(static, hypers, keys)
    return static, hyper, keys, states


def _configs(*hypers):
    """Hyperparameters on a leading configuration axis."""
    return P.stack_configs(hypers)


def _close(a, b, **kw):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def _close_to_scale(a, b):
    """Equal but for rounding carried along by a few chains.

    Batches of another width round differently inside the sampler, and a Gibbs chain carries
    a rounding difference along (through a middle-layer unit that flips one sweep earlier),
    so a few trials end up slightly different. Most entries agree to 1e-3 relative; none is
    off by more than 2% of the array's scale. A wrong statistic (centring, weighting, level
    assignment) is off everywhere, by far more.
    """
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        scale = np.max(np.abs(y)) + 1e-6
        assert np.max(np.abs(x - y)) <= 0.02 * scale, (x, y)
        assert np.mean(np.abs(x - y) <= 1e-3 * scale) >= 0.9, (x, y)


def test_streamed_statistics_equal_stored_trials(tiny):
    """Recording streamed in chunks gives the statistics of the stored trials."""
    static, hyper, keys, states = tiny
    p = static.protocol
    model = jax.tree.map(lambda a: a[0, 0], states.model)
    conds = P.main_conditions(static)
    key = jax.random.key(7)
    stats = jax.jit(blocks.record, static_argnums=0)(p, hyper, model, key, key, conds)

    level, contrast = protocol.trial_table(p, hyper.coherences)
    levels = np.asarray(protocol.signed_levels(TINY.coherences, np))
    assert levels.tolist() == [0.0, 6.0, -6.0, 12.0, -12.0]
    np.testing.assert_array_equal(contrast, levels[level])
    settings = protocol.record_settings(p, hyper)
    stimulus = Stimulus(frame_every=p.frame_every)
    for c, (mode, cue) in enumerate((("engaged", P.TASK_CUE), P.PASSIVE[static.passive])):
        rec = simulate_trials(
            key, model, stimulus, jnp.zeros(level.size, int), jnp.asarray(levels[level]),
            settings, inference_mode(mode), cue=cue,
        )  # fmt: skip
        x = jnp.concatenate([rec.counts, rec.counts.sum(1, keepdims=True)], axis=1)
        stored = moments_from_trials(
            x, jnp.asarray(level), jnp.ones(level.size), n_levels=p.n_levels
        )
        streamed = blocks.replicate_moments(jax.tree.map(lambda a, c=c: a[c], stats), 0)
        _close_to_scale(streamed, stored)
        hits = np.asarray(rec.choice) == (levels[level] < 0)
        np.testing.assert_allclose(
            np.asarray(stats.correct[c, 0]), np.bincount(level, weights=hits), atol=1e-6
        )


@pytest.mark.slow  # 45 s of the default suite's budget; the chunk invariance of a whole session
def test_chunking_is_invisible(tiny):
    """In float64 (where rounding cannot flip a unit), the chunk size changes nothing."""
    static, _, _, _ = tiny
    with jax.enable_x64(True):
        hyper = static_hyper = TINY.split()[1]
        hyper = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), static_hyper)
        key = jax.random.key(3)
        model = protocol.init_state(static.protocol, hyper, key).model
        model = jax.tree.map(
            lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model
        )
        conds = P.main_conditions(static)
        record = jax.jit(blocks.record, static_argnums=0)
        small = record(static.protocol, hyper, model, key, key, conds)
        whole = record(static.protocol._replace(chunk=1000), hyper, model, key, key, conds)
    assert small.moments.total.dtype == jnp.float64
    _close(small, whole, rtol=1e-8, atol=1e-8)


@pytest.mark.slow  # three sessions with training: about 80 s
def test_seeds_are_independent_lanes(tiny):
    """Each seed's result depends on its own state and key only: permuting the seeds permutes
    the results, and replacing one seed leaves the others unchanged. The trained states are
    equal bit for bit; the measures to float32 rounding (1e-6 relative), because XLA:CPU may
    round a vectorised reduction differently in another lane of the seed axis (measured:
    7e-7 relative on a per-coherence estimate).

    (Separate calls with one seed run at another batch width, which rounds differently in
    float32; the float64 chunking test above shows such differences are rounding only.)"""
    static, hyper, keys, states = tiny
    hypers = _configs(hyper)
    together = P.session_step(static, hypers, states, keys, 1)
    perm = jnp.array([2, 0, 1])
    permuted = P.session_step(
        static, hypers, jax.tree.map(lambda a: a[:, perm], states), keys[:, perm], 1
    )
    other = jax.tree.map(lambda a: a.at[:, 0].set(a[:, 2]), states)
    replaced = P.session_step(static, hypers, other, keys.at[:, 0].set(keys[:, 2]), 1)
    for first, second in (
        (jax.tree.map(lambda a: a[:, perm], together), permuted),
        (jax.tree.map(lambda a: a[:, 1:], together), jax.tree.map(lambda a: a[:, 1:], replaced)),
    ):
        _close(first[0], second[0], rtol=0, atol=0)  # the states
        _close(first[1], second[1], rtol=1e-6, atol=1e-7)  # the session's output


def test_recording_and_measures_call_no_library_kernel(tiny):
    """The recording and the measures split over CPU host devices, where library kernels
    (LAPACK, TopK) deadlocked: their programs must call none. The check sees one where there
    is one (a TopK beside the measures' sort)."""
    static, hyper, keys, states = tiny
    args = (_configs(hyper), states, keys, 0)
    record = P.record_configs.lower(static, Placement(), *args, P.main_conditions(static))
    stats, dprimes = jax.eval_shape(
        lambda *a: P.record_configs(static, Placement(), *a, P.main_conditions(static)), *args
    )
    dprime = jax.ShapeDtypeStruct(dprimes.shape[:2] + dprimes.shape[3:], dprimes.dtype)
    measures = P.measure_configs.lower(static, Placement(), args[0], stats, dprime, keys, 0, 0)
    for program in (record, measures):
        text = program.as_text()
        assert "custom_call" not in text and "top_k" not in text
    with_topk = jax.jit(lambda u: jax.lax.top_k(u, 2)[1]).lower(jnp.ones((3, 5))).as_text()
    assert "top_k" in with_topk or "custom_call" in with_topk


def test_random_subsets_are_topk_subsets():
    """Drawn with a sort, the subsets are those (and in the order) top_k would give."""
    from bayescortex.analysis.subsets import random_subsets

    key = jax.random.key(5)
    u = jax.random.uniform(key, (200, 64))
    np.testing.assert_array_equal(random_subsets(key, 64, 16, 200), jax.lax.top_k(u, 16)[1])


@pytest.mark.slow  # 120 s: the largest single item of the default suite's 10-minute budget
def test_no_recompilation_across_sessions_seeds_modes_and_hyperparameters(tiny):
    static, hyper, keys, states = tiny
    P.session_step(static, _configs(hyper), states, keys, 1)  # compiled (or cached) here
    other = _configs(
        dataclasses.replace(hyper, learning_rate=0.02, odds_increment=0.1, choice_temperature=0.0)
    )
    other_keys = P.seed_keys(5, TINY.seeds)[None]
    with compile_time() as ct:
        for session, h, k in ((2, _configs(hyper), keys), (1, other, keys), (3, other, other_keys)):
            jax.block_until_ready(P.session_step(static, h, states, k, session))
    assert ct.seconds == 0.0
    # The modes are an array axis too: every control pair (other modes, cues, tasks, frozen
    # noise) reuses the main conditions' recording program (eager glue around it may compile
    # small ops of its own).
    programs = (P.record_configs._cache_size(), P.measure_configs._cache_size())
    jax.block_until_ready(P.controls_step(static, other, states, other_keys, 2))
    assert (P.record_configs._cache_size(), P.measure_configs._cache_size()) == programs


@pytest.mark.slow  # with the next one, 100 s (the session program's compilation): budget
def test_learning_rate_is_traced_and_acts(tiny):
    static, hyper, keys, states = tiny
    slow, fast = (
        P.session_step(static, _configs(dataclasses.replace(hyper, learning_rate=r)), states,
                       keys, 1)
        for r in (0.005, 0.05)
    )  # fmt: skip
    k_slow = np.abs(np.asarray(slow[0].model.feedback.kappa_o)).mean()
    k_fast = np.abs(np.asarray(fast[0].model.feedback.kappa_o)).mean()
    assert k_fast > 3 * k_slow > 0
    # The adult sensory coupling stays fixed at sensory_rate = 0.
    delta = np.asarray(fast[0].model.feedback.delta)
    np.testing.assert_array_equal(delta, np.float32(0.08).astype(delta.dtype))


def test_passive_fixation_block_depends_on_learning_but_the_cut_does_not(tiny):
    """Under the fixation cue the responses change with the learned task structure (the
    passive null is an outcome, not a construction); with the top-down path cut (the authors'
    passive definition) the trained and the naive model respond identically."""
    static, hyper, keys, states = tiny
    naive = jax.tree.map(lambda a: a[0, 0], states.model)
    trained = eqx.tree_at(lambda m: m.feedback.kappa_o, naive, jnp.array([2.0, 0.0]))
    record = jax.jit(blocks.record, static_argnums=0)
    key = jax.random.key(11)
    conds = blocks.conditions(
        [inference_mode("engaged"), inference_mode("cut")], [static.task] * 2,
        [P.FIXATION_CUE, P.TASK_CUE],
    )  # fmt: skip
    before = record(static.protocol, hyper, naive, key, key, conds)
    after = record(static.protocol, hyper, trained, key, key, conds)
    fixation = [jax.tree.map(lambda a: a[0], s.moments) for s in (before, after)]
    # The responses (level sums and the kept zero-signal trials), not the choices.
    cut = [jax.tree.map(lambda a: a[1], (s.moments, s.trials.responses)) for s in (before, after)]
    assert not np.allclose(np.asarray(fixation[0].total), np.asarray(fixation[1].total))
    _close(cut[0], cut[1], rtol=0, atol=0)


@pytest.mark.slow  # the default suite checks resume on cheap steps (test_session.py)
def test_resumed_run_equals_uninterrupted(tiny, tmp_path):
    static, hyper, keys, states = tiny

    def step(s, session):
        return P.session_step(static, _configs(hyper), s, keys, session)

    config = {"name": "tiny"}
    _, full = run_sessions(step, states, 2, progress=False)
    run_sessions(step, states, 1, checkpoint_dir=tmp_path, config=config, progress=False)
    _, resumed = run_sessions(step, states, 2, checkpoint_dir=tmp_path, config=config,
                              progress=False)  # fmt: skip
    _close(full, resumed, rtol=0, atol=0)
    with pytest.raises(ValueError, match="name"):
        run_sessions(step, states, 2, checkpoint_dir=tmp_path, config={"name": "other"},
                     progress=False)  # fmt: skip


def test_poisson_weights_do_not_depend_on_batching():
    from bayescortex.analysis import poisson_weights

    key = jax.random.key(0)
    ids = jnp.arange(10)
    whole = poisson_weights(key, ids, 5)
    parts = jnp.concatenate([poisson_weights(key, ids[:4], 5), poisson_weights(key, ids[4:], 5)], 1)
    np.testing.assert_array_equal(whole, parts)
    assert bool(jnp.all(whole[0] == 1))
    assert abs(float(jnp.mean(poisson_weights(key, jnp.arange(4000), 5)[1:])) - 1) < 0.05


@pytest.mark.slow
def test_vmap_over_seeds_equals_separate_calls_float64():
    """A session (training and recording) of 3 seeds at once equals 3 calls of one seed each.
    In float64, so that rounding (which differs between batch widths) cannot flip a unit."""
    with jax.enable_x64(True):
        static, hyper = TINY.split()
        hyper = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), hyper)
        hypers, keys = _configs(hyper), P.seed_keys(TINY.seed, TINY.seeds)[None]
        states = P.init_states(static, hypers, keys)
        assert states.model.fields.dtype == jnp.float64
        _, together = P.session_step(static, hypers, states, keys, 1)
        one = static._replace(seeds=1)
        for s in range(TINY.seeds):
            pick = jax.tree.map(lambda a, s=s: a[:, s : s + 1], states)
            _, alone = P.session_step(one, hypers, pick, keys[:, s : s + 1], 1)
            _close(
                jax.tree.map(lambda a, s=s: a[:, s : s + 1], together), alone, rtol=1e-7,
                atol=1e-9,
            )  # fmt: skip


def test_frozen_noise_repeats_the_images_not_the_chains(tiny):
    """Frozen noise: every zero-signal trial sees the same frames (identical energies), while
    the chains stay independent (counts and choices vary); fresh noise: energies vary. The
    kept zero-signal trials carry the block's bootstrap weights (row 0: the data)."""
    static, hyper, _, states = tiny
    p = static.protocol
    model = jax.tree.map(lambda a: a[0, 0], states.model)
    main = P.main_conditions(static)
    frozen = main._replace(frozen=jnp.ones_like(main.frozen))
    key = jax.random.key(11)
    record = jax.jit(blocks.record, static_argnums=0)
    fresh, fixed = (record(p, hyper, model, key, key, c).trials for c in (main, frozen))
    assert fixed.energy.shape == (2, p.zero_trials, fixed.energy.shape[-1])
    # (identical frames; lanes of a vectorised batch may round the energy differently)
    np.testing.assert_allclose(
        fixed.energy, np.broadcast_to(fixed.energy[:, :1], fixed.energy.shape), rtol=1e-5
    )
    assert np.std(np.asarray(fresh.energy[0, :, 0])) > 0.1
    assert np.std(np.asarray(fixed.responses[0, :, -1]), axis=0).max() > 0  # chains vary
    np.testing.assert_array_equal(fixed.weights[:, 0], 1.0)
    np.testing.assert_array_equal(fixed.weights, fresh.weights)


def test_the_trial_table_takes_the_contrasts_as_values_and_checks_their_number():
    """The recorded contrasts are values (traced in the programs), their number a shape."""
    p = protocol.Protocol(n_coherences=2, zero_trials=3, trials_per_level=2)
    level, contrast = protocol.trial_table(p, jnp.array([3.0, 6.0]))
    assert level.tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert contrast.tolist() == [0, 0, 0, 3, 3, -3, -3, 6, 6, -6, -6]
    traced = jax.jit(lambda c: protocol.trial_table(p, c)[1])(jnp.array([4.0, 8.0]))
    assert traced.tolist() == [0, 0, 0, 4, 4, -4, -4, 8, 8, -8, -8]
    with pytest.raises(ValueError, match="coherences: need 2 values"):
        protocol.trial_table(p, jnp.array([3.0, 6.0, 9.0]))


def test_one_protocol_builder_takes_the_configs_fields_by_name_and_the_derived_ones():
    from bayescortex.experiments.training import TrainConfig

    config = RedundancyConfig(
        neurons=24, subset_size=16, samples=43, bins=2, record_trials=10, zero_blocks=3
    )
    p = config.split()[0].protocol
    assert (p.neurons, p.samples, p.bins, p.objective) == (24, 43, 2, config.objective)
    assert (p.zero_trials, p.trials_per_level, p.resamples) == (30, 10, config.bootstrap)
    assert p.train_sweeps == protocol.Protocol().train_sweeps  # not a field of this config
    trained = TrainConfig(train_sweeps=17, optimizer="sgd").split()[0]
    assert (trained.train_sweeps, trained.optimizer, trained.resamples) == (17, "sgd", 0)
    # Derived values override a same-named field of the config.
    assert protocol.Protocol.of(config, chunk=7, neurons=5)[:2] == (5, config.units)
    assert protocol.Protocol.of(config, chunk=7).chunk == 7
