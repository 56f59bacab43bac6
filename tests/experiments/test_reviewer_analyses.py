"""Issue 31, item 6, the reviewer's analyses: the logistic psychophysical kernel, information
against population size, and the noise along ``f'`` given the choice, on planted answers.

- Population size: statistics planted exactly (no sampling) for an exchangeable population,
  ``f' = a s`` (signs ``s``) and ``S = (1 - rho) I + rho s s^T``, so that every subset of ``k``
  neurons has the same ``I(k) = a^2 k / (1 - rho + k rho)`` (saturating at ``a^2 / rho``:
  information-limiting) and ``I_shuffle(k) = a^2 k``; the estimators' bias corrections are
  ``O(N / T)`` at ``T = 10^6`` trials per level, below the stated tolerance.
- Noise along ``f'`` given the choice: a choice that takes the whole ``f'`` component of the
  responses leaves no within-choice variance along ``f'``; a choice independent of the
  responses leaves the fraction unchanged; feedback that pushes the responses along ``f'`` by
  the choice is removed by conditioning on it.
- The logistic kernel inside :func:`block_measures` is :func:`logistic_kernel` of the kept
  zero-signal trials (its own tests: tests/analysis/test_analysis_choice.py).
"""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from bayescortex.analysis.kernels import kernel_shape, logistic_kernel
from bayescortex.analysis.moments import SignalMoments
from bayescortex.experiments.blocks import ZeroTrials
from bayescortex.experiments.named import Named, values
from bayescortex.experiments.redundancy import effect_sizes, report
from bayescortex.experiments.redundancy.choice_measures import (
    KERNEL_L2,
    KERNEL_NEWTON_STEPS,
    choice_conditioned_fractions,
)
from bayescortex.experiments.redundancy.measures import (
    Analysis,
    block_measures,
    population_sizes,
)

COHERENCES = (3.0, 6.0)
DS = tuple(2 * c for c in COHERENCES)
T = 1e6  # trials per level of the planted statistics


def planted_moments(fprime, cov, t=T, mean=5.0) -> SignalMoments:
    """Exact statistics (one feature: the whole trial) of ``t`` trials per level with mean
    ``mean + signal * f'`` and zero-signal covariance ``cov``."""
    levels = np.array([0.0] + [s * c for c in COHERENCES for s in (1, -1)])
    means = mean + levels[:, None] * fprime[None, :]
    weight = np.full(levels.size, t)
    return SignalMoments(
        jnp.asarray(weight, jnp.float32),
        jnp.asarray(weight[:, None, None] * means[:, None, :], jnp.float32),
        jnp.asarray(t, jnp.float32),
        jnp.asarray(means[:1], jnp.float32),
        jnp.asarray((t - 1) * cov[None], jnp.float32),
    )


def test_population_sizes_double_from_8_and_end_at_the_subset_size():
    assert population_sizes(32) == (8, 16, 32)
    assert population_sizes(64) == (8, 16, 32, 64)
    assert population_sizes(24) == (8, 16, 24)
    assert population_sizes(8) == (8,)
    assert population_sizes(6) == (6,)
    an = Analysis.for_model(COHERENCES, 64, 0, 32, 3)
    assert an.sizes == (8, 16, 32)
    assert Analysis(DS, 32, 0).sizes == ()  # the default: no by-size measures


def test_information_by_size_follows_the_closed_form_of_information_limiting_noise():
    """Exchangeable population (48 neurons, subsets of 8, 16, 32): I(k) and I_shuffle(k) as in
    the module docstring, within 0.2% (bias corrections at 10^6 trials: under 0.01%); the
    largest size is the main estimate, bit for bit."""
    n, a, rho = 48, 0.2, 0.2
    signs = np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    cov = (1 - rho) * np.eye(n) + rho * np.outer(signs, signs)
    moments = planted_moments(a * signs, cov)
    an = Analysis(DS, subset_size=32, bins=0, sizes=population_sizes(32))
    out = jax.jit(lambda m, k: block_measures(an, m, m.weight, k, 16))(moments, jax.random.key(3))
    out = values(out)
    k = np.array([8.0, 16.0, 32.0])
    info = a**2 * k / (1 - rho + k * rho)
    shuffled = a**2 * k
    np.testing.assert_allclose(out["information_by_size"], info, rtol=2e-3)
    np.testing.assert_allclose(out["information_shuffled_by_size"], shuffled, rtol=2e-3)
    np.testing.assert_allclose(out["redundancy_by_size"], shuffled - info, rtol=2e-3)
    # Information-limiting: I grows by less than 1/3 from 8 to 32 neurons, I_shuffle by 4x.
    assert out["information_by_size"][-1] < 1.34 * out["information_by_size"][0]
    for m in ("information", "information_shuffled", "redundancy"):
        assert out[f"{m}_by_size"].shape == (3,)
        assert out[f"{m}_by_size"][-1] == out[m]


def test_information_by_size_of_independent_neurons_has_no_redundancy():
    """Independent neurons of different tuning and variance: I = I_shuffle on every subset,
    so the redundancy is 0 at every size (bias corrections: |I_red| < 1e-4 I), and I grows
    with the size."""
    rng = np.random.default_rng(2)
    n = 40
    fprime = rng.normal(0.0, 0.2, n)
    cov = np.diag(rng.uniform(0.5, 2.0, n))
    an = Analysis(DS, subset_size=24, bins=0, sizes=population_sizes(24))
    out = values(
        block_measures(an, planted_moments(fprime, cov), jnp.ones(5), jax.random.key(4), 32)
    )
    info = np.asarray(out["information_by_size"])
    assert np.all(np.diff(info) > 0)
    np.testing.assert_allclose(out["redundancy_by_size"], 0.0, atol=1e-4 * info.max())
    np.testing.assert_allclose(
        out["information_by_size"], out["information_shuffled_by_size"], rtol=1e-3
    )


def _gaussian(rng, t, n, scales):
    return rng.normal(size=(t, n)) * scales[None, :]


def test_a_choice_that_reads_f_prime_leaves_no_variance_along_it_within_choice():
    """The choice is the sign of the responses' component along f': within each choice that
    component is constant, so the within-choice fraction is 0 (float rounding: < 1e-6), and
    the unconditioned fraction is the sample's (float64 reference, rtol 1e-4)."""
    rng = np.random.default_rng(5)
    t, n = 2000, 12
    fp = rng.normal(size=n)
    u = fp / np.linalg.norm(fp)
    noise = _gaussian(rng, t, n, np.linspace(0.5, 1.5, n))
    noise -= np.outer(noise @ u, u)  # nothing along f' but the choice's
    side = rng.integers(0, 2, t)
    x = noise + 2.0 * np.where(side == 1, 1.0, -1.0)[:, None] * u
    zero, within = choice_conditioned_fractions(jnp.asarray(x, jnp.float32), jnp.asarray(fp),
                                                jnp.asarray(side))  # fmt: skip
    c = x - x.mean(0)
    expected = np.sum((c @ u) ** 2) / np.sum(c**2)
    assert float(zero) == pytest.approx(expected, rel=1e-4)
    assert expected > 0.2 and abs(float(within)) < 1e-6


def test_an_independent_choice_leaves_the_fraction_unchanged():
    """Choices independent of the responses (20,000 trials): the two fractions agree within
    1e-3 (the between-choice term is O(1/T) of the variance); with Poisson weights too, and a
    weighted call equals the call on the trials repeated by their weights."""
    rng = np.random.default_rng(6)
    t, n = 20000, 16
    scales = np.linspace(0.5, 2.0, n)
    x = jnp.asarray(_gaussian(rng, t, n, scales), jnp.float32)
    fp = jnp.asarray(rng.normal(size=n) + 2.0 * (np.arange(n) == n - 1))
    choice = jnp.asarray(rng.integers(0, 2, t))
    zero, within = choice_conditioned_fractions(x, fp, choice)
    assert abs(float(zero) - float(within)) < 1e-3
    weights = rng.poisson(1.0, t)
    wz, ww = choice_conditioned_fractions(x, fp, choice, jnp.asarray(weights, jnp.float32))
    assert abs(float(wz) - float(ww)) < 1e-3
    rz, rw = choice_conditioned_fractions(
        jnp.repeat(x, weights, axis=0), fp, jnp.repeat(choice, weights)
    )
    np.testing.assert_allclose([wz, ww], [rz, rw], rtol=1e-4)


def test_conditioning_on_the_choice_removes_feedback_along_f_prime():
    """Feedback: the responses move by +-g along f' with a choice drawn independently of the
    noise. Over all trials the fraction along f' is (v + g^2) / (tr + g^2), within choice
    v / tr (v: the noise's variance along f', tr: its total), within 0.01 at 20,000 trials."""
    rng = np.random.default_rng(7)
    t, n, g = 20000, 10, 1.5
    scales = np.linspace(0.5, 1.5, n)
    fp = rng.normal(size=n)
    u = fp / np.linalg.norm(fp)
    choice = rng.integers(0, 2, t)
    x = _gaussian(rng, t, n, scales) + g * np.where(choice == 1, 1.0, -1.0)[:, None] * u
    zero, within = choice_conditioned_fractions(jnp.asarray(x, jnp.float32), jnp.asarray(fp),
                                                jnp.asarray(choice))  # fmt: skip
    v, tr = np.sum(u**2 * scales**2), np.sum(scales**2)
    assert float(zero) == pytest.approx((v + g**2) / (tr + g**2), abs=0.01)
    assert float(within) == pytest.approx(v / tr, abs=0.01)


def test_block_measures_compute_the_reviewer_measures_from_the_kept_trials():
    """Inside :func:`block_measures` the new measures are the functions above on the kept
    zero-signal trials (whole-trial responses, f' summed over coherences, the replicate's
    weights; the kernel of the first category's choice, choice 0), and they leave the
    existing measures as they were (bit for bit under jit)."""
    rng = np.random.default_rng(8)
    n, t, frames = 16, 300, 6
    fprime = rng.normal(0.0, 0.3, n)
    moments = planted_moments(fprime, np.eye(n))
    planted = np.array([1.0, 0.8, 0.6, 0.4, 0.3, 0.2])  # primacy
    energy = rng.normal(size=(t, frames))
    choice = (rng.uniform(size=t) > 1 / (1 + np.exp(-energy @ planted))).astype(np.int32)
    responses = (
        rng.normal(size=(t, 2, n)) + 1.0 * np.where(choice == 0, 1.0, -1.0)[:, None, None] * fprime
    )
    weights = rng.poisson(1.0, (2, t)).astype(np.float32)
    trials = ZeroTrials(
        jnp.asarray(responses, jnp.float32), jnp.asarray(choice), jnp.asarray(energy, jnp.float32),
        jnp.asarray(weights),
    )  # fmt: skip
    # The model's groups (task-relevant and not) and orientation measures too: every measure.
    an = Analysis.for_model(COHERENCES, n, 0, 8, 1)._replace(ds=DS)  # static: a tuple
    assert an.sizes == population_sizes(8) and an.groups
    run = jax.jit(lambda an, w: block_measures(an, moments, jnp.ones(5), jax.random.key(1), 4,
                                               trials, w), static_argnums=0)  # fmt: skip
    measures = run(an, trials.weights[1])
    # Every measure names its own axes where it is computed, and they add up to its shape.
    assert all(isinstance(m, Named) and m.value.ndim == len(m.dims) for m in measures.values())
    dims = {name: m.dims for name, m in measures.items()}
    assert dims["kernel_logistic"] == dims["kernel"] == ("frame",)
    assert dims["kernel_logistic_late_minus_early"] == dims["choice_share_along_fprime"] == ()
    assert dims["noise_correlation_binned"] == ("orientation_row", "orientation_column")
    for m in ("information", "information_shuffled", "redundancy"):
        assert dims[f"{m}_by_size"] == ("size",) and dims[f"{m}_by_time"] == ("time",)
        assert dims[f"{m}_by_coherence"] == ("coherence",) and dims[m] == ()
    assert dims["redundancy_relevant_by_time"] == ("time",)
    out = values(measures)
    kernel = logistic_kernel(energy, choice == 0, weights[1], l2=KERNEL_L2,
                             n_iter=KERNEL_NEWTON_STEPS)  # fmt: skip
    np.testing.assert_allclose(out["kernel_logistic"], kernel, rtol=1e-4, atol=1e-5)
    assert out["kernel_logistic"].shape == (frames,)
    assert float(out["kernel_logistic_late_minus_early"]) == pytest.approx(
        float(kernel_shape(kernel).late_minus_early), rel=1e-4
    )
    zero, within = choice_conditioned_fractions(
        responses[:, -1].astype(np.float32), jnp.asarray(2 * fprime), choice, weights[1]
    )  # f' summed over the two coherences: 2 f'
    np.testing.assert_allclose(out["fraction_along_fprime_zero"], zero, rtol=1e-4)
    np.testing.assert_allclose(out["fraction_along_fprime_within_choice"], within, rtol=1e-4)
    assert float(out["choice_share_along_fprime"]) == pytest.approx(float(zero - within), abs=1e-6)
    assert float(zero) > float(within) + 0.03  # the choice carries variance along f'
    # Without the by-size measures (sizes=()), every other measure is the same, bit for bit.
    plain = values(run(an._replace(sizes=()), trials.weights[1]))
    assert set(out) - set(plain) == {
        f"{m}_by_size" for m in ("information", "information_shuffled", "redundancy")
    }
    for name, value in plain.items():
        np.testing.assert_array_equal(value, out[name], err_msg=name)


def _reviewer_dataset(seed=0) -> xr.Dataset:
    """The fabricated results of tests/experiments/test_figures.py with the new measures as
    results.nc holds them: (session, mode[, size]) and resamples."""
    from tests.experiments.test_figures import fabricate

    rng = np.random.default_rng(seed)
    lead = {"session": np.arange(3), "mode": ["engaged", "passive"]}
    data = {}
    names = {
        "kernel_logistic_late_minus_early": (), "fraction_along_fprime_zero": (),
        "fraction_along_fprime_within_choice": (), "choice_share_along_fprime": (),
        "information_by_size": ("size",), "information_shuffled_by_size": ("size",),
    }  # fmt: skip
    for name, trailing in names.items():
        dims = (*lead, *trailing)
        shape = (3, 2) + (3,) * len(trailing)
        point = rng.normal(0.5, 0.1, shape)
        data[name] = (dims, point)
        data[f"{name}_resampled"] = (("resample", *dims), point + rng.normal(0, 0.01, (6, *shape)))
    base = fabricate(controls=False).drop_dims("effect")
    return base.merge(xr.Dataset(data, coords=lead))


def test_the_new_measures_are_reported():
    """The effects list the logistic kernel's shape and the choice share after learning and
    the changes of the fractions; the summary has the table of I against population size."""
    ds = _reviewer_dataset()
    found = effect_sizes.effects(ds)
    for name in (
        "kernel_logistic_late_minus_early_last_engaged", "choice_share_along_fprime_last_engaged",
        "change_fraction_along_fprime_zero_engaged",
        "change_fraction_along_fprime_within_choice_passive",
        "change_choice_share_along_fprime_engaged",
    ):  # fmt: skip
        assert name in found, name
        value, low, high = found[name]
        assert low <= value <= high
    v = found["choice_share_along_fprime_last_engaged"][0]
    assert v == pytest.approx(float(ds.choice_share_along_fprime.sel(mode="engaged", session=2)))
    lines = report._size_table(SimpleNamespace(subset_size=32), ds)
    rows = [line for line in lines if line.strip().startswith(("engaged", "passive"))]
    assert len(rows) == 2 * 2 * 3  # modes x (naive, last) x sizes
    assert rows[2].split()[:3] == ["engaged", "0", "32"]
    cell = float(ds.information_by_size.sel(mode="passive", session=2).isel(size=1))
    assert f"{cell:.3f}" in rows[-2]
    assert report._size_table(SimpleNamespace(subset_size=32), ds.drop_vars(
        ["information_by_size", "information_shuffled_by_size"])) == []  # fmt: skip
