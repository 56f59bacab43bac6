"""Passive exposure: the fixation cue's context prior learned from the images alone.

The estimate of ``grad log p(y | q = fixation)`` in the fixation cue's context logits
(posterior over ``K`` from exact Gibbs chains minus the prior) is checked against finite
differences of the enumerated log marginal likelihood of the 2-neuron model of
test_learning.py; the update moves that row of logits and nothing else; a session without
exposure is the session it always was; the new config fields are range-checked by name.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.experiments import cli, protocol
from bayescortex.experiments.redundancy import RedundancyConfig
from bayescortex.experiments.training import TrainConfig
from bayescortex.inference import SamplerSettings, chains, exposure, gibbs
from bayescortex.models import Stimulus, reference_model
from tests.inference.test_learning import (
    CHAIN_SETTINGS,
    PROJECTION,
    exact_log_joint_table,
    tiny_model,
)

CUE = exposure.FIXATION_CUE


def exact_log_evidence(model, cue=CUE):
    """``log p(y | q)`` of the enumerated model, up to theta-free constants."""
    return jax.nn.logsumexp(exact_log_joint_table(model, cue))


def finite_difference_gradient(kind: str) -> np.ndarray:
    """Central differences (float64, step 1e-5) of the enumerated ``log p(y | q = fixation)``
    in each of the fixation cue's three context logits."""
    with jax.enable_x64(True):
        model = tiny_model(kind)
        logits = model.feedback.context_logits
        assert logits.dtype == jnp.float64

        def f(step):
            moved = eqx.tree_at(
                lambda m: m.feedback.context_logits, model, logits.at[CUE].add(step)
            )
            return float(exact_log_evidence(moved))

        eps = 1e-5
        basis = np.eye(logits.shape[1])
        return np.array([(f(eps * e) - f(-eps * e)) / (2 * eps) for e in basis])


@eqx.filter_jit
def chain_estimates(keys, model, rao_blackwell: bool):
    """One estimate of the gradient per independent exact chain on the static image (vmapped
    over keys): burn-in states weighted 0, the rest uniformly."""
    cond = gibbs.conditionals(model, CUE)
    settings = chains.exact_settings(CHAIN_SETTINGS)  # odds 1, no pre-signal period
    n = settings.n_sweeps
    projections = jnp.broadcast_to(PROJECTION, (n, PROJECTION.shape[0]))
    evidence = jnp.ones(n, dtype=bool)
    kept = jnp.arange(n) >= settings.burn_in
    weights = kept / jnp.sum(kept)

    def one(key):
        posterior = exposure.context_posterior(
            key, cond, projections, evidence, settings, weights, rao_blackwell=rao_blackwell
        )
        return exposure.exposure_gradient(posterior, model.feedback.context_logits[CUE])

    return jax.vmap(one)(keys)


def test_exposure_gradient_matches_finite_differences_of_the_enumerated_evidence():
    """Rao-Blackwellised estimate (3000 independent chains, fixed seed) against central
    differences of the enumerated log p(y | fixation): within 4 Monte-Carlo standard errors
    plus 1e-5 (float32 rounding). The gradient is resolved (over 10 SE), and the one-hot
    estimate agrees as well with a larger SE, which Rao-Blackwellisation reduces."""
    model = tiny_model("parametric")
    exact = finite_difference_gradient("parametric")
    n = 3000
    keys = jax.random.split(jax.random.key(30), n)
    for rao_blackwell in (True, False):
        est = np.asarray(chain_estimates(keys, model, rao_blackwell))
        mean, se = est.mean(0), est.std(0) / np.sqrt(n)
        np.testing.assert_array_less(np.abs(mean - exact), 4 * se + 1e-5)
        if rao_blackwell:
            rb_se = se
            assert np.max(np.abs(exact)) > 10 * np.max(se)  # a real gradient, resolved
            np.testing.assert_allclose(mean.sum(), 0.0, atol=1e-6)  # both sum to 1
        else:
            assert np.all(rb_se < se / 3)  # measured: 8 to 19 times smaller here


def test_exposure_gradient_vanishes_where_the_images_say_nothing_about_the_context():
    """kappa_o = 0: every context predicts the same middle layer, so K is independent of the
    images, the enumerated gradient is 0, and the Rao-Blackwellised estimate is the prior in
    every chain (0 to float rounding, no Monte-Carlo noise)."""
    model = tiny_model("naive_start")
    np.testing.assert_allclose(finite_difference_gradient("naive_start"), 0.0, atol=1e-6)
    est = np.asarray(chain_estimates(jax.random.split(jax.random.key(1), 64), model, True))
    np.testing.assert_allclose(est, 0.0, atol=1e-6)


def _same(a, b) -> bool:
    return all(
        np.array_equal(x, y, equal_nan=True)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_exposure_step_moves_only_the_fixation_logits():
    model = reference_model(8, 4, delta=0.08, kappa_o=2.0)
    args = (
        Stimulus(frame_every=4), jnp.zeros(6, int), jnp.array([6.0, -6.0, 0.0, 3.0, -3.0, 0.0]),
        SamplerSettings(n_samples=12, n_presignal=2, burn_in=2, n_bins=2),
    )  # fmt: skip
    step = eqx.filter_jit(exposure.exposure_step)
    held, info = step(jax.random.key(2), model, *args, jnp.asarray(0.0))  # traced: 1 compile
    assert _same(held, model)  # rate 0: nothing moves
    moved, info_moved = step(jax.random.key(2), model, *args, jnp.asarray(1.0))
    np.testing.assert_array_equal(info_moved.posterior, info.posterior)  # rate: the step only
    assert info.posterior.shape == (6, 3)
    np.testing.assert_allclose(info.posterior.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(info.gradient.sum(), 0.0, atol=1e-6)
    logits, before = moved.feedback.context_logits, model.feedback.context_logits
    np.testing.assert_allclose(logits[CUE] - before[CUE], info.gradient, rtol=1e-5, atol=1e-7)
    assert np.max(np.abs(info.gradient)) > 0
    np.testing.assert_array_equal(logits[1 - CUE], before[1 - CUE])  # the task cue's prior
    rest = lambda m: eqx.tree_at(lambda m: m.feedback.context_logits, m, jnp.zeros(()))  # noqa: E731
    assert _same(rest(moved), rest(model))  # kappa_o, delta, kappa_g, fields, noise


TINY = protocol.Protocol(
    neurons=8, units=4, trials_per_session=4, batch=4, samples=12, presignal=2, burn_in=2,
    bins=2, frame_every=4, n_coherences=1, zero_trials=2, trials_per_level=2, chunk=8,
    resamples=0,
)  # fmt: skip


def test_a_session_with_exposure_differs_only_in_the_fixation_prior():
    """Exposure 0 leaves the fixation prior exactly as initialised; exposure > 0 moves it, and
    leaves everything else of the session (the task cue's prior, kappa_o, the optimiser
    state, the diagnostics) bit-identical to the session without it; exposure_rate 0 moves
    nothing. Default objective ('reward'); the exposure follows the task steps whatever it is."""
    hyper = protocol.Hyper(init_kappa_o=2.0, coherences=(6.0,))  # contexts the images tell apart
    base = TINY
    state = protocol.init_state(base, hyper, jax.random.key(0))
    run = jax.jit(protocol.train_session, static_argnums=0)
    key = jax.random.key(7)

    without, info = run(base, hyper, state, key, 0)
    fixation = lambda s: s.model.feedback.context_logits[CUE]  # noqa: E731
    np.testing.assert_array_equal(fixation(without), fixation(state))

    exposed = base._replace(passive_exposure=8)
    with_, info_with = run(exposed, hyper, state, key, 0)
    assert not np.array_equal(fixation(with_), fixation(state))
    assert _same(info_with, info)
    rest = lambda s: eqx.tree_at(  # noqa: E731
        lambda s: s.model.feedback.context_logits, s, s.model.feedback.context_logits[1 - CUE]
    )
    assert _same(rest(with_), rest(without))  # task prior, kappa_o, delta, opt state, previous

    still, _ = run(exposed, eqx.tree_at(lambda h: h.exposure_rate, hyper, 0.0), state, key, 0)
    assert _same(still, without)


@pytest.mark.parametrize("cls", [RedundancyConfig, TrainConfig])
def test_the_exposure_fields_are_checked_by_name(cls):
    named = r"exposure_rate \(--exposure-rate\): must lie in \[0, 100\]"
    with pytest.raises(ValueError, match=named):
        cls(exposure_rate=-1.0)
    with pytest.raises(ValueError, match=r"exposure_rate \(--exposure-rate\)"):
        cls(exposure_rate=float("nan"))
    for bad in (-32, 33, True, 32.0):
        with pytest.raises(ValueError, match="passive_exposure"):
            cls(passive_exposure=bad)
    config = cls(passive_exposure=64, exposure_rate=2.0)
    static, hyper = config.split()
    assert getattr(static, "protocol", static).passive_exposure == 64
    assert float(hyper.exposure_rate) == 2.0
    assert getattr(cls().split()[0], "protocol", cls().split()[0]).passive_exposure == 0


def test_the_flags_reach_the_config():
    config = cli.parse(["run", "redundancy", "--passive-exposure", "64", "--exposure-rate", "2"])
    assert (config.passive_exposure, config.exposure_rate) == (64, 2.0)
    with pytest.raises((SystemExit, ValueError)):
        cli.parse(["train", "--passive-exposure", "-1"])
