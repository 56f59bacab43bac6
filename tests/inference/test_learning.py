"""Feedback learning: Fisher's-identity gradients against the exact marginal likelihood.

A 2-neuron, 2-unit model is small enough to compute ``log p(y, O | theta)`` exactly: a sum over
the 8 states of ``(T, g)`` of a 2-d integral over ``x`` on a grid (as in test_gibbs.py), with the
contrast clamped. Its gradient (by autodiff through the grid sum) must agree with the
Fisher-identity estimate from the clamped Gibbs chains within Monte-Carlo standard error.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayescortex.inference import SamplerSettings, gibbs, learning
from bayescortex.models import (
    FreeFormFeedback,
    HierarchicalModel,
    ParametricFeedback,
    Stimulus,
    reference_model,
)

PROJECTION = jnp.array([1.4, 0.5])
CONTRAST = 0.9
SIGMA_Y = 0.8


def tiny_model(kind: str) -> HierarchicalModel:
    if kind == "naive":
        fb = ParametricFeedback(2, 2, delta=0.0, kappa_o=0.0, kappa_g=3.0)
    elif kind == "parametric":
        fb = ParametricFeedback(2, 2, delta=0.3, kappa_o=0.5, kappa_g=3.0, task_logits=(0.4, -0.4))
    else:
        fb = FreeFormFeedback(
            jnp.array([[0.8, 0.1], [0.2, 0.5]]),
            jnp.array([[[1.0, -0.5], [-0.8, 0.3]], [[0.2, 0.4], [-0.3, -1.0]]]),
            task_logits=(-0.2, 0.3),
        )
    return HierarchicalModel(fb, size=8, sigma_y=SIGMA_Y)


def exact_log_marginal(model: HierarchicalModel, category: int):
    """``log p(y, O | theta)`` up to theta-free constants, by enumeration and a grid over x."""
    fb = model.feedback
    p = jnp.clip(fb.unit_probabilities(), 1e-6, 1 - 1e-6)[:, category]  # (tasks, units)
    log_task = fb.task_log_prior()
    coupling = fb.coupling()
    gram = model.gram()
    h = 0.01
    grid = jnp.arange(h / 2, 10.0, h)
    x1, x2 = jnp.meshgrid(grid, grid, indexing="ij")
    s, b = CONTRAST, PROJECTION
    quad = s**2 * (gram[0, 0] * x1**2 + 2 * gram[0, 1] * x1 * x2 + gram[1, 1] * x2**2)
    log_lik = -(quad - 2 * s * (b[0] * x1 + b[1] * x2)) / (2 * SIGMA_Y**2)
    terms = []
    for t in range(2):
        for g in ([0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]):
            g = jnp.array(g)
            log_w = log_task[t] + jnp.log(0.5)
            log_w += jnp.sum(g * jnp.log(p[t]) + (1 - g) * jnp.log1p(-p[t]))
            tau = 1 + coupling @ g
            dens = log_lik - x1 / tau[0] - x2 / tau[1]
            terms.append(log_w - jnp.sum(jnp.log(tau)) + jax.nn.logsumexp(dens) + 2 * jnp.log(h))
    return jax.nn.logsumexp(jnp.stack(terms))


def flat_gradient(model, grads) -> np.ndarray:
    spec = learning.learnable(model)
    leaves = jax.tree.leaves(eqx.filter(grads, spec))
    return np.concatenate([np.ravel(np.asarray(a)) for a in leaves])


CHAIN_SETTINGS = SamplerSettings(
    n_samples=120, burn_in=20, contrast_prior="clamped", contrast_init=CONTRAST
)


@eqx.filter_jit
def chain_gradients(keys, model, category):
    """One Fisher-gradient estimate per independent clamped chain (vmapped over keys)."""
    cond = gibbs.conditionals(model)

    def one(key):
        draws = learning.posterior_samples(key, cond, PROJECTION, category, CHAIN_SETTINGS)
        return learning.fisher_gradient(model, draws)[1]

    return jax.vmap(one)(keys)


@pytest.mark.parametrize("kind", ["naive", "parametric", "free_form"])
@pytest.mark.parametrize("category", [0, 1])
def test_fisher_gradient_matches_exact_marginal_likelihood(kind, category):
    model = tiny_model(kind)
    spec = learning.learnable(model)
    params, static = eqx.partition(model, spec)
    exact = eqx.filter_grad(lambda p: exact_log_marginal(eqx.combine(p, static), category))(params)
    exact = flat_gradient(model, exact)

    n_chains = 3000
    keys = jax.random.split(jax.random.key(category), n_chains)
    grads = chain_gradients(keys, model, jnp.asarray(category))
    leaves = [np.asarray(a).reshape(n_chains, -1) for a in jax.tree.leaves(eqx.filter(grads, spec))]
    est = np.concatenate(leaves, axis=1)
    mean, se = est.mean(0), est.std(0) / np.sqrt(n_chains)
    # Independent chains: 4 standard errors (plus float32 slack on exact zeros).
    np.testing.assert_array_less(np.abs(mean - exact), 4 * se + 1e-4 + 1e-3 * np.abs(exact))
    if kind == "naive":
        # At delta = 0 the coupling vanishes, yet its gradient is informative (E[(x-1) K g]):
        # clearly non-zero and resolved by the estimate. kappa_o's and the task logits'
        # gradients are exactly 0 there (g and T are independent of the image).
        assert abs(exact[0]) > 10 * se[0]
        np.testing.assert_allclose(exact[1:], 0.0, atol=1e-4)


def test_kappa_o_gradient_at_zero_is_the_right_derivative():
    """The naive start kappa_o = 0 sits on jax's i0e kink; models.feedback uses the right
    derivative there, which must equal a one-sided finite difference."""

    def table(k):
        return ParametricFeedback(8, 4, kappa_o=k).unit_probabilities()

    jac = jax.jacobian(table)(0.0)
    fd = (table(1e-3) - table(0.0)) / 1e-3
    np.testing.assert_allclose(jac, fd, atol=2e-4)


def test_learnable_filter_projection_and_fixed_leaves():
    model = reference_model(8, 4, delta=0.0, kappa_o=0.0)
    spec = learning.learnable(model)
    assert spec.feedback.delta and spec.feedback.kappa_o and spec.feedback.task_logits
    assert not spec.feedback.kappa_g and not spec.fields and not spec.sigma_y
    neg = eqx.tree_at(lambda m: (m.feedback.delta, m.feedback.kappa_o), model, (-1.0, -2.0))
    proj = learning.project(neg)
    assert float(proj.feedback.delta) == 0.0 and float(proj.feedback.kappa_o) == 0.0
    free = HierarchicalModel(FreeFormFeedback(-jnp.ones((8, 4)), jnp.zeros((2, 2, 4))))
    assert float(jnp.min(learning.project(free).feedback.coupling_matrix)) == 0.0

    opt = optax.sgd(1e-3)
    state = opt.init(eqx.filter(model, spec))
    settings = SamplerSettings(n_samples=6, burn_in=2, n_bins=1)
    new, _, info = learning.train_step(
        jax.random.key(0),
        model,
        state,
        opt,
        Stimulus(),
        jnp.zeros(4, int),
        jnp.array([6.0, -6.0, 0.0, 3.0]),
        settings,
    )
    assert float(new.feedback.delta) > 0.0  # leaves the boundary in the informative direction
    assert float(new.feedback.kappa_g) == float(model.feedback.kappa_g)
    np.testing.assert_array_equal(new.fields, model.fields)
    np.testing.assert_array_equal(info.category[:2], [0, 1])
    assert info.log_joint.shape == (4,) and bool(jnp.all(jnp.isfinite(info.log_joint)))


def test_unknown_feedback_is_named():
    class Other(ParametricFeedback):
        learnable_fields = ()

    with pytest.raises(ValueError, match="feedback"):
        learning.learnable(HierarchicalModel(Other(4, 2)))
