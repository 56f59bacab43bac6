"""The Gibbs kernels against exact answers.

A 2-neuron, 2-unit model is small enough to integrate exactly: the posterior over
``(K, O, g)`` (three contexts: the two tasks and ``none``) is a sum over 24 discrete states of a
2-d integral over ``x``, done on a grid. With ``memory = 0`` and ``odds_increment = 1`` the
evidence accumulator is the exact conditional ``p(K, O | g)``, so the whole sweep is a plain
Gibbs sampler of that posterior and its marginals must match within Monte-Carlo standard error,
for the context prior of either cue.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.inference import InferenceMode, SamplerSettings, gibbs
from bayescortex.models import FreeFormFeedback, HierarchicalModel

CONTEXT_PRIOR = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.15, 0.75]]))  # [cue, K]
P_ON = np.array(  # [K, O, k]; the none row is 1 / N_g for both categories
    [[[0.8, 0.1], [0.2, 0.6]], [[0.3, 0.5], [0.5, 0.3]], [[0.5, 0.5], [0.5, 0.5]]]
)
COUPLING = np.array([[1.5, 0.2], [0.1, 2.0]])
GRAM = np.array([[1.0, 0.6], [0.6, 1.0]])
PROJECTION = np.array([1.2, 0.4])
CONTRAST = 0.8
NOISE_VAR = 0.5


def small_conditionals(cue=0):
    log_prior = CONTEXT_PRIOR[cue][:, None] + np.full((3, 2), np.log(0.5))
    return gibbs.Conditionals(
        gram=jnp.asarray(GRAM),
        coupling=jnp.asarray(COUPLING),
        log_p_on=jnp.log(jnp.asarray(P_ON)),
        log_p_off=jnp.log1p(-jnp.asarray(P_ON)),
        log_prior=jnp.asarray(log_prior),
        noise_var=jnp.asarray(NOISE_VAR),
    )


def exact_marginals(cue=0):
    """P(K), P(O = 0), P(g_k = 1), E[x_i] by enumeration over (K, O, g) and a grid over x."""
    h = 0.01
    grid = np.arange(h / 2, 12, h)
    x1, x2 = np.meshgrid(grid, grid, indexing="ij")
    quad = CONTRAST**2 * (GRAM[0, 0] * x1**2 + 2 * GRAM[0, 1] * x1 * x2 + GRAM[1, 1] * x2**2)
    lin = 2 * CONTRAST * (PROJECTION[0] * x1 + PROJECTION[1] * x2)
    log_lik = -(quad - lin) / (2 * NOISE_VAR)
    total, p_k, p_o0, p_g, e_x = 0.0, np.zeros(3), 0.0, np.zeros(2), np.zeros(2)
    for k in range(3):
        for o in range(2):
            for g in [(0, 0), (0, 1), (1, 0), (1, 1)]:
                g = np.array(g)
                prior_g = np.prod(np.where(g, P_ON[k, o], 1 - P_ON[k, o]))
                w = np.exp(CONTEXT_PRIOR[cue, k]) * 0.5 * prior_g
                tau = 1 + COUPLING @ g
                dens = np.exp(log_lik - x1 / tau[0] - x2 / tau[1]) / np.prod(tau)
                mass = w * dens.sum() * h * h
                total += mass
                p_k[k] += mass
                p_o0 += mass * (o == 0)
                p_g += mass * g
                e_x += w * h * h * np.array([(x1 * dens).sum(), (x2 * dens).sum()])
    return p_k / total, p_o0 / total, p_g / total, e_x / total


@pytest.mark.parametrize("cue", [0, 1])
def test_full_sweep_matches_exact_posterior(cue):
    """Marginals of K, O, g and x after 40 exact sweeps, for the context prior of each cue."""
    cond = small_conditionals(cue)
    settings = SamplerSettings(odds_increment=1.0, contrast_prior="clamped", contrast_init=CONTRAST)
    mode = InferenceMode(category_feedback=1.0, coupling_feedback=1.0, memory=0.0)
    projection = jnp.asarray(PROJECTION)

    def chain(key):
        state = gibbs.init(jax.random.fold_in(key, 10_000), cond, settings, mode)

        def body(state, k):
            state, info = gibbs.step(k, state, cond, projection, True, settings, mode)
            return state, info

        state, info = jax.lax.scan(body, state, jax.random.split(key, 40))
        return state, jax.tree.map(lambda a: a[-1], info)

    n_chains = 20_000
    final, info = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(cue), n_chains))
    p_k, p_o0, p_g, e_x = exact_marginals(cue)
    # The two cues' posteriors differ clearly (so the test resolves the cue).
    other = exact_marginals(1 - cue)[0]
    assert np.max(np.abs(p_k - other)) > 0.2

    k = np.asarray(final.context)[:, None] == np.arange(3)[None, :]
    o0 = np.asarray(final.category == 0, dtype=float)
    g = np.asarray(final.units)
    x = np.asarray(final.neurons)
    # Independent chains: the standard error is the sample sd / sqrt(n). Tolerance 4 SE.
    np.testing.assert_array_less(np.abs(k.mean(0) - p_k), 4 * k.std(0) / np.sqrt(n_chains))
    assert abs(o0.mean() - p_o0) < 4 * o0.std() / np.sqrt(n_chains)
    np.testing.assert_array_less(np.abs(g.mean(0) - p_g), 4 * g.std(0) / np.sqrt(n_chains))
    np.testing.assert_array_less(np.abs(x.mean(0) - e_x), 4 * x.std(0) / np.sqrt(n_chains))
    # GibbsInfo.context is p(K | g) here (exact update): a probability vector whose mean over
    # chains is P(K | y) (Rao-Blackwellised), and belief is p(O = 0 | g).
    ctx = np.asarray(info.context)
    np.testing.assert_allclose(ctx.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_less(np.abs(ctx.mean(0) - p_k), 4 * ctx.std(0) / np.sqrt(n_chains))
    belief = np.asarray(info.belief)
    assert abs(belief.mean() - p_o0) < 4 * belief.std() / np.sqrt(n_chains)
    # The cached tau stays equal to 1 + C g.
    np.testing.assert_allclose(final.means, 1 + g @ COUPLING.T, rtol=1e-5)


@pytest.mark.parametrize("cue", [0, 1])
def test_conditionals_of_a_model_follow_the_cue(cue):
    """gibbs.conditionals(model, cue): the (K, O) prior of that cue, the 3-context unit table."""
    logits = CONTEXT_PRIOR + 0.3  # unnormalised rows: conditionals must normalise them
    p_tasks = P_ON[:2]
    fb = FreeFormFeedback(COUPLING, np.log(p_tasks) - np.log1p(-p_tasks), logits)
    model = HierarchicalModel(fb, size=8)
    cond = gibbs.conditionals(model, cue)
    np.testing.assert_allclose(cond.log_prior, small_conditionals(cue).log_prior, atol=1e-6)
    np.testing.assert_allclose(jnp.exp(cond.log_p_on), P_ON, atol=1e-6)
    np.testing.assert_allclose(jnp.exp(cond.log_p_off), 1 - P_ON, atol=1e-6)
    np.testing.assert_allclose(cond.coupling, COUPLING, rtol=1e-6)


def test_contrast_update_matches_its_truncated_normal_conditional():
    cond = small_conditionals()
    neurons = jnp.array([1.0, 0.5])
    keys = jax.random.split(jax.random.key(3), 20_000)
    draws = jax.vmap(
        lambda k: gibbs.update_contrast(
            k, jnp.asarray(0.3), neurons, jnp.asarray(PROJECTION), cond, 0.1
        )
    )(keys)
    precision = 1 / 0.1**2 + float(neurons @ (jnp.asarray(GRAM) @ neurons)) / NOISE_VAR
    mean = (float(jnp.asarray(PROJECTION) @ neurons) / NOISE_VAR + 0.3 / 0.1**2) / precision
    import scipy.stats as st

    sd = 1 / np.sqrt(precision)
    ref = st.truncnorm(-mean / sd, np.inf, loc=mean, scale=sd)
    assert st.kstest(np.asarray(draws), ref.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", ["update_neurons_gibbs", "update_units"])
def test_block_boundaries_do_not_matter(name):
    """The blocked, unrolled loops equal a plain one-at-a-time loop (same uniforms)."""
    n = 36  # blocks of 6 (neurons and units): boundaries inside the vector
    key = jax.random.key(4)
    k1, k2, k3 = jax.random.split(key, 3)
    gram = jax.random.normal(k1, (n, n)) * 0.1
    gram = gram @ gram.T + jnp.eye(n)
    coupling = jax.random.uniform(k2, (n, n))
    cond = gibbs.Conditionals(gram, coupling, None, None, None, jnp.asarray(1.0))
    x = jax.random.exponential(k3, (n,))
    g = (jax.random.uniform(k1, (n,)) < 0.3).astype(float)
    tau = 1 + coupling @ g
    proj = jax.random.normal(k2, (n,))
    if name == "update_neurons_gibbs":
        got = gibbs.update_neurons_gibbs(key, x, tau, jnp.asarray(0.7), proj, cond)
        u = jax.random.uniform(key, (n,), minval=jnp.finfo(x.dtype).tiny)
        want = np.array(x)
        from bayescortex.inference.truncnorm import positive_normal_from_uniform

        for i in range(n):
            others = float(np.asarray(gram)[i] @ want - gram[i, i] * want[i])
            mean = (0.7 * proj[i] - 0.49 * others - 1 / tau[i]) / (0.49 * gram[i, i])
            want[i] = positive_normal_from_uniform(mean, 1 / (0.7 * jnp.sqrt(gram[i, i])), u[i])
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)
    else:
        logits = jax.random.normal(k3, (n,))
        got_g, got_tau = gibbs.update_units(key, g, tau, x, logits, coupling)
        u = np.asarray(jax.random.uniform(key, (n,)))
        want = np.array(g)
        for k in range(n):

            def loglik(gk, k=k):
                gg = want.copy()
                gg[k] = gk
                t = 1 + np.asarray(coupling) @ gg
                return np.sum(-np.log(t) - np.asarray(x) / t)

            p = 1 / (1 + np.exp(-(float(logits[k]) + loglik(1) - loglik(0))))
            want[k] = float(u[k] < p)
        np.testing.assert_array_equal(got_g, want)
        np.testing.assert_allclose(got_tau, 1 + np.asarray(coupling) @ want, rtol=1e-5)


@pytest.mark.parametrize("end", ["lowest", "highest"])
def test_x_and_contrast_updates_are_finite_at_the_uniform_range_ends(monkeypatch, end):
    """Regression: u = finfo.tiny (the lowest uniform they draw) made x or s +inf.

    ``jax.random.uniform`` is replaced by one that returns the lowest (``minval = tiny``) or
    the highest (``1 - eps``) value of the range ``[tiny, 1)`` the updates draw from.
    """
    real_uniform = jax.random.uniform

    def extreme(key, shape=(), dtype=float, minval=0.0, maxval=1.0):
        u = real_uniform(key, shape, dtype, minval, maxval)
        value = minval if end == "lowest" else 1 - jnp.finfo(u.dtype).eps
        return jnp.full_like(u, value)

    monkeypatch.setattr(jax.random, "uniform", extreme)
    cond = small_conditionals()
    key, projection = jax.random.key(5), jnp.asarray(PROJECTION)
    # x: at contrast 0.8 neuron 0's conditional has a = -mean / sd < 0 (the direct branch);
    # at contrast 30 it has a ~ 11 (the tail branch: strongly explained away).
    for contrast in (0.8, 30.0):
        x = gibbs.update_neurons_gibbs(
            key, jnp.array([1.0, 0.5]), jnp.array([1.5, 1.0]), jnp.asarray(contrast),
            projection, cond,
        )  # fmt: skip
        assert bool(jnp.all(jnp.isfinite(x))) and bool(jnp.all(x >= 0)), (contrast, x)
    # s: with x = 0 its conditional is N(s_prev, step^2) truncated at 0: a = -1.
    for neurons in (jnp.zeros(2), jnp.array([1.0, 0.5])):
        s = gibbs.update_contrast(key, jnp.asarray(0.1), neurons, projection, cond, 0.1)
        assert bool(jnp.isfinite(s)) and float(s) >= 0, (neurons, s)


def test_apical_gain_scales_only_what_reaches_the_neurons():
    """g_a sets the means the neurons are drawn with, 1 + g_a (tau - 1); the middle layer
    still reads the neurons through the full tau. g_a = 0: the neurons' update no longer
    depends on the units; g_a = 1: exactly the Gibbs update."""
    cond = small_conditionals()
    settings = SamplerSettings(odds_increment=1.0, contrast_prior="clamped", contrast_init=CONTRAST)
    projection = jnp.asarray(PROJECTION)
    key, k_x = jax.random.key(3), jax.random.split(jax.random.key(3), 4)[0]
    base = gibbs.init(jax.random.key(4), cond, settings, InferenceMode())
    states = [  # the same neurons, units off or on (tau of each)
        base._replace(
            units=jnp.asarray(g, float), means=1.0 + jnp.asarray(COUPLING) @ jnp.asarray(g, float)
        )
        for g in ((0, 0), (1, 1))
    ]

    def neurons_after(state, gain):
        mode = InferenceMode(apical_gain=gain)
        return np.asarray(gibbs.step(key, state, cond, projection, True, settings, mode)[0].neurons)

    def gibbs_neurons(state, means):
        x = gibbs.update_neurons_gibbs(k_x, state.neurons, means, state.contrast, projection, cond)
        return np.asarray(x)

    for state in states:
        np.testing.assert_array_equal(neurons_after(state, 1.0), gibbs_neurons(state, state.means))
        half = 1.0 + 0.5 * (state.means - 1.0)
        np.testing.assert_allclose(neurons_after(state, 0.5), gibbs_neurons(state, half), rtol=1e-6)
    blocked = [neurons_after(s, 0.0) for s in states]
    np.testing.assert_array_equal(blocked[0], blocked[1])  # the units do not reach the neurons
    assert not np.array_equal(neurons_after(states[0], 1.0), neurons_after(states[1], 1.0))
    # Bottom-up intact: with g_a = 0 the units still read the neurons, which a stronger
    # image drives up (larger x: units on more often).
    mode = InferenceMode(apical_gain=0.0)

    def units_on(scale):
        def one(k):
            return gibbs.step(k, states[0], cond, scale * projection, True, settings, mode)[0]

        return np.asarray(jax.vmap(one)(jax.random.split(key, 4000)).units.mean(0))

    assert units_on(6.0).sum() > units_on(0.0).sum() + 0.3  # measured: 1.32 against 0.47
    with pytest.raises(ValueError, match="apical_gain"):
        InferenceMode(apical_gain=1.5)
