"""Two-compartment neurons and the BCI task: the equations, the variants, the threshold, keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.models.bci import (
    calcium,
    dendrite,
    eligibility_step,
    feedback_step,
    homeostasis_step,
    init_population,
    normalised_feedback,
    plasticity_step,
    soma,
)
from bayescortex.models.bci_rules import (
    VARIANTS,
    effective_feedback,
    eligibility_factor,
    instructive_signal,
    rule,
    rules,
)
from bayescortex.models.bci_session import init_state, session_step
from bayescortex.models.bci_task import (
    TaskHyper,
    TaskStatic,
    decoder,
    grating_position,
    target_signs,
)

HYPER = dict(
    learning_rate=3e-4, feedback_rate=0.01, feedback_decay=0.1, apical_gain=1.0, rate_ceiling=4.0,
    homeostasis_rate=1e-4, backprop=1.0,
    soma_noise=1.0, apical_noise=0.3, nonlinear_gain=0.3, control_somatic_gain=0.7,
    input_timescale=10.0, context_timescale=10.0, context_drive=0.3, context_apical=0.5,
    weight_scale=0.5, baseline_bias=1.0, cursor_timescale=3.0, baseline_hit_rate=0.2,
    trace_timescale=5.0, mean_timescale=200.0, rpe_timescale=50.0, feedback_floor=1e-3,
    calcium_timescale=2.0, calcium_noise=0.05,
)  # fmt: skip
STATIC = TaskStatic(neurons=10, targets=4, inputs=3, context=2, trials=12, steps=20,
                    calibration_trials=100, record_trials=4, levels=7)  # fmt: skip


def hyper(**changes):
    return TaskHyper(**{k: jnp.asarray(v, jnp.float32) for k, v in (HYPER | changes).items()})


def population(key=0):
    return init_population(jax.random.key(key), 6, 3, 2, weight_scale=1.0, bias=0.5,
                           context_drive=0.4, context_apical=1.0)  # fmt: skip


def test_soma_and_dendrite_follow_their_equations():
    p = population()
    x, z = jnp.array([0.3, -1.0, 0.5]), jnp.array([1.0, -0.5])
    xi, eps, u = jnp.linspace(-1, 1, 6), jnp.linspace(1, -1, 6), jnp.arange(6.0) / 10
    r, slope = soma(p, x, z, xi, gain=0.8, sigma=0.5, ceiling=3.0)
    h = np.asarray(p.weights @ x + p.context_soma @ z + p.bias + 0.5 * xi)
    t = np.tanh(np.log1p(np.exp(h)) / 3.0)
    np.testing.assert_allclose(r, 0.8 * 3.0 * t, rtol=1e-5)
    np.testing.assert_allclose(slope, 0.8 / (1 + np.exp(-h)) * (1 - t**2), rtol=1e-5)
    a, drive = dendrite(p, z, u, r, eps, apical_gain=2.0, backprop=0.7, nonlinear=0.3, sigma=0.2)
    m = np.asarray(p.context_apical @ z)
    want_drive = 2.0 * (m + np.asarray(u) + 0.2 * np.asarray(eps))
    np.testing.assert_allclose(drive, want_drive, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, want_drive + 0.7 * np.asarray(r) + 0.3 * np.asarray(r) ** 2,
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_rates_are_bounded_and_homeostasis_pulls_back():
    """The rate saturates at g_s r_max whatever the drive; the bias drifts to the setpoint."""
    p = population()
    big = eqx_bias(p, 1e3)
    r, slope = soma(big, jnp.zeros(3), jnp.zeros(2), jnp.zeros(6), gain=0.8, sigma=1.0,
                    ceiling=3.0)  # fmt: skip
    np.testing.assert_allclose(r, 2.4, rtol=1e-6)
    np.testing.assert_allclose(slope, 0.0, atol=1e-6)
    q = homeostasis_step(p, jnp.full(6, 2.0), jnp.full(6, 1.5), 0.1)
    np.testing.assert_allclose(q.bias - p.bias, -0.05, rtol=1e-5)
    np.testing.assert_array_equal(q.weights, p.weights)


def eqx_bias(p, value):
    import equinox as eqx

    return eqx.tree_at(lambda q: q.bias, p, jnp.full_like(p.bias, value))


def test_apical_block_is_complete():
    """g_a = 0 silences everything from above, the noise included: the drive plasticity reads
    is exactly 0 and the dendrite is its soma-driven part alone."""
    p = population()
    z, u, r = jnp.array([1.0, -0.5]), jnp.arange(6.0), jnp.linspace(0.5, 2.0, 6)
    a, drive = dendrite(p, z, u, r, jnp.ones(6) * 5.0, apical_gain=0.0, backprop=0.7,
                        nonlinear=0.3, sigma=1.0)  # fmt: skip
    np.testing.assert_array_equal(drive, 0.0)
    np.testing.assert_allclose(a, 0.7 * r + 0.3 * r**2, rtol=1e-6)


def test_node_perturbation_eligibility_is_the_fluctuation_times_the_slope():
    slope, fluct = jnp.array([0.5, 0.2]), jnp.array([1.5, -2.0])
    np.testing.assert_allclose(eligibility_factor(rule("scalar"), slope, fluct), slope)
    np.testing.assert_allclose(
        eligibility_factor(rule("scalar_perturbation"), slope, fluct), [0.75, -0.4], rtol=1e-6
    )


def test_context_loadings_are_orthogonal_per_neuron():
    """V_i . F_i = 0: a neuron's own soma carries no trace of its tuft's context."""
    p = population(3)
    dots = jnp.sum(p.context_soma * p.context_apical, axis=1)
    np.testing.assert_allclose(dots, 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="context"):
        init_population(jax.random.key(0), 4, 3, 1, weight_scale=1.0, bias=0.0,
                        context_drive=1.0, context_apical=1.0)  # fmt: skip


def test_plasticity_feedback_and_trace_updates_are_exact():
    p = population()
    trace = jnp.zeros((6, 4))
    slope, x = jnp.linspace(0.1, 0.6, 6), jnp.array([1.0, 2.0, -1.0])
    trace = eligibility_step(trace, slope, x, 0.5)
    trace = eligibility_step(trace, slope, x, 0.5)  # 1.5 times one step
    np.testing.assert_allclose(trace[:, :3], 1.5 * np.outer(slope, x), rtol=1e-6)
    np.testing.assert_allclose(trace[:, 3], 1.5 * np.asarray(slope), rtol=1e-6)
    apical = jnp.arange(6.0) - 2
    q = plasticity_step(p, trace, apical, 0.1)
    np.testing.assert_allclose(q.weights - p.weights, 0.1 * apical[:, None] * trace[:, :3],
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(q.bias - p.bias, 0.1 * apical * trace[:, 3], rtol=1e-5)
    np.testing.assert_array_equal(q.context_apical, p.context_apical)
    b = feedback_step(jnp.array([1.0, 0.0]), jnp.array([2.0, 1.0]), jnp.array([1.0, 1.0]),
                      0.5, 0.25, rate=0.1, decay=0.5)  # fmt: skip
    np.testing.assert_allclose(b, [1.0 + 0.1 * (1.0 * 0.25 - 0.5), 0.0], rtol=1e-6)


def test_variants_route_the_instructive_signal():
    learned = jnp.array([2.0, 1.0, -1.0, -4.0])
    fixed = jnp.array([0.5, -1.0, 1.0, 0.25])
    perm = jnp.array([3, 2, 1, 0])
    b = normalised_feedback(learned, 0.0)
    np.testing.assert_allclose(b, [0.5, 0.25, -0.25, -1.0])
    err, change, rpe = 0.4, -0.2, 0.3
    u = {n: instructive_signal(rule(n), effective_feedback(rule(n), learned, fixed, perm, 0.0),
                               err, change, rpe) for n in VARIANTS}  # fmt: skip
    np.testing.assert_allclose(u["vectorized"], 0.4 * b, rtol=1e-6)
    np.testing.assert_allclose(u["vectorized_change"], 0.2 * b, rtol=1e-6)
    np.testing.assert_allclose(u["scalar"], np.full(4, 0.3), rtol=1e-6)
    np.testing.assert_allclose(u["random_feedback"], 0.4 * fixed, rtol=1e-6)
    shuffled = np.abs(b) * np.sign(np.asarray(b)[::-1])
    np.testing.assert_allclose(u["shuffled"], 0.4 * shuffled, rtol=1e-6)
    assert float(rule("blocked").block) == 1 and float(rule("soma_dimmed").dim) == 1
    assert float(rule("scalar_nonlinear").nonlinear) == 1
    assert float(rule("scalar_perturbation").perturbation) == 1
    np.testing.assert_allclose(u["scalar_perturbation"], np.full(4, 0.3), rtol=1e-6)
    assert rules(("scalar", "blocked")).rpe.shape == (2,)
    with pytest.raises(ValueError, match="variant"):
        rule("telepathy")


def test_calcium_kernel_is_an_exponential_filter():
    s = jnp.zeros((6, 1)).at[1, 0].set(1.0)
    f = calcium(jax.random.key(0), s, timescale=2.0, noise=0.0)
    g = np.exp(-0.5)
    want = [0, 1 - g, (1 - g) * g, (1 - g) * g**2, (1 - g) * g**3, (1 - g) * g**4]
    np.testing.assert_allclose(f[:, 0], want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(calcium(jax.random.key(0), s, timescale=0.0, noise=0.0), s)


def test_decoder_grating_and_signs():
    np.testing.assert_allclose(decoder(STATIC), [0.5, 0.5, -0.5, -0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(target_signs(STATIC), [1, 1, -1, -1])
    pos = [float(grating_position(jnp.asarray(v), 7)) for v in (0.999, 1.0, 2.0, -0.01)]
    np.testing.assert_allclose(pos, [2 / 3, 1.0, 1.0, -1 / 3], rtol=1e-6)


# The tests below compile the whole session program (about 10 s on 2 cores); the experiment's
# default tests already compile it once, so these run with the slow tests.
@pytest.fixture(scope="module")
def baseline():
    """Two seeds of the vectorized rule: initial states and the baseline session."""
    h = hyper()
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(7), s))(jnp.arange(2))
    init = jax.jit(jax.vmap(lambda k: init_state(STATIC, h, rule("vectorized"), k)))
    step = jax.jit(jax.vmap(lambda s, k: session_step(STATIC, h, s, k)))
    states = init(keys)
    session_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
    return h, keys, states, step, session_keys


@pytest.mark.slow
def test_baseline_session_neither_learns_nor_moves_the_threshold(baseline):
    _, _, states, step, session_keys = baseline
    after, stats = step(states, session_keys)
    np.testing.assert_array_equal(after.population.weights, states.population.weights)
    np.testing.assert_array_equal(after.feedback, 0.0)
    np.testing.assert_array_equal(after.threshold, states.threshold)
    np.testing.assert_array_equal(after.session, [1, 1])
    assert stats.record.soma.shape == (2, STATIC.record_trials, STATIC.steps, STATIC.neurons)
    active = np.asarray(stats.record.active)
    reward = np.asarray(stats.record.reward)
    # A trial runs until its hit (reward on its last active frame) or its timeout.
    for trial_active, trial_reward in zip(
        active.reshape(-1, STATIC.steps), reward.reshape(-1, STATIC.steps), strict=True
    ):
        n = int(trial_active.sum())
        assert np.all(trial_active[:n] == 1) and np.all(trial_active[n:] == 0)
        assert trial_reward.sum() == (1 if n < STATIC.steps or trial_reward[-1] else 0)
    assert np.all(np.asarray(stats.hits) <= STATIC.trials)


@pytest.mark.slow
def test_threshold_gives_the_baseline_hit_rate(baseline):
    """Calibrated so that about 20% of baseline trials hit: over 2 seeds x 12 trials the
    baseline hit rate is binomial(24, 0.2) up to the calibration's own error (3 sd)."""
    _, _, states, step, session_keys = baseline
    _, stats = step(states, session_keys)
    rate = float(np.sum(stats.hits)) / (2 * STATIC.trials)
    assert abs(rate - 0.2) < 3 * np.sqrt(0.2 * 0.8 / 24) + 0.05
    assert np.all(np.asarray(states.threshold) > 0)


@pytest.mark.slow
def test_learning_sessions_learn_feedback_with_the_decoders_sign(baseline):
    h, keys, states, step, _ = baseline
    for s in range(3):
        states, _ = step(states, jax.vmap(lambda k, s=s: jax.random.fold_in(k, s))(keys))
    b = np.asarray(states.feedback)[:, : STATIC.targets]
    assert np.mean(np.sign(b) == target_signs(STATIC)) >= 0.75


@pytest.mark.slow
def test_same_key_same_session_and_keys_matter(baseline):
    _, keys, states, step, session_keys = baseline
    a = step(states, session_keys)[1].hits
    b = step(states, session_keys)[1].hits
    np.testing.assert_array_equal(a, b)
    other = jax.vmap(lambda k: jax.random.fold_in(k, 5))(keys)
    c = step(states, other)[1]
    assert not np.array_equal(np.asarray(c.soma_mean), np.asarray(step(states, session_keys)[1]
                                                                   .soma_mean))  # fmt: skip


@pytest.mark.slow
def test_blocked_learns_nothing_even_at_the_largest_rate():
    """With the block complete, blocked's W and B~ do not move at eta = 3e-2 (the grid's
    largest): only the homeostatic bias term acts."""
    h = hyper(learning_rate=3e-2, homeostasis_rate=0.0)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(3), s))(jnp.arange(2))
    states = jax.jit(jax.vmap(lambda k: init_state(STATIC, h, rule("blocked"), k)))(keys)
    step = jax.jit(jax.vmap(lambda s, k: session_step(STATIC, h, s, k)))
    after = states
    for s in range(3):
        after, _ = step(after, jax.vmap(lambda k, s=s: jax.random.fold_in(k, s))(keys))
    np.testing.assert_array_equal(after.population.weights, states.population.weights)
    np.testing.assert_array_equal(after.population.bias, states.population.bias)
    np.testing.assert_array_equal(after.feedback, 0.0)
