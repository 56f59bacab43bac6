"""Trial layouts: the reference schedule and the pre-signal layout, against trials built by hand.

:func:`by_hand` runs a trial one jitted Gibbs sweep at a time, following the layouts as the
documentation states them (no :func:`trial_schedule`, no scan), and reads out counts, belief
and context from the states it visits.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.inference import (
    InferenceMode,
    SamplerSettings,
    chains,
    gibbs,
    simulate_trial,
)
from bayescortex.inference import trial as trial_module
from bayescortex.inference.trial import trial_images, trial_keys, trial_schedule
from bayescortex.models import Stimulus, reference_model

MODEL = reference_model(6, 4, delta=0.3, kappa_o=2.0)
STIM = Stimulus(frame_every=3)
MODE = InferenceMode(1.0, 1.0, 1.0)
REFERENCE = SamplerSettings(n_samples=10, n_presignal=4, burn_in=0, n_bins=3)
PRESIGNAL = SamplerSettings(n_samples=10, n_presignal=4, burn_in=2, n_bins=2, layout="presignal")
CONTRASTS = (6.0, -3.0, 0.0)

_step = eqx.filter_jit(gibbs.step)
_init = eqx.filter_jit(gibbs.init)
_conditionals = eqx.filter_jit(gibbs.conditionals)
_trial = eqx.filter_jit(simulate_trial)


@eqx.filter_jit
def _frames(key, model, stim, task, contrast, n):
    return model.project(stim.frames(key, task, contrast, n))


def by_hand(key, model, stim, task, contrast, settings, mode):
    """One trial by the documented rules. Returns the samples (a list of GibbsState), the
    belief per sample, the counts per bin and the mean context per bin."""
    # gibbs.step reads only the sampler choices and constants: one compilation for every layout.
    step_settings = SamplerSettings(
        odds_increment=settings.odds_increment, contrast_init=settings.contrast_init,
        contrast_step=settings.contrast_step, contrast_prior=settings.contrast_prior,
        x_sampler=settings.x_sampler,
    )  # fmt: skip
    cond = _conditionals(model, 0)
    (k_pre, k_sig), k_init, k_run = trial_keys(key)
    k, n, n_pre = stim.frame_every, settings.n_samples, settings.n_presignal
    signal = _frames(k_sig, model, stim, task, contrast, stim.n_frames(n))
    alpha_g, alpha_x = float(mode.category_feedback), float(mode.coupling_feedback)
    state = _init(k_init, cond, step_settings, InferenceMode(alpha_g, alpha_x, 1.0))

    def sweep(t, state, frame, evidence, memory):
        m = InferenceMode(alpha_g, alpha_x, memory)  # the same dtypes every call: one trace
        key = jax.random.fold_in(k_run, t)
        return _step(key, state, cond, frame, jnp.asarray(evidence), step_settings, m)

    samples, beliefs, contexts = [], [], []
    if settings.layout == "reference":
        p = np.exp(np.asarray(state.log_belief, float))
        samples, beliefs, contexts = [state], [p[:, 0].sum()], [p.sum(1)]
        for i in range(1, n):  # sample i (0-based) is sweep i - 1
            memory = 0.0 if i < n_pre else float(mode.memory)
            state, info = sweep(i - 1, state, signal[i // k if k else 0], True, memory)
            samples.append(state)
            beliefs.append(float(info.belief))
            contexts.append(np.asarray(info.context))
    else:
        pre = _frames(k_pre, model, stim, task, 0.0 * contrast, stim.n_frames(n_pre))
        for t in range(n_pre):
            state, _ = sweep(t, state, pre[t // k if k else 0], False, float(mode.memory))
        for i in range(n):
            state, info = sweep(
                n_pre + i, state, signal[i // k if k else 0], True, float(mode.memory)
            )
            samples.append(state)
            beliefs.append(float(info.belief))
            contexts.append(np.asarray(info.context))
    counts = np.zeros((settings.n_bins, model.n_neurons))
    context = np.zeros((settings.n_bins, 3))
    per_bin = np.zeros(settings.n_bins)
    n_read = n - settings.burn_in
    for i in range(settings.burn_in, n):
        b = (i - settings.burn_in) * settings.n_bins // n_read
        counts[b] += np.asarray(samples[i].neurons)
        context[b] += contexts[i]
        per_bin[b] += 1
    return samples, np.asarray(beliefs), counts, context / per_bin[:, None]


def log_likelihood(units, cond):
    """``log p(g | K, O)`` for every (K, O), in float64 numpy."""
    on, off = np.asarray(cond.log_p_on, float), np.asarray(cond.log_p_off, float)
    g = np.asarray(units, float)
    return on @ g + off @ (1 - g)


def log_softmax(a):
    a = a - a.max()
    return a - np.log(np.exp(a).sum())


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def model64():
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), MODEL)


def compare(settings, contrast=6.0, trial=0):
    """The compiled trial against the trial by hand (float64: the same draws and, up to
    rounding, the same arithmetic). Returns the hand-built trial."""
    model, key = model64(), jax.random.fold_in(jax.random.key(11), trial)
    task, contrast = jnp.asarray(0), jnp.asarray(contrast, jnp.float64)
    rec = _trial(key, model, STIM, task, contrast, settings, MODE)
    hand = by_hand(key, model, STIM, task, contrast, settings, MODE)
    _, belief, counts, context = hand
    assert rec.belief.shape == (settings.n_samples,)
    np.testing.assert_allclose(rec.belief, belief, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rec.counts, counts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rec.context, context, rtol=1e-10, atol=1e-12)
    return hand


def test_reference_trial_restarts_the_belief_then_accumulates(x64, monkeypatch):
    """The reference layout, against the trial by hand. Sample 1 is the initial draw (belief =
    prior, and with burn_in = 0 the counts include its x); samples 2..n_presignal take the prior
    plus their own evidence only, later samples the previous posterior plus their evidence
    (exact, in float64 numpy from the sampled units). New continuous constants reuse the
    compiled trial."""
    traces = []
    original = gibbs.step

    def counting(*args, **kwargs):
        traces.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(trial_module.gibbs, "step", counting)
    samples, belief, counts, _ = compare(REFERENCE)
    model = model64()
    cond = gibbs.conditionals(model, 0)
    odds = float(REFERENCE.odds_increment)
    prior = np.asarray(cond.log_prior, float)
    key = jax.random.fold_in(jax.random.key(11), 0)
    initial = gibbs.init(trial_keys(key)[1], cond, REFERENCE, MODE)
    np.testing.assert_array_equal(samples[0].neurons, initial.neurons)
    np.testing.assert_allclose(samples[0].log_belief, prior, atol=1e-12)
    np.testing.assert_allclose(belief[0], np.exp(prior)[:, 0].sum(), rtol=1e-12)
    previous = prior
    for i, state in enumerate(samples[1:], start=1):
        carried = prior if i < REFERENCE.n_presignal else previous
        want = log_softmax((carried + odds * log_likelihood(state.units, cond)).ravel())
        np.testing.assert_allclose(np.ravel(state.log_belief), want, atol=1e-10)
        previous = want.reshape(prior.shape)
    # burn_in = 0: the first bin (samples 0..3 of 10 in 3 bins) holds the initial draw's x.
    np.testing.assert_allclose(counts[0], sum(np.asarray(s.neurons) for s in samples[:4]))

    assert len(traces) == 1
    with jax.enable_x64(False):  # as REFERENCE was built: the same leaf dtypes
        knobs = dataclasses.replace(REFERENCE, odds_increment=0.2, contrast_init=0.3)
    _trial(key, model, STIM, jnp.asarray(0), jnp.asarray(6.0, jnp.float64), knobs, MODE)
    assert len(traces) == 1


@pytest.mark.slow  # a second compiled trial: about 6 s on 2 cores
def test_presignal_trial_is_the_pre_signal_layout(x64):
    """The pre-signal layout (bayescortex's first reading, kept by name): signal-free sweeps
    with the belief frozen, then n_samples sweeps on the stimulus; the initial draw is not a
    sample. Against the trial by hand."""
    samples, belief, _, _ = compare(PRESIGNAL, contrast=-3.0)
    assert len(samples) == PRESIGNAL.n_samples
    # The belief entering the signal is the prior: the first sample moves it by one step.
    assert not np.allclose(belief[0], 0.5)


@pytest.mark.slow  # another compiled chain: about 6 s on 2 cores
def test_learning_chain_repeats_the_reference_trial(x64):
    """chain_latents on a trial's schedule (what conditional learning runs) visits the trial's
    states: with the initial draw first, its beliefs are the trial's, sample by sample."""
    model, key = model64(), jax.random.fold_in(jax.random.key(11), 0)
    task, contrast = jnp.asarray(0), jnp.asarray(6.0, jnp.float64)
    sched = trial_schedule(REFERENCE, STIM)
    cond = gibbs.conditionals(model, 0)
    projections, _ = trial_images(trial_keys(key)[0], model, STIM, task, contrast, REFERENCE)
    latents, log_belief = eqx.filter_jit(chains.chain_latents)(
        key, cond, projections[sched.frame], sched.evidence, REFERENCE, MODE,
        memoryless=sched.memoryless, initial=True,
    )  # fmt: skip
    rec = _trial(key, model, STIM, task, contrast, REFERENCE, MODE)
    assert latents.neurons.shape == (REFERENCE.n_samples, model.n_neurons)
    np.testing.assert_allclose(jnp.exp(log_belief)[:, :, 0].sum(1), rec.belief, rtol=1e-10)
    weights = chains.sample_weights(REFERENCE, STIM)
    assert weights.shape == (REFERENCE.n_samples,) and weights[0] > 0  # burn_in = 0


def test_reference_layout_has_no_signal_free_frames():
    """Every sweep of a reference trial sees a signal frame and takes evidence; the trial's
    images are the signal frames alone, one per frame_every samples."""
    sched = trial_schedule(REFERENCE, STIM)
    n_frames = STIM.n_frames(REFERENCE.n_samples)
    assert sched.n_pre_frames == 0 and sched.evidence.all()
    assert sched.frame.shape == (REFERENCE.n_samples - 1,) == (REFERENCE.n_sweeps,)
    np.testing.assert_array_equal(sched.frame, np.arange(1, REFERENCE.n_samples) // 3)
    np.testing.assert_array_equal(sched.memoryless, np.arange(1, REFERENCE.n_samples) < 4)
    keys = trial_keys(jax.random.key(0))[0]
    projections, images = trial_images(
        keys, MODEL, STIM, jnp.asarray(0), jnp.asarray(6.0), REFERENCE
    )
    assert projections.shape[0] == images.shape[0] == n_frames
    np.testing.assert_allclose(projections, MODEL.project(images), rtol=1e-6)
    # burn_in counts samples: with burn_in = 1 the initial draw leaves the counts.
    assert trial_schedule(REFERENCE, STIM).initial_bin == 0
    one = SamplerSettings(n_samples=10, n_presignal=4, burn_in=1, n_bins=3)
    assert trial_schedule(one, STIM).initial_bin == -1
    assert trial_schedule(one, STIM).state_bins.shape == (10,)
    # The pre-signal layout: n_presignal signal-free sweeps, the initial draw not a sample.
    pre = trial_schedule(PRESIGNAL, STIM)
    assert not pre.initial_is_sample and not pre.memoryless.any()
    assert pre.evidence.sum() == 10 and not pre.evidence[:4].any()


def test_layout_is_static_and_the_knobs_are_not():
    """What jit keys its cache on: the layout and the pre-signal length are in the static
    structure of the settings (a change recompiles), the continuous constants are leaves."""
    structure = jax.tree.structure(REFERENCE)
    knobs = dataclasses.replace(REFERENCE, odds_increment=0.2, contrast_step=0.3)
    assert jax.tree.structure(knobs) == structure
    assert jax.tree.structure(dataclasses.replace(REFERENCE, layout="presignal")) != structure
    assert jax.tree.structure(dataclasses.replace(REFERENCE, n_presignal=5)) != structure
    assert jax.tree.structure(PRESIGNAL) != structure


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(layout="delayed"), "layout"),
        (dict(n_samples=1, burn_in=0, n_bins=1), "n_samples"),
        (dict(n_presignal=-1), "n_presignal"),
    ],
)
def test_bad_layouts_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamplerSettings(**kwargs)
