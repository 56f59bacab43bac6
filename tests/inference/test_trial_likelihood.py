"""The trial-level likelihood (one (K, O) per trial, every frame's evidence combined) against
exact enumeration on the 2-neuron, 2-unit model of test_learning.py, with two frames."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayescortex.inference import SamplerSettings, chains, gibbs, inference_mode, learning
from bayescortex.inference import trial_likelihood as tl
from bayescortex.models import Stimulus, reference_model

from .test_learning import (
    CONTRAST,
    PROJECTION,
    exact_gradient,
    log_image_given_units,
    log_units_table,
    positions,
    tiny_model,
)

PROJECTIONS = jnp.stack([PROJECTION, jnp.array([0.3, 1.1])])  # two frames of one trial
SETTINGS = SamplerSettings(
    n_samples=100, burn_in=20, contrast_prior="clamped", contrast_init=CONTRAST
)
EXACT = inference_mode("no_accumulation")


def exact_trial_table(model, cue=0, projections=PROJECTIONS):
    """``log p(y_1, y_2, O | theta, q)`` for both ``O``: ``(K, O)`` shared, each frame its own
    middle layer and neurons, summed over the unit states frame by frame."""
    per_frame = jnp.stack([log_image_given_units(model, p) for p in projections])  # (F, states)
    log_g = log_units_table(model)  # (K, O, states)
    frames = jax.nn.logsumexp(log_g[None] + per_frame[:, None, None, :], axis=-1)  # (F, K, O)
    terms = model.feedback.context_log_prior(cue)[:, None] + jnp.log(0.5) + frames.sum(0)
    return jax.nn.logsumexp(terms, axis=0)


def exact_trial_conditional(model, category, cue=0):
    table = exact_trial_table(model, cue)
    return table[category] - jax.nn.logsumexp(table)


@eqx.filter_jit
def trial_gradients(keys, model, category, cue, projections=PROJECTIONS):
    """Per key: the gradient from the two category-clamped chains and the bridge estimate of
    the trial's log odds ``log p(O* | y) - log p(not-O* | y)``."""
    cond = gibbs.conditionals(model, cue)
    spec = learning.learnable(model)

    def one(key):
        def run(o):
            return tl.trial_chain(key, chains.clamp_category(cond, o), projections,
                                  SETTINGS, EXACT).latents  # fmt: skip

        clamped, other = run(category), run(1 - category)
        log_odds = tl.trial_log_odds(clamped, other, cond, category)
        return tl.trial_gradient(model, clamped, other, log_odds, spec, cue), log_odds

    return jax.vmap(one)(keys)


@pytest.mark.parametrize(
    "kind, cue, category",
    [("naive_start", 0, 1), ("parametric", 0, 0), ("parametric", 1, 1), ("free_form", 0, 0)],
)
def test_trial_gradient_matches_exact_trial_conditional(kind, cue, category):
    """The two category-clamped chains, weighted by the bridge estimate of the log odds, against
    autodiff of the enumerated ``log p(O* | y_1, y_2)``, every learnable leaf, 4 standard
    errors of 2000 independent pairs (plus float32 slack on exact zeros). Under the fixation
    cue (``cue`` 1) the gradient is small (largest entry 0.005, 2 standard errors), so only
    the agreement is checked there; under the task cue the largest entry is also resolved
    (> 3 SE)."""
    model = tiny_model(kind)
    spec = learning.learnable(model)
    exact = exact_gradient(model, lambda m: exact_trial_conditional(m, category, cue))
    n = 2000
    grads, _ = trial_gradients(jax.random.split(jax.random.key(20 + category), n), model,
                               jnp.asarray(category), cue)  # fmt: skip
    leaves = [np.asarray(a).reshape(n, -1) for a in jax.tree.leaves(eqx.filter(grads, spec))]
    est = np.concatenate(leaves, axis=1)
    mean, se = est.mean(0), est.std(0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(mean - exact), 4 * se + 1e-4 + 1e-3 * np.abs(exact))
    if cue == 0:
        assert np.max(np.abs(exact)) > 3 * np.max(se)  # a real gradient, resolved
    if kind == "naive_start":
        # kappa_o = 0 leaves p(O | y) at 1/2; the cardinal kernel's gradient points to the
        # category the images support, and it is not the single frame's (the frames combine).
        cardinal = positions(model)["kappa_o"][0]
        assert np.sign(exact[cardinal]) == (1 if category == 0 else -1)


def test_bridge_log_odds_recovers_known_normalisers():
    """Two unnormalised Gaussians ``q_a = 3 N(0, 1)``, ``q_b = 0.5 N(1.5, 1)`` (log Z_a / Z_b
    = log 6) from exact draws, unequal counts: within 0.05 (about 4 standard errors of the
    optimal bridge at this overlap and these counts); identical samples give the constant
    ratio exactly; the estimate moves with a shift of ``q_a`` by exactly that shift."""
    ka, kb = jax.random.split(jax.random.key(0))
    xa = jax.random.normal(ka, (4000,))
    xb = 1.5 + jax.random.normal(kb, (3000,))

    def log_ratio(x):
        log_qa = jnp.log(3.0) - 0.5 * x**2
        log_qb = jnp.log(0.5) - 0.5 * (x - 1.5) ** 2
        return log_qa - log_qb

    est = float(tl.bridge_log_odds(log_ratio(xa), log_ratio(xb)))
    assert est == pytest.approx(np.log(6.0), abs=0.05)
    shifted = float(tl.bridge_log_odds(log_ratio(xa) + 2.0, log_ratio(xb) + 2.0))
    assert shifted == pytest.approx(est + 2.0, abs=1e-4)
    const = jnp.full((7,), -1.25)
    assert float(tl.bridge_log_odds(const, const[:3])) == pytest.approx(-1.25, abs=1e-5)


@pytest.mark.parametrize("category", [0, 1])
def test_trial_gradient_matches_enumeration_where_the_category_is_near_certain(category):
    """24 strong frames (log odds about 14, as in the log-odds test below): the gradient from
    the two clamped chains and the bridge weight against autodiff of the enumerated
    likelihood, every learnable leaf, within 4 standard errors of 1000 pairs plus 1% of the
    exact value (the bridge's bias, measured: 0.2% at most) plus 1e-4. Revealing the
    supported category (0) the gradient is about 1e-5, revealing the other (1) about 15 in the
    kernel: both are reproduced, the second to its sign and size."""
    model = eqx.tree_at(lambda m: m.feedback.kappa_o, tiny_model("parametric"),
                        jnp.array([0.8, 0.8]))  # fmt: skip
    projections = jnp.tile(3 * PROJECTIONS[:1], (24, 1))
    spec = learning.learnable(model)

    def exact_conditional(m):
        table = exact_trial_table(m, projections=projections)
        return table[category] - jax.nn.logsumexp(table)

    exact = exact_gradient(model, exact_conditional)
    n = 1000
    grads, _ = trial_gradients(jax.random.split(jax.random.key(5), n), model,
                               jnp.asarray(category), 0, projections)  # fmt: skip
    leaves = [np.asarray(a).reshape(n, -1) for a in jax.tree.leaves(eqx.filter(grads, spec))]
    est = np.concatenate(leaves, axis=1)
    mean, se = est.mean(0), est.std(0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(mean - exact), 4 * se + 1e-4 + 1e-2 * np.abs(exact))
    if category == 1:
        assert np.max(np.abs(exact)) > 10


def test_docstring_examples():
    import doctest

    assert doctest.testmod(tl, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_trial_log_odds_match_enumeration_where_one_chain_would_not_switch():
    """The bridge estimate of ``log p(O* | y) - log p(not-O* | y)`` from the two clamped
    chains against enumeration, mean over 1000 chain pairs within 4 standard errors plus 0.01:
    the two frames of the other tests, and 24 strong frames (three times the first frame's
    projection, kernel 0.8), whose combined evidence makes the category near certain (log odds
    about 14), which a single free chain could only show by switching every frame's middle
    layer at once. With the second frame equal to the first, the trial's log odds are not the
    single frame's (evidence adds up)."""
    model = tiny_model("parametric")
    strong = eqx.tree_at(lambda m: m.feedback.kappa_o, model, jnp.array([0.8, 0.8]))
    cases = ((model, PROJECTIONS), (strong, jnp.tile(3 * PROJECTIONS[:1], (24, 1))))
    for m, projections in cases:
        table = exact_trial_table(m, projections=projections)
        exact = float(table[0] - table[1])
        _, est = trial_gradients(jax.random.split(jax.random.key(3), 1000), m,
                                 jnp.asarray(0), 0, projections)  # fmt: skip
        est = np.asarray(est)
        tolerance = 4 * est.std() / np.sqrt(est.size) + 0.01
        assert abs(est.mean() - exact) < tolerance, (exact, est.mean(), tolerance)
    assert exact > 10
    one = exact_trial_table(model, projections=PROJECTIONS[:1])
    two = exact_trial_table(model, projections=jnp.stack([PROJECTIONS[0]] * 2))
    np.testing.assert_allclose(two[0] - two[1], 2 * (one[0] - one[1]), rtol=0.2)
    assert abs(float(two[0] - two[1])) > abs(float(one[0] - one[1])) * 1.2


def test_frame_evidence_is_the_exact_product():
    """``log p(K, O | g_1..F)`` equals prior times the frames' Bernoulli likelihoods, normalised
    (computed here directly from the unit probabilities)."""
    model = tiny_model("parametric")
    cond = gibbs.conditionals(model, 0)
    units = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    p = jnp.clip(model.feedback.unit_probabilities(), 1e-6, 1 - 1e-6)
    direct = model.log_prob_context_category(0) + sum(
        jnp.sum(g[None, None] * jnp.log(p) + (1 - g[None, None]) * jnp.log1p(-p), axis=-1)
        for g in units
    )
    direct = direct - jax.nn.logsumexp(direct)
    np.testing.assert_allclose(tl.frame_evidence(units, cond), direct, atol=1e-5)


def test_trial_objective_step_runs_and_learns_toward_the_category():
    """``fisher_step(..., "trial")`` on a small reference model: finite values, the kernel
    moves off its flat start, the objective is a log probability."""
    model = reference_model(16, 8, delta=0.1, kappa_o=0.0)
    opt = optax.adam(0.05)
    state = opt.init(eqx.filter(model, learning.learnable(model)))
    stim = Stimulus(frame_every=4)
    settings = SamplerSettings(n_samples=12, burn_in=4, n_presignal=2)
    # 16 trials: at a flat kernel the step's sign is noisy over a handful of trials (its
    # expectation's sign is checked against enumeration above, naive start).
    contrasts = jnp.tile(jnp.array([4.0, -4.0, 2.0, -2.0]), 4)
    new, _, info = learning.train_step(
        jax.random.key(0), model, state, opt, stim, jnp.zeros(16, int), contrasts, settings,
        "trial", 0.0, None, 0.2, SamplerSettings(n_samples=8, burn_in=2),
    )  # fmt: skip
    assert np.all(np.isfinite(np.asarray(info.objective)))
    assert np.all(np.asarray(info.objective) <= 1e-6)
    assert float(new.feedback.kappa_o[0]) > 0.0
