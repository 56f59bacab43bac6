"""The hierarchical model: feedback parametrisations, log densities, ancestral sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import i0

from bayescortex.models import (
    FreeFormFeedback,
    HierarchicalModel,
    Latents,
    ParametricFeedback,
    preferred_orientations,
    reference_model,
)


@pytest.mark.parametrize("kappa_o", [1.0, (1.0, 2.5)])
def test_parametric_feedback_matches_the_reference_formulas(kappa_o):
    """Coupling, the (contexts x categories x units) table (a kernel per task, the ``none`` row
    1 / N_g) and the default uniform context prior, against the closed forms."""
    fb = ParametricFeedback(8, 4, delta=0.08, kappa_o=kappa_o, kappa_g=3.0)
    phi_x, phi_g = np.asarray(preferred_orientations(8)), np.asarray(preferred_orientations(4))
    want_c = 0.08 * np.exp(3 * np.cos(2 * (phi_x[:, None] - phi_g[None, :]))) / i0(3)
    np.testing.assert_allclose(fb.coupling(), want_c, rtol=1e-5)
    k = np.broadcast_to(np.asarray(kappa_o, float), (2,))
    np.testing.assert_array_equal(fb.kappa_o, k)
    cat = np.array([[0, np.pi / 2], [np.pi / 4, 3 * np.pi / 4]])
    bump = np.exp(k[:, None, None] * np.cos(2 * (cat[:, :, None] - phi_g)))
    want_tasks = np.minimum(1, bump / (i0(k)[:, None, None] * 4))
    want_p = np.concatenate([want_tasks, np.full((1, 2, 4), 1 / 4)])
    assert fb.unit_probabilities().shape == (3, 2, 4)
    np.testing.assert_allclose(fb.unit_probabilities(), want_p, rtol=1e-5)
    for cue in (0, 1):
        np.testing.assert_allclose(jnp.exp(fb.context_log_prior(cue)), np.full(3, 1 / 3), rtol=1e-6)


def test_naive_feedback_is_task_free():
    """kappa_o = 0: every context's row is 1 / N_g (the naive observer)."""
    fb = ParametricFeedback(8, 4, delta=0.08, kappa_o=0.0)
    np.testing.assert_allclose(fb.unit_probabilities(), np.full((3, 2, 4), 1 / 4), rtol=1e-6)


def test_context_prior_depends_on_the_cue():
    """log p(K | q) + log p(O) as a (contexts x categories) table, one softmax per cue row."""
    logits = np.array([[1.0, 0.5, -2.0], [-1.0, -1.0, 3.0]])
    model = reference_model(4, 2, context_logits=logits)
    for cue in (0, 1):
        want_k = np.exp(logits[cue]) / np.exp(logits[cue]).sum()
        np.testing.assert_allclose(
            jnp.exp(model.feedback.context_log_prior(cue)), want_k, rtol=1e-6
        )
        table = model.log_prob_context_category(cue)
        assert table.shape == (3, 2)
        np.testing.assert_allclose(jnp.exp(table), np.outer(want_k, [0.5, 0.5]), rtol=1e-6)
    # log_prior adds log p(K, O | q) to log p(g | K, O) + log p(x | g); under K = none the
    # category does not enter (its row is the same for both categories).
    g, x = jnp.array([1.0, 0.0]), jnp.array([0.5, 1.0, 0.0, 2.0])
    for cue in (0, 1):
        values = [
            model.log_prior(Latents(jnp.asarray(2), jnp.asarray(o), g, x, jnp.asarray(1.0)), cue)
            for o in (0, 1)
        ]
        want = (
            np.log(np.exp(logits[cue, 2]) / np.exp(logits[cue]).sum()) + np.log(0.5)
            + np.log(0.5) * 2  # p(g_k = 1 | none) = 1 / N_g = 1/2 for both units
            + float(model.log_prob_neurons(x, g))
        )  # fmt: skip
        np.testing.assert_allclose(values, [want, want], rtol=1e-5)


def test_free_form_feedback_shapes_and_errors():
    fb = FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((2, 2, 3)))
    assert fb.n_neurons == 6 and fb.n_units == 3
    assert fb.unit_probabilities().shape == (3, 2, 3)
    np.testing.assert_allclose(fb.unit_probabilities()[:2], 0.5)
    np.testing.assert_allclose(fb.unit_probabilities()[2], 1 / 3, rtol=1e-6)
    assert fb.context_logits.shape == (2, 3)
    with pytest.raises(ValueError, match="unit_logits"):
        FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="unit_logits"):
        FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="context_logits"):
        ParametricFeedback(4, 2, context_logits=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="context_logits"):
        FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((2, 2, 3)), context_logits=jnp.zeros((2, 2)))


def test_ancestral_moments():
    """x | g is exponential with mean tau: E[x] = E[tau] over g, checked by Monte Carlo."""
    model = reference_model(8, 4, delta=0.5, kappa_o=2.0)
    draws = jax.vmap(lambda k: model.sample_latents(k, context=0))(
        jax.random.split(jax.random.key(0), 20_000)
    )
    tau = jax.vmap(model.means)(draws.units)
    x = np.asarray(draws.neurons)
    se = x.std(0) / np.sqrt(x.shape[0])
    np.testing.assert_array_less(np.abs(x.mean(0) - np.asarray(tau.mean(0))), 4 * se)
    p = model.feedback.unit_probabilities()[0]
    g_rate = np.asarray(draws.units).mean(0)
    want = 0.5 * (p[0] + p[1])
    np.testing.assert_array_less(np.abs(g_rate - want), 4 * np.sqrt(want * (1 - want) / 20_000))


@pytest.mark.parametrize("cue", [0, 1])
def test_ancestral_context_follows_the_cue_prior(cue):
    """Without a given context, K ~ p(K | q): frequencies within 4 binomial standard errors."""
    logits = np.array([[0.5, 0.0, -1.0], [-1.0, -0.5, 1.0]])
    model = reference_model(8, 4, context_logits=logits)
    n = 20_000
    draws = jax.vmap(lambda k: model.sample_latents(k, cue=cue))(
        jax.random.split(jax.random.key(1), n)
    )
    freq = np.bincount(np.asarray(draws.context), minlength=3) / n
    want = np.exp(logits[cue]) / np.exp(logits[cue]).sum()
    np.testing.assert_array_less(np.abs(freq - want), 4 * np.sqrt(want * (1 - want) / n))


def test_log_densities():
    model = reference_model(4, 2, delta=0.3)
    g = jnp.array([1.0, 0.0])
    x = jnp.array([0.5, 1.0, 0.0, 2.0])
    tau = 1 + model.feedback.coupling() @ g
    np.testing.assert_allclose(
        model.log_prob_neurons(x, g), np.sum(-np.log(tau) - x / tau), rtol=1e-6
    )
    assert model.log_prob_neurons(-x - 1, g) == -jnp.inf
    image = jnp.zeros(model.n_pixels)
    want = -0.5 * model.n_pixels * np.log(2 * np.pi) - 0.5 * float(jnp.sum((x @ model.fields) ** 2))
    np.testing.assert_allclose(model.log_likelihood(image, x, 1.0), want, rtol=1e-5)
    with pytest.raises(ValueError, match="image"):
        model.log_likelihood(jnp.zeros(10), x, 1.0)


def test_model_is_a_pytree_of_arrays():
    model = HierarchicalModel(ParametricFeedback(4, 2, delta=0.1))
    deltas = jnp.array([0.0, 0.1, 0.2])
    batched = jax.vmap(
        lambda d: HierarchicalModel(ParametricFeedback(4, 2, delta=d)).feedback.coupling()
    )(deltas)
    assert batched.shape == (3, 4, 2)
    leaves = jax.tree.leaves(model)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
