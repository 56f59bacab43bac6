"""The hierarchical model: feedback parametrisations, log densities, ancestral sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import i0

from bayescortex.models import (
    FreeFormFeedback,
    HierarchicalModel,
    ParametricFeedback,
    preferred_orientations,
    reference_model,
)


def test_parametric_feedback_matches_the_reference_formulas():
    fb = ParametricFeedback(8, 4, delta=0.08, kappa_o=1.0, kappa_g=3.0)
    phi_x, phi_g = np.asarray(preferred_orientations(8)), np.asarray(preferred_orientations(4))
    want_c = 0.08 * np.exp(3 * np.cos(2 * (phi_x[:, None] - phi_g[None, :]))) / i0(3)
    np.testing.assert_allclose(fb.coupling(), want_c, rtol=1e-5)
    cat = np.array([[0, np.pi / 2], [np.pi / 4, 3 * np.pi / 4]])
    want_p = np.minimum(1, np.exp(np.cos(2 * (cat[:, :, None] - phi_g))) / (i0(1) * 4))
    np.testing.assert_allclose(fb.unit_probabilities(), want_p, rtol=1e-5)
    np.testing.assert_allclose(jnp.exp(fb.task_log_prior()), [0.5, 0.5], rtol=1e-6)


def test_free_form_feedback_shapes_and_errors():
    fb = FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((2, 2, 3)))
    assert fb.n_neurons == 6 and fb.n_units == 3
    np.testing.assert_allclose(fb.unit_probabilities(), 0.5)
    with pytest.raises(ValueError, match="unit_logits"):
        FreeFormFeedback(jnp.zeros((6, 3)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="task_logits"):
        ParametricFeedback(4, 2, task_logits=(0.0, 0.0, 0.0))


def test_ancestral_moments():
    """x | g is exponential with mean tau: E[x] = E[tau] over g, checked by Monte Carlo."""
    model = reference_model(8, 4, delta=0.5, kappa_o=2.0)
    draws = jax.vmap(lambda k: model.sample_latents(k, task=0))(
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
