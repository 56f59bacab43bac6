"""Feedback learning: Fisher's-identity gradients against the exact likelihoods.

A 2-neuron, 2-unit model is small enough to compute ``log p(y, O | theta, q)`` exactly: a sum
over the 12 states of ``(K, g)`` (three contexts) of a 2-d integral over ``x`` on a grid (as in
test_gibbs.py), with the contrast clamped; ``log p(O | y) = log p(y, O) - log p(y)``. Their
gradients (by autodiff through the grid sum) must agree with the Fisher-identity estimates within
Monte-Carlo standard error: the joint objective's from clamped Gibbs chains, the conditional
objective's from pairs of clamped and free chains.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayescortex.inference import SamplerSettings, chains, gibbs, learning
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
CONTEXT_LOGITS = ((0.4, -0.4, 0.1), (-0.3, 0.2, 0.8))  # [cue, K]: rows differ


def tiny_model(kind: str) -> HierarchicalModel:
    if kind == "naive":
        fb = ParametricFeedback(2, 2, delta=0.0, kappa_o=0.0, kappa_g=3.0)
    elif kind == "naive_start":  # the flat start of task learning: kappa_o = 0, delta > 0
        fb = ParametricFeedback(
            2, 2, delta=0.3, kappa_o=0.0, kappa_g=3.0, context_logits=CONTEXT_LOGITS
        )
    elif kind == "parametric":
        fb = ParametricFeedback(
            2, 2, delta=0.3, kappa_o=(0.5, 0.8), kappa_g=3.0, context_logits=CONTEXT_LOGITS
        )
    else:
        fb = FreeFormFeedback(
            jnp.array([[0.8, 0.1], [0.2, 0.5]]),
            jnp.array([[[1.0, -0.5], [-0.8, 0.3]], [[0.2, 0.4], [-0.3, -1.0]]]),
            context_logits=((-0.2, 0.3, 0.0), (0.5, -0.6, 0.4)),
        )
    return HierarchicalModel(fb, size=8, sigma_y=SIGMA_Y)


UNIT_STATES = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def exact_log_joint_table(model: HierarchicalModel, cue: int = 0):
    """``log p(y, O | theta, q)`` for both categories ``O`` (up to theta-free constants), by
    enumeration of ``(K, g)`` (3 contexts x 4 unit states) and a grid over ``x``.

    The x-integral depends on ``g`` alone, so it is done once per unit state."""
    log_k = model.feedback.context_log_prior(cue)
    terms = log_k[:, None, None] + jnp.log(0.5) + log_units_table(model)
    return jax.nn.logsumexp(terms + log_image_given_units(model)[None, None, :], axis=(0, 2))


def log_units_table(model: HierarchicalModel):
    """``log p(g | K, O)`` for every ``(K, O)`` and unit state (:data:`UNIT_STATES`)."""
    p = jnp.clip(model.feedback.unit_probabilities(), 1e-6, 1 - 1e-6)
    return jnp.einsum("sk,tck->tcs", UNIT_STATES, jnp.log(p)) + jnp.einsum(
        "sk,tck->tcs", 1 - UNIT_STATES, jnp.log1p(-p)
    )


def log_image_given_units(model: HierarchicalModel, projection=PROJECTION):
    """Per unit state: the log of the integral over ``x`` of ``p(x | g) p(y | x, s)`` (the
    image entering through its field projection ``projection``), on a grid."""
    coupling = model.feedback.coupling()
    gram = model.gram()
    h = 0.01
    grid = jnp.arange(h / 2, 10.0, h)
    x1, x2 = jnp.meshgrid(grid, grid, indexing="ij")
    s, b = CONTRAST, projection
    quad = s**2 * (gram[0, 0] * x1**2 + 2 * gram[0, 1] * x1 * x2 + gram[1, 1] * x2**2)
    log_lik = -(quad - 2 * s * (b[0] * x1 + b[1] * x2)) / (2 * SIGMA_Y**2)
    log_x = []
    for g in UNIT_STATES:
        tau = 1 + coupling @ g
        dens = log_lik - x1 / tau[0] - x2 / tau[1]
        log_x.append(-jnp.sum(jnp.log(tau)) + jax.nn.logsumexp(dens) + 2 * jnp.log(h))
    return jnp.stack(log_x)


def exact_log_marginal(model: HierarchicalModel, category: int, cue: int = 0):
    """``log p(y, O | theta, q)`` up to theta-free constants."""
    return exact_log_joint_table(model, cue)[category]


def exact_log_conditional(model: HierarchicalModel, category: int, cue: int = 0):
    """``log p(O | y, theta, q) = log p(y, O) - log p(y)``, ``log p(y)`` the logsumexp over O."""
    table = exact_log_joint_table(model, cue)
    return table[category] - jax.nn.logsumexp(table)


def exact_gradient(model, fn):
    """Autodiff gradient of ``fn(model)`` over the learnable leaves, flattened."""
    params, static = eqx.partition(model, learning.learnable(model))
    grads = eqx.filter_grad(lambda p: fn(eqx.combine(p, static)))(params)
    return flat_gradient(model, grads)


def flat_gradient(model, grads) -> np.ndarray:
    spec = learning.learnable(model)
    leaves = jax.tree.leaves(eqx.filter(grads, spec))
    return np.concatenate([np.ravel(np.asarray(a)) for a in leaves])


def positions(model) -> dict[str, np.ndarray]:
    """Where each learnable leaf's entries sit in :func:`flat_gradient`'s vector."""
    names = model.feedback.learnable_fields
    labelled = eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names], model,
        replace=[jnp.full(jnp.shape(getattr(model.feedback, n)), i) for i, n in enumerate(names)],
    )  # fmt: skip
    flat = flat_gradient(model, labelled)
    return {n: np.flatnonzero(flat == i) for i, n in enumerate(names)}


CHAIN_SETTINGS = SamplerSettings(
    n_samples=120, burn_in=20, contrast_prior="clamped", contrast_init=CONTRAST
)


@eqx.filter_jit
def chain_gradients(keys, model, category):
    """One Fisher-gradient estimate per independent clamped chain (vmapped over keys)."""
    cond = gibbs.conditionals(model)

    def one(key):
        draws = chains.posterior_samples(key, cond, PROJECTION, category, CHAIN_SETTINGS)
        return learning.fisher_gradient(model, draws)[1]

    return jax.vmap(one)(keys)


@pytest.mark.parametrize("kind", ["naive", "parametric", "free_form"])
@pytest.mark.parametrize("category", [0, 1])
def test_fisher_gradient_matches_exact_marginal_likelihood(kind, category):
    model = tiny_model(kind)
    spec = learning.learnable(model)
    exact = exact_gradient(model, lambda m: exact_log_marginal(m, category))

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
        # clearly non-zero and resolved by the estimate. kappa_o's and the context logits'
        # gradients are exactly 0 there (g and K are independent of the image).
        at = positions(model)
        delta, others = at["delta"][0], np.concatenate([at["kappa_o"], at["context_logits"]])
        assert abs(exact[delta]) > 10 * se[delta]
        np.testing.assert_allclose(exact[others], 0.0, atol=1e-4)


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
    assert spec.feedback.delta and spec.feedback.kappa_o and spec.feedback.context_logits
    assert not spec.feedback.kappa_g and not spec.fields and not spec.sigma_y
    neg = eqx.tree_at(
        lambda m: (m.feedback.delta, m.feedback.kappa_o), model, (-1.0, jnp.array([-2.0, 1.0]))
    )
    proj = learning.project(neg)
    assert float(proj.feedback.delta) == 0.0
    np.testing.assert_array_equal(proj.feedback.kappa_o, [0.0, 1.0])
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
        "joint",
        jnp.asarray(1.0),
    )
    assert float(new.feedback.delta) > 0.0  # leaves the boundary in the informative direction
    assert float(new.feedback.kappa_g) == float(model.feedback.kappa_g)
    np.testing.assert_array_equal(new.fields, model.fields)
    np.testing.assert_array_equal(info.category[:2], [0, 1])
    assert info.objective.shape == (4,) and bool(jnp.all(jnp.isfinite(info.objective)))
    assert bool(jnp.all(jnp.isnan(info.correct)))  # the joint objective runs no free chain


# -- the conditional objective: grad log p(O* | y) ------------------------------------------


def exact_gradient_tree(model, fn):
    params, static = eqx.partition(model, learning.learnable(model))
    return eqx.filter_grad(lambda p: fn(eqx.combine(p, static)))(params)


@eqx.filter_jit
def conditional_gradients(keys, model, category, cue):
    """One conditional-gradient estimate per independent pair of exact chains (vmapped): the
    clamped chain on ``clamp_category(cond, O*)`` and the free chain on ``cond``, one static
    image, burn-in sweeps weighted 0."""
    cond = gibbs.conditionals(model, cue)
    clamped_cond = chains.clamp_category(cond, category)
    settings = chains.exact_settings(CHAIN_SETTINGS)  # odds 1, no pre-signal period
    n = settings.n_sweeps
    projections = jnp.broadcast_to(PROJECTION, (n, PROJECTION.shape[0]))
    evidence = jnp.ones(n, dtype=bool)
    kept = jnp.arange(n) >= settings.burn_in
    weights = kept / jnp.sum(kept)

    def one(key):
        run = lambda c: chains.chain_latents(  # noqa: E731
            key, c, projections, evidence, settings, learning.EXACT_MODE
        )[0]
        clamped, free = run(clamped_cond), run(cond)
        return learning.conditional_gradient(model, clamped, free, weights=weights, cue=cue)

    return jax.vmap(one)(keys)


@pytest.mark.parametrize(
    "kind, cue", [("naive_start", 0), ("parametric", 0), ("parametric", 1), ("free_form", 0)]
)
@pytest.mark.parametrize("category", [0, 1])
def test_conditional_gradient_matches_exact_conditional_likelihood(kind, cue, category):
    """The clamped-minus-free estimate of grad log p(O* | y) against autodiff of the enumerated
    log p(y, O*) - log p(y), for every learnable leaf."""
    model = tiny_model(kind)
    spec = learning.learnable(model)
    exact = exact_gradient(model, lambda m: exact_log_conditional(m, category, cue))

    n_pairs = 3000
    keys = jax.random.split(jax.random.key(10 + category), n_pairs)
    grads = conditional_gradients(keys, model, jnp.asarray(category), cue)
    leaves = [np.asarray(a).reshape(n_pairs, -1) for a in jax.tree.leaves(eqx.filter(grads, spec))]
    est = np.concatenate(leaves, axis=1)
    mean, se = est.mean(0), est.std(0) / np.sqrt(n_pairs)
    # Independent pairs of chains: 4 standard errors (plus float32 slack on exact zeros).
    np.testing.assert_array_less(np.abs(mean - exact), 4 * se + 1e-4 + 1e-3 * np.abs(exact))
    # The other cue's context logits do not enter (exactly 0 in the estimate as well).
    logits = np.asarray(eqx.filter(grads, spec).feedback.context_logits)
    np.testing.assert_array_equal(logits[:, 1 - cue], 0.0)
    if kind == "naive_start":
        # kappa_o = 0: every unit row is 1 / N_g, so p(O | y) = 1/2 whatever delta and the
        # context logits are (their gradients are exactly 0), but not whatever kappa_o is:
        # the cardinal kernel's gradient is clearly non-zero and resolved (the flat start
        # moves), towards the category that the image (driving the 0-degree neuron) supports.
        # With two units at 0 and 90 degrees the oblique kernel's first-order effect is
        # cos(2 * 45 deg) = 0, so its gradient is exactly 0.
        cardinal = positions(model)["kappa_o"][0]
        d_cardinal = exact[cardinal]
        assert abs(d_cardinal) > 10 * se[cardinal]
        assert np.sign(d_cardinal) == (1 if category == 0 else -1)
        np.testing.assert_allclose(np.delete(exact, cardinal), 0.0, atol=1e-4)
        other = exact_gradient(model, lambda m: exact_log_conditional(m, 1 - category, cue))
        # p(O = 0 | y) + p(O = 1 | y) = 1 with both at 1/2: opposite gradients.
        np.testing.assert_allclose(other[cardinal], -d_cardinal, rtol=1e-3)
    else:
        assert np.max(np.abs(exact)) > 10 * np.max(se)  # the check resolves a real gradient


@pytest.mark.parametrize(
    "kind, cue, leaf, index, one_sided",
    [
        ("naive_start", 0, lambda f: f.kappa_o, 0, True),  # the right derivative at the boundary
        ("parametric", 1, lambda f: f.context_logits, (1, 2), False),
        ("parametric", 0, lambda f: f.delta, (), False),
        ("free_form", 0, lambda f: f.unit_logits, (0, 0, 0), False),
    ],
)
def test_exact_conditional_gradient_matches_finite_differences(kind, cue, leaf, index, one_sided):
    """Autodiff through the enumeration (float32, what the tests above use) against finite
    differences of the enumerated log p(O* | y) in float64 (central, step 1e-5; forward, step
    1e-6, at the kappa_o = 0 boundary). Tolerance: 1e-4 + 1e-3 |gradient|, the float32 slack
    of the tests above."""
    category = 0
    grads = exact_gradient_tree(tiny_model(kind), lambda m: exact_log_conditional(m, category, cue))
    auto = float(np.asarray(leaf(grads.feedback))[index])

    with jax.enable_x64(True):
        model = tiny_model(kind)
        assert leaf(model.feedback).dtype == jnp.float64

        def f(step):
            moved = eqx.tree_at(
                lambda m: leaf(m.feedback), model,
                replace_fn=lambda a: jnp.asarray(a).at[index].add(step),
            )  # fmt: skip
            return float(exact_log_conditional(moved, category, cue))

        if one_sided:
            eps = 1e-6
            fd = (f(eps) - f(0.0)) / eps
        else:
            eps = 1e-5
            fd = (f(eps) - f(-eps)) / (2 * eps)
    assert abs(fd) > 1e-3  # a parameter that matters
    assert abs(auto - fd) < 1e-4 + 1e-3 * abs(fd), (auto, fd)


# -- fisher_step with the conditional objective ---------------------------------------------


def small_model(kind: str) -> HierarchicalModel:
    if kind == "parametric":
        return reference_model(8, 4, delta=0.08, kappa_o=0.5)
    coupling = 0.1 * jnp.ones((8, 4))
    return HierarchicalModel(FreeFormFeedback(coupling, 0.3 * jnp.ones((2, 2, 4))))


@pytest.mark.parametrize("kind", ["parametric", "free_form"])
def test_conditional_fisher_step_runs_and_holds_the_sensory_leaves(kind):
    model = small_model(kind)
    spec = learning.learnable(model)
    opt = optax.adam(0.01)
    state = opt.init(eqx.filter(model, spec))
    settings = SamplerSettings(n_samples=10, n_presignal=3, burn_in=2, n_bins=1)
    tasks, contrasts = jnp.array([0, 1, 0, 1]), jnp.array([6.0, -6.0, 0.0, 3.0])
    stim = Stimulus(frame_every=4)

    def step(rate):
        return learning.train_step(
            jax.random.key(1), model, state, opt, stim, tasks, contrasts, settings,
            "conditional", jnp.asarray(rate),
        )  # fmt: skip

    held, _, info = step(0.0)
    assert info.objective.shape == (4,) and np.all(np.isfinite(info.objective))
    assert np.all(np.asarray(info.objective) <= 1e-6)  # a log probability
    assert info.context_match.shape == (4,)
    assert np.all((info.context_match >= 0) & (info.context_match <= 1))
    assert info.correct.shape == (4,) and set(np.unique(info.correct)) <= {0.0, 1.0}
    assert info.category.shape == (4,)
    np.testing.assert_array_equal(np.asarray(info.category)[[0, 1, 3]], [0, 1, 0])
    grad_leaves = eqx.filter(info.gradient, spec)
    for name in model.feedback.learnable_fields:
        g = getattr(grad_leaves.feedback, name)
        assert g.shape == getattr(model.feedback, name).shape and np.all(np.isfinite(g)), name
    for name in set(type(model.feedback).__dataclass_fields__) - set(
        model.feedback.learnable_fields
    ):
        assert not isinstance(getattr(info.gradient.feedback, name), jax.Array), name
    assert info.gradient.fields is None and info.gradient.sigma_y is None

    sensory = model.feedback.sensory_fields[0]
    # sensory_rate = 0: the sensory leaf is bit-identical; the task leaves learn.
    np.testing.assert_array_equal(getattr(held.feedback, sensory), getattr(model.feedback, sensory))
    task_leaf = "kappa_o" if kind == "parametric" else "unit_logits"
    assert not np.array_equal(getattr(held.feedback, task_leaf), getattr(model.feedback, task_leaf))
    assert not np.array_equal(held.feedback.context_logits, model.feedback.context_logits)
    # sensory_rate = 1: the sensory leaf follows the marginal likelihood of the images.
    moved, _, info_moved = step(1.0)
    assert not np.array_equal(getattr(moved.feedback, sensory), getattr(model.feedback, sensory))
    # The rate scales the update, not the chains: the same trials and diagnostics.
    np.testing.assert_array_equal(info_moved.objective, info.objective)
    np.testing.assert_array_equal(
        getattr(moved.feedback, task_leaf), getattr(held.feedback, task_leaf)
    )


def test_unknown_objective_is_named():
    model = reference_model(8, 4)
    opt = optax.sgd(1e-3)
    state = opt.init(eqx.filter(model, learning.learnable(model)))
    with pytest.raises(ValueError, match="objective"):
        learning.fisher_step(
            jax.random.key(0), model, state, opt, Stimulus(), jnp.zeros(2, int),
            jnp.array([6.0, -6.0]), SamplerSettings(n_samples=6, burn_in=2, n_bins=1), "marginal",
        )  # fmt: skip


def test_unknown_feedback_is_named():
    class Other(ParametricFeedback):
        learnable_fields = ()

    with pytest.raises(ValueError, match="feedback"):
        learning.learnable(HierarchicalModel(Other(4, 2)))
