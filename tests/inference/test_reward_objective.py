"""The ``"reward"`` objective: SPSA with common random numbers on the behaving decision.

The reference is independent of :func:`reward.spsa_trial`: recorded trials
(:func:`simulate_trials`, the path every recorded block takes) at ``theta_c + c e`` and
``theta_c - c e`` with the same trial keys (common random numbers), ``e`` one coordinate, give a
finite difference of the behaving accuracy along ``e`` with its own standard error. The SPSA
estimate perturbs every outcome leaf at once (Rademacher directions), on other trial keys; its
``e`` component must agree with the finite difference within ``Z_TOL`` combined standard errors,
at the naive start (``kappa_o = 0``, estimated at ``kappa_o = c``) and at a strong kernel
(``kappa_o = 3``). Both estimates are per-trial means with per-trial standard errors; fixed
seeds. Measured when written (512 trials each): naive start SPSA 0.72 +- 0.07 against FD
0.56 +- 0.07 (z 1.6); strong kernel, ``kappa_o`` -0.024 +- 0.039 against -0.015 +- 0.032
(z -0.2), the task cue's cardinal logit -0.015 +- 0.039 against -0.088 +- 0.036 (z 1.4). At
the naive start the test has power: a factor-2 error (half the slope, e.g. a one-sided
difference divided by ``2c``) is more than ``Z_TOL`` SEs away and fails. The statistical tests
take about 45 s on 2 cores (compilation included) and are marked slow; the exact checks of
the pair's decisions and of the minibatch step run in the default suite.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayescortex.inference import SamplerSettings, learning, reward, simulate_trial, simulate_trials
from bayescortex.models import HierarchicalModel, ParametricFeedback, Stimulus, is_correct
from bayescortex.models.stimuli import category_of

N = 16  # neurons and units
SETTINGS = SamplerSettings(n_samples=40, n_presignal=8, burn_in=2, n_bins=2)
STIMULUS = Stimulus(frame_every=8)
CONTRASTS = jnp.array([3.0, -3.0, 6.0, -6.0])
Z_TOL = 4.0  # SE units of the difference of two independent means
C = 0.2


def model_at(kappa: float) -> HierarchicalModel:
    logits = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # p(cardinal | task) = 0.58
    fb = ParametricFeedback(N, N, delta=0.08, kappa_o=(kappa, 0.0), kappa_g=3.0,
                            context_logits=logits)  # fmt: skip
    return HierarchicalModel(fb)


def moved(model, leaf: str, index, amount):
    get = lambda m: getattr(m.feedback, leaf)  # noqa: E731
    return eqx.tree_at(get, model, get(model).at[index].add(amount))


@eqx.filter_jit
def spsa_estimates(key, model, n_trials: int, c):
    """Per-trial SPSA estimates (every outcome leaf perturbed) and the chains' rewards."""

    def one(n):
        est, _, rewards, _, _ = reward.spsa_trial(
            jax.random.fold_in(key, n), model, STIMULUS, jnp.zeros((), int),
            CONTRASTS[n % CONTRASTS.shape[0]], SETTINGS, learning.BEHAVING_MODE, c,
        )  # fmt: skip
        return est, rewards

    return jax.vmap(one)(jnp.arange(n_trials))


def finite_difference(key, model, leaf, index, c, n_trials):
    """Per-trial CRN finite differences of recorded accuracy along one coordinate."""
    centre = reward.perturbation_centre(model, c)
    contrasts = jnp.tile(CONTRASTS, n_trials // CONTRASTS.shape[0])
    tasks = jnp.zeros(contrasts.shape, int)
    correct = [
        np.asarray(is_correct(simulate_trials(
            key, moved(centre, leaf, index, s * c), STIMULUS, tasks, contrasts, SETTINGS,
            learning.BEHAVING_MODE,
        ).choice, contrasts), float)
        for s in (1.0, -1.0)
    ]  # fmt: skip
    return (correct[0] - correct[1]) / (2 * c)


def mean_se(x):
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kappa, leaf, index, n_trials",
    [
        (0.0, "kappa_o", 0, 512),  # naive start: accuracy jumps from the coin at kappa = 0
        (3.0, "kappa_o", 0, 512),  # strong kernel: the slope is small, the SEs too
        (3.0, "context_logits", (0, 0), 512),
    ],
)
def test_spsa_component_agrees_with_crn_finite_difference(kappa, leaf, index, n_trials):
    model = model_at(kappa)
    est, _ = spsa_estimates(jax.random.key(1), model, n_trials, jnp.asarray(C))
    component = np.asarray(getattr(est.feedback, leaf))[(slice(None), *np.atleast_1d(index))]
    fd = finite_difference(jax.random.key(2), model, leaf, index, C, n_trials)
    (m1, s1), (m2, s2) = mean_se(component), mean_se(fd)
    z = (m1 - m2) / np.hypot(s1, s2)
    assert abs(z) < Z_TOL, f"SPSA {m1:.3f} +- {s1:.3f} against FD {m2:.3f} +- {s2:.3f}"
    if kappa == 0.0:  # the test has power here: the slope is far from 0 and from half of it
        assert m2 > 6 * s2 and abs(m1 - m2 / 2) > Z_TOL * np.hypot(s1, s2 / 2)


_simulate_trial = eqx.filter_jit(simulate_trial)
PAIR_MODEL = model_at(0.5)
PAIR_KEY = jax.random.key(5)
PAIR_CONTRASTS = CONTRASTS  # trial n of spsa_estimates shows CONTRASTS[n % 4]


@pytest.fixture(scope="module")
def pair_trials():
    """The SPSA estimates, rewards and categories of the 4 trials of minibatch ``PAIR_KEY``
    (one compilation shared by the tests below)."""
    est, reward = spsa_estimates(PAIR_KEY, PAIR_MODEL, PAIR_CONTRASTS.shape[0], jnp.asarray(C))
    categories = np.asarray(category_of(PAIR_CONTRASTS))  # no zero contrast: no coin
    return [
        (jax.tree.map(lambda a, n=n: a[n], est), np.asarray(reward[n]), int(categories[n]))
        for n in range(PAIR_CONTRASTS.shape[0])
    ]


def test_fisher_step_dispatches_reward_and_holds_the_fixation_prior(pair_trials):
    model, opt = PAIR_MODEL, optax.sgd(0.1)
    state = opt.init(eqx.filter(model, learning.learnable(model)))
    n = PAIR_CONTRASTS.shape[0]
    args = (opt, STIMULUS, jnp.zeros(n, int), PAIR_CONTRASTS, SETTINGS, "reward", 0.0, None)
    new, _, info = learning.train_step(PAIR_KEY, model, state, *args, jnp.asarray(C))
    trials = pair_trials
    # the minibatch gradient is the trials' mean SPSA estimate (trial i: fold_in(key, i))
    for leaf in ("kappa_o", "context_logits"):
        mean = np.mean([np.asarray(getattr(t[0].feedback, leaf)) for t in trials], axis=0)
        np.testing.assert_allclose(getattr(info.gradient.feedback, leaf), mean, atol=1e-6)
    np.testing.assert_allclose(info.correct, [t[1].mean() for t in trials])
    assert float(new.feedback.delta) == pytest.approx(0.08)  # sensory_rate 0: delta fixed
    assert bool(jnp.all(new.feedback.kappa_o >= 0))  # projected
    # the fixation cue's prior is never perturbed (task trials cannot inform it), so it stays
    assert np.all(np.asarray(info.gradient.feedback.context_logits)[1] == 0)
    np.testing.assert_array_equal(new.feedback.context_logits[1], model.feedback.context_logits[1])
    # the perturbation size is a traced hyperparameter: another value reuses the compilation
    size = learning.train_step._cached._cache_size()
    learning.train_step(PAIR_KEY, model, state, *args, jnp.asarray(0.3))
    assert learning.train_step._cached._cache_size() == size


def test_pair_decides_as_recorded_trials(pair_trials):
    """Common random numbers: each chain of the pair makes exactly the recorded trial's
    choice at its perturbed parameters (same trial key, images and tie coin), and the
    estimate is ``(R_+ - R_-) / (2 c) Delta``."""
    params = eqx.filter(PAIR_MODEL, reward.outcome_spec(PAIR_MODEL))
    centre = reward.perturbation_centre(PAIR_MODEL, C)
    for n in range(PAIR_CONTRASTS.shape[0]):
        k_trial = jax.random.fold_in(PAIR_KEY, n)
        est, rewards, category = pair_trials[n]
        direction = reward.task_cue_only(
            reward.rademacher(jax.random.fold_in(k_trial, reward.PERTURBATION_KEY), params)
        )
        for s, r in zip((1.0, -1.0), rewards, strict=True):
            m = eqx.apply_updates(centre, jax.tree.map(lambda d, s=s: s * C * d, direction))
            rec = _simulate_trial(
                jax.random.split(k_trial)[1], m, STIMULUS, jnp.zeros((), int),
                PAIR_CONTRASTS[n], SETTINGS, learning.BEHAVING_MODE,
            )  # fmt: skip
            assert r == float(int(rec.choice) == category)
        scale = (rewards[0] - rewards[1]) / (2 * C)
        np.testing.assert_allclose(est.feedback.kappa_o, scale * direction.feedback.kappa_o)


def test_unknown_objective_and_bad_perturbation_are_named():
    from bayescortex.experiments.training import TrainConfig

    model = model_at(0.0)
    opt = optax.sgd(0.1)
    state = opt.init(eqx.filter(model, learning.learnable(model)))
    with pytest.raises(ValueError, match="objective"):
        learning.fisher_step(jax.random.key(0), model, state, opt, STIMULUS, jnp.zeros(2, int),
                             CONTRASTS[:2], SETTINGS, "rewards")  # fmt: skip
    with pytest.raises(ValueError, match="objective"):
        TrainConfig(objective="rewards")
    with pytest.raises(ValueError, match="perturbation"):
        TrainConfig(objective="reward", perturbation=0.0)
    cfg = TrainConfig(objective="reward", perturbation=0.3)
    protocol, hyper = cfg.split()
    assert protocol.objective == "reward" and float(hyper.perturbation) == pytest.approx(0.3)
    assert cfg.step_size == 0.05 and TrainConfig().objective == "reward"
