"""Trial simulation: jit = no jit, vmap = loop, one trace per shape, clear errors, behaviour."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.inference import (
    InferenceMode,
    SamplerSettings,
    gibbs,
    inference_mode,
    sample_chain,
    simulate_chunked,
    simulate_trial,
    simulate_trials,
)
from bayescortex.inference import trial as trial_module
from bayescortex.models import Stimulus, reference_model

SMALL = SamplerSettings(n_samples=12, n_presignal=3, burn_in=2, n_bins=2)


@pytest.mark.slow  # op by op: about 70 s on 2 cores
def test_jit_and_no_jit_agree():
    model, stim = reference_model(6, 4), Stimulus(frame_every=4)
    args = (model, stim, jnp.asarray(0), jnp.asarray(6.0), SMALL, inference_mode("engaged"))
    jitted = eqx.filter_jit(simulate_trial)(jax.random.key(0), *args)
    with jax.disable_jit():
        eager = simulate_trial(jax.random.key(0), *args)
    for a, b in zip(jitted, eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # about 100 s on 2 cores; the pipeline's chunking test stays in the default suite
def test_vmap_equals_loop_and_chunking_is_invisible():
    model, stim, mode = reference_model(8, 4), Stimulus(), inference_mode("coupling_only")
    contrasts = jnp.array([-6.0, 0.0, 3.0, 12.0])
    tasks = jnp.array([0, 1, 0, 1])
    key = jax.random.key(1)
    batch = simulate_trials(key, model, stim, tasks, contrasts, SMALL, mode)
    single = eqx.filter_jit(simulate_trial)
    for n in range(4):
        one = single(jax.random.fold_in(key, n), model, stim, tasks[n], contrasts[n], SMALL, mode)
        for a, b in zip(batch, one, strict=True):
            np.testing.assert_allclose(a[n], b, rtol=1e-4, atol=1e-5)
    second_half = simulate_trials(
        key, model, stim, tasks[2:], contrasts[2:], SMALL, mode, trial_ids=jnp.arange(2, 4)
    )
    np.testing.assert_allclose(second_half.counts, batch.counts[2:], rtol=1e-5)


def test_cut_responses_are_the_naive_models():
    """The ``cut`` ablation removes the top-down path: learned feedback cannot change the
    sensory responses.

    With the same keys, a trained model in mode ``cut`` (alpha = 0) gives exactly the naive
    (delta = 0) model's responses, while the belief-cut-only control (``coupling_only``) does
    not.
    """
    stim, key = Stimulus(), jax.random.key(3)
    contrasts = jnp.array([-6.0, 0.0, 6.0, 12.0])
    tasks = jnp.zeros(4, dtype=int)

    def counts(model, mode):
        rec = simulate_trials(key, model, stim, tasks, contrasts, SMALL, inference_mode(mode))
        return np.asarray(rec.counts)

    trained = reference_model(8, 4, delta=0.3, kappa_o=2.0)
    naive = counts(reference_model(8, 4, delta=0.0), "engaged")
    np.testing.assert_allclose(counts(trained, "cut"), naive, rtol=1e-6)
    assert not np.allclose(counts(trained, "coupling_only"), naive, rtol=1e-3)


def test_step_traces_once_per_shape(monkeypatch):
    traces = []
    original = gibbs.step

    def counting(*args, **kwargs):
        traces.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(trial_module.gibbs, "step", counting)
    stim, mode = Stimulus(), inference_mode("engaged")
    for delta, seed in [(0.0, 0), (0.08, 1), (0.2, 2)]:  # new parameters, same shapes
        simulate_trials(
            jax.random.key(seed),
            reference_model(6, 4, delta=delta),
            stim,
            jnp.zeros(3, int),
            jnp.array([1.0, -2.0, 0.0]),
            SMALL,
            mode,
        )
    assert len(traces) == 1


def test_record_layout_and_counts():
    model, stim = reference_model(6, 4), Stimulus(frame_every=5)
    rec = simulate_trials(
        jax.random.key(2),
        model,
        stim,
        jnp.zeros(2, int),
        jnp.array([3.0, -3.0]),
        SMALL,
        inference_mode("engaged"),
    )
    assert rec.counts.shape == (2, SMALL.n_bins, 6)
    assert rec.belief.shape == (2, SMALL.n_samples)
    assert rec.context.shape == (2, SMALL.n_bins, 3)
    assert bool(jnp.all(rec.context >= 0))
    np.testing.assert_allclose(rec.context.sum(-1), 1.0, rtol=1e-5)
    assert rec.energy.shape == (2, stim.n_frames(SMALL.n_samples))
    assert bool(jnp.all(rec.counts >= 0)) and bool(jnp.all((rec.belief >= 0) & (rec.belief <= 1)))
    decided = jnp.abs(rec.belief[:, -1] - 0.5) >= trial_module.UNDECIDED
    np.testing.assert_array_equal(
        rec.choice[decided], (rec.belief[:, -1] < 0.5).astype(int)[decided]
    )


def test_an_undecided_observer_guesses():
    """A belief within UNDECIDED of 1/2 (a naive model with category kernels 0 stays there)
    is a fair coin: 4000 keys, the fraction of second-category choices within 4 standard
    errors of 1/2; any evidence either way decides."""
    keys = jax.random.split(jax.random.key(5), 4000)
    decide = jax.jit(jax.vmap(trial_module.decide, in_axes=(0, None)))
    for belief in (0.5, 0.5 + 0.5 * trial_module.UNDECIDED):
        assert abs(float(jnp.mean(decide(keys, jnp.float32(belief)))) - 0.5) < 4 * 0.0079
    np.testing.assert_array_equal(decide(keys[:10], jnp.float32(0.6)), 0)
    np.testing.assert_array_equal(decide(keys[:10], jnp.float32(0.4)), 1)


def test_the_temperature_0_choice_is_the_old_coin_bit_for_bit():
    """At temperature 0 the tie coin is ``jax.random.bernoulli(key)`` of the same key (the
    draw the choice always used), so no earlier result changes."""
    keys = jax.random.split(jax.random.key(7), 500)
    got = jax.vmap(trial_module.decide, in_axes=(0, None))(keys, jnp.float32(0.5))
    coin = jax.vmap(jax.random.bernoulli)(keys).astype(jnp.int32)
    np.testing.assert_array_equal(got, coin)


@pytest.mark.parametrize(
    "belief, temperature, expected",
    [
        (0.8, 1.0, 0.2),  # a sample from the belief: P(second) = 1 - b
        (0.3, 1.0, 0.7),
        (0.8, 0.5, 1 / 17),  # sigmoid(2 * logit(0.2)) = 0.04 / (0.04 + 0.64)
        (0.8, 2.0, 1 / 3),  # sigmoid(logit(0.2) / 2) = 0.5 / (0.5 + 1)
        (0.5, 1.0, 0.5),
    ],
)
def test_a_tempered_choice_follows_the_belief_at_the_stated_rate(belief, temperature, expected):
    """P(second category) = sigmoid(logit(1 - b) / T), exact values; 20,000 keys, within 4
    binomial standard errors."""
    keys = jax.random.split(jax.random.key(8), 20_000)
    decide = jax.jit(jax.vmap(trial_module.decide, in_axes=(0, None, None)))
    rate = float(jnp.mean(decide(keys, jnp.float32(belief), jnp.float32(temperature))))
    se = np.sqrt(expected * (1 - expected) / keys.shape[0])
    assert abs(rate - expected) < 4 * se, (rate, expected)


def test_choices_at_two_temperatures_share_their_draw():
    """One uniform per key decides at every temperature: a choice of the second category at a
    sharper temperature stays one at a softer temperature when the belief favours it."""
    keys = jax.random.split(jax.random.key(9), 2000)
    decide = jax.vmap(trial_module.decide, in_axes=(0, None, None))
    sharp, soft = (decide(keys, jnp.float32(0.3), jnp.float32(t)) for t in (0.5, 2.0))
    assert bool(jnp.all(soft <= sharp))  # P(second) 0.84 at T 0.5, 0.60 at T 2


def test_a_negative_choice_temperature_is_refused():
    with pytest.raises(ValueError, match="choice_temperature"):
        SamplerSettings(choice_temperature=-1.0)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(contrasts=jnp.array([1.0, jnp.nan])), "contrasts"),
        (dict(tasks=jnp.array([0, 2])), "tasks"),
        (dict(tasks=jnp.array([0])), "tasks"),
        (dict(stimulus=Stimulus(size=16)), "stimulus"),
    ],
)
def test_bad_trial_inputs_name_the_field(kwargs, field):
    args = dict(
        key=jax.random.key(0),
        model=reference_model(6, 4),
        stimulus=Stimulus(),
        tasks=jnp.array([0, 1]),
        contrasts=jnp.array([1.0, -1.0]),
        settings=SMALL,
        mode=inference_mode("engaged"),
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        simulate_trials(**args)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: inference_mode("attentive"), "mode"),
        (lambda: SamplerSettings(n_samples=0), "n_samples"),
        (lambda: SamplerSettings(burn_in=100), "burn_in"),
        (lambda: SamplerSettings(contrast_prior="fast"), "contrast_prior"),
        (lambda: SamplerSettings(contrast_init=-1.0), "contrast_init"),
        (lambda: reference_model(0, 4), "n_neurons"),
        (lambda: reference_model(4, -1), "n_units"),
        (lambda: reference_model(4, 4, sigma_y=0.0), "sigma_y"),
        (lambda: Stimulus(noise_sd=-1.0), "noise_sd"),
        (lambda: reference_model(4, 4).project(jnp.zeros(100)), "image"),
    ],
)
def test_bad_settings_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_sample_chain_thins_and_continues():
    def step(key, x):
        return 0.5 * x + jax.random.normal(key), None

    _, whole = sample_chain(jax.random.key(0), step, 0.0, 20, thin=5)
    state, first = sample_chain(jax.random.key(0), step, 0.0, 10, thin=5)
    _, second = sample_chain(jax.random.key(0), step, state, 10, thin=5, start=10)
    np.testing.assert_allclose(whole, jnp.concatenate([first, second]), rtol=1e-6)
    with pytest.raises(ValueError, match="thin"):
        sample_chain(jax.random.key(0), step, 0.0, 10, thin=3)


@pytest.mark.slow  # about 50 s; the acceptance run checks the learned accuracy too
def test_learned_feedback_makes_the_task_solvable():
    """delta = 0.08, kappa_O = 1, engaged: accuracy at contrast 6 well above chance (~0.85 at
    N_x = 64); delta = 0: near chance. 512 trials: the standard error of an accuracy is <= 0.022,
    so the bounds below sit > 4 SE from the expected values."""
    stim, mode = Stimulus(), inference_mode("engaged")
    contrasts = jnp.tile(jnp.array([6.0, -6.0]), 256)
    tasks = jnp.zeros(512, int)
    accuracy = {}
    for delta in (0.0, 0.08):
        rec = simulate_trials(
            jax.random.key(3),
            reference_model(64, 64, delta=delta),
            stim,
            tasks,
            contrasts,
            SamplerSettings(),
            mode,
        )
        accuracy[delta] = float(jnp.mean(rec.choice == (contrasts < 0)))
    assert accuracy[0.08] > 0.75
    assert abs(accuracy[0.0] - 0.5) < 0.1


def one_hot_logits(context: int, cue: int) -> np.ndarray:
    """Context logits whose row ``cue`` is a point mass on ``context`` (the other row uniform)."""
    logits = np.zeros((2, 3))
    logits[cue] = np.where(np.arange(3) == context, 0.0, -np.inf)
    return logits


@pytest.mark.parametrize("mode", ["engaged", "no_accumulation"])
@pytest.mark.parametrize("context, cue", [(0, 0), (1, 0), (2, 1)])
def test_one_hot_context_prior_gives_finite_trials(mode, context, cue):
    """Regression: a log context prior of -inf made the accumulator 0 * -inf = NaN every trial."""
    model = reference_model(6, 4, context_logits=one_hot_logits(context, cue))
    task = context if context < 2 else 0
    rec = simulate_trials(
        jax.random.key(7), model, Stimulus(), jnp.full(4, task), jnp.array([-6.0, 0.0, 3.0, 6.0]),
        SMALL, inference_mode(mode), cue=cue,
    )  # fmt: skip
    assert np.all(np.isfinite(rec.counts)) and np.all(np.isfinite(rec.belief))
    assert np.all((rec.belief >= 0) & (rec.belief <= 1))
    assert set(np.unique(rec.choice)) <= {0, 1}
    # The impossible contexts keep posterior 0; the known one keeps 1.
    np.testing.assert_allclose(rec.context, np.broadcast_to(np.eye(3)[context], rec.context.shape))


@pytest.mark.parametrize("memory", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("impossible", [1, 2])
def test_accumulator_keeps_an_impossible_context_at_minus_inf(memory, impossible):
    """update_belief with log p(K = k) = -inf: context k stays -inf, the rest is normalised."""
    logits = np.zeros((2, 3))
    logits[0, impossible] = -np.inf
    cond = gibbs.conditionals(reference_model(6, 4, context_logits=logits))
    log_belief = cond.log_prior
    units = jnp.array([1.0, 0.0, 1.0, 0.0])
    mode = InferenceMode(memory=memory)
    for _ in range(3):
        log_belief = gibbs.update_belief(log_belief, units, cond, mode, 0.05, True)
    belief = np.asarray(log_belief)
    possible = np.arange(3) != impossible
    assert np.all(np.isneginf(belief[impossible])) and np.all(np.isfinite(belief[possible]))
    np.testing.assert_allclose(np.exp(belief[possible]).sum(), 1.0, rtol=1e-6)


def cue_records(model, cue, key=4, mode="engaged"):
    return simulate_trials(
        jax.random.key(key), model, Stimulus(), jnp.array([0, 1, 0, 1]),
        jnp.array([-6.0, 0.0, 3.0, 6.0]), SMALL, inference_mode(mode), cue=cue,
    )  # fmt: skip


def test_fixation_cue_differs_from_task_cue_and_from_the_naive_model():
    """Passive viewing is the fixation cue: with p(K | fixation) != p(K | task) the same keys give
    other responses and another context posterior, and, unlike the ``cut`` ablation, not the
    naive (delta = 0) model's responses."""
    logits = np.array([[2.0, 1.0, -3.0], [-3.0, -3.0, 3.0]])  # task: mostly tasks; fixation: none
    trained = reference_model(8, 4, delta=0.3, kappa_o=2.0, context_logits=logits)
    task, fixation = cue_records(trained, 0), cue_records(trained, 1)
    assert not np.allclose(task.counts, fixation.counts, rtol=1e-3)
    assert not np.allclose(task.context, fixation.context, atol=1e-3)
    naive = cue_records(reference_model(8, 4, delta=0.0, context_logits=logits), 1)
    assert not np.allclose(fixation.counts, naive.counts, rtol=1e-3)
    for rec in (task, fixation):
        assert rec.context.shape == (4, SMALL.n_bins, 3) and np.all(rec.context >= 0)
        np.testing.assert_allclose(rec.context.sum(-1), 1.0, rtol=1e-5)


def test_equal_context_rows_make_the_cues_identical():
    """With the same context logits for both cues, the cue changes nothing: identical records."""
    logits = np.array([[0.5, -0.2, 0.1], [0.5, -0.2, 0.1]])
    model = reference_model(8, 4, delta=0.3, kappa_o=2.0, context_logits=logits)
    task, fixation = cue_records(model, 0), cue_records(model, 1)
    for a, b in zip(task, fixation, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cue", [0, 1])
def test_context_posterior_is_the_cue_prior_when_units_carry_no_context(cue):
    """kappa_o = 0: every context's unit row is 1 / N_g, so the accumulated likelihood is the
    same for every (K, O) and the context posterior of every bin is exactly p(K | q)."""
    logits = np.array([[1.0, 0.0, -1.0], [-0.5, -1.5, 2.0]])
    model = reference_model(8, 4, delta=0.3, kappa_o=0.0, context_logits=logits)
    rec = cue_records(model, cue)
    want = np.exp(logits[cue]) / np.exp(logits[cue]).sum()
    np.testing.assert_allclose(rec.context, np.broadcast_to(want, rec.context.shape), atol=1e-5)


def test_chunked_simulation_passes_the_cue():
    """simulate_chunked with the fixation cue equals one batch of fixation-cue trials. In
    float64: in float32 a batch of another width rounds differently and a chain can carry the
    difference along (measured: 1e-3 relative on one trial), which would hide nothing a wrong
    cue changes but makes an exact comparison flaky."""
    logits = np.array([[2.0, 1.0, -3.0], [-3.0, -3.0, 3.0]])
    with jax.enable_x64(True):
        model = reference_model(8, 4, delta=0.3, kappa_o=2.0, context_logits=logits)
        model = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), model)
        whole = cue_records(model, 1)
        chunked = simulate_chunked(
            jax.random.key(4), model, Stimulus(), np.array([0, 1, 0, 1]),
            np.array([-6.0, 0.0, 3.0, 6.0]), SMALL, inference_mode("engaged"), chunk_size=2,
            cue=1,
        )  # fmt: skip
    assert whole.counts.dtype == np.float64
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_unknown_cue_is_named():
    with pytest.raises(ValueError, match="cue"):
        cue_records(reference_model(6, 4), 2)
