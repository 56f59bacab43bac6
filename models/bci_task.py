"""The brain-computer-interface task, simulated with learning: cursor, grating, reward, sessions.

``K`` target neurons (the first ``K`` of the population) control a visual grating: the first
``K/2`` push it toward the target (P+), the next ``K/2`` away (P-); the other neurons are
recorded but do not move it. With the decoder ``B_i = +2/K`` (P+), ``-2/K`` (P-), 0 (others)::

    c_raw(t) = B . r_t = mean(r_P+) - mean(r_P-)
    c_t      = c_{t-1} + alpha (c_raw(t) - c_{t-1}),    alpha = 1 - exp(-1 / tau_cursor), c_0 = 0
    q_t      = clip(floor(H c_t / theta), -H, H) / H      the grating, 2H + 1 positions in [-1, 1]
    err_t    = (1 - q_t) / 2                              distance from the target, err_0 = 1/2
    hit      = q_t reaches 1 (c_t >= theta): reward, the trial ends; else a timeout after T steps

The threshold ``theta`` of each animal (seed) and variant is set by simulation, before the
first session, from ``calibration_trials`` baseline trials without learning (hits disabled):
the ``1 - p_0`` quantile of the trials' largest cursor value, so that about ``p_0`` (20% by
default) of baseline trials would hit. The inputs ``x``, ``z`` run on between trials;
the cursor and the eligibility traces restart with every trial.

Sessions: session 0 is a baseline day (no plasticity, no manipulation); sessions 1, 2, ...
learn (:func:`session_step`). The experiment's manipulations (apical block, dimmed soma) act
in the learning sessions; a variant's ``block_record`` silences the tuft only in the recorded
trials of learning sessions. The baseline rates (calibration) are each neuron's homeostatic
setpoint ``r0``. Every session streams per-session sums (hits, active frames, time to
hit, mean rates) and keeps the last ``record_trials`` trials of every neuron (soma and
dendrite through the calcium observation model, grating, error, reward) for the imaging
analysis: the memory does not grow with the number of trials.

Keys: the session key ``fold_in(seed key, session)``; trial ``k`` of it ``fold_in(session key,
k)``, from which all the trial's noise is drawn at once (frames x [x, z, soma, dendrite]);
the initial weights and the calibration use ``fold_in(seed key, INIT)`` and
``fold_in(seed key, CALIBRATION)``; the calcium noise of a session's recorded block
``fold_in(session key, trials)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .bci import (
    Population,
    Rule,
    calcium,
    dendrite,
    effective_feedback,
    eligibility_factor,
    eligibility_step,
    feedback_step,
    homeostasis_step,
    init_population,
    instructive_signal,
    ou_step,
    plasticity_step,
    soma,
)

INIT = 2**30 + 1
"""Salt of the key of the initial weights (``fold_in(seed key, INIT)``)."""
CALIBRATION = 2**30 + 2
"""Salt of the key of the baseline calibration trials."""


class TaskStatic(NamedTuple):
    """Sizes and counts of the simulation (hashable; a change recompiles)."""

    neurons: int
    targets: int
    inputs: int
    context: int
    trials: int
    steps: int
    calibration_trials: int
    record_trials: int
    levels: int


class TaskHyper(eqx.Module):
    """Every continuous knob, as an array leaf (vmap over it; nothing recompiles).

    Timescales are in time steps (frames); rates are per step."""

    learning_rate: Float[Array, ""]  # eta
    feedback_rate: Float[Array, ""]  # eta_B
    feedback_decay: Float[Array, ""]  # lambda
    apical_gain: Float[Array, ""]  # g_a
    rate_ceiling: Float[Array, ""]  # r_max
    homeostasis_rate: Float[Array, ""]  # eta_h
    backprop: Float[Array, ""]  # kappa
    soma_noise: Float[Array, ""]  # sigma
    apical_noise: Float[Array, ""]  # sigma_a
    nonlinear_gain: Float[Array, ""]  # g_nl of the scalar_nonlinear variant
    control_somatic_gain: Float[Array, ""]  # g_s of the soma_dimmed variant
    input_timescale: Float[Array, ""]
    context_timescale: Float[Array, ""]
    context_drive: Float[Array, ""]  # scale of V (context onto the somata)
    context_apical: Float[Array, ""]  # scale of F (context onto the tufts)
    weight_scale: Float[Array, ""]
    baseline_bias: Float[Array, ""]
    cursor_timescale: Float[Array, ""]
    baseline_hit_rate: Float[Array, ""]  # p_0
    trace_timescale: Float[Array, ""]
    mean_timescale: Float[Array, ""]  # running means rbar, qbar
    rpe_timescale: Float[Array, ""]  # running mean deltabar of the scalar RPE
    feedback_floor: Float[Array, ""]  # eps_B
    calcium_timescale: Float[Array, ""]
    calcium_noise: Float[Array, ""]


class BCIState(NamedTuple):
    """One animal under one variant, between sessions."""

    population: Population
    feedback: Float[Array, " neurons"]  # B~
    r_mean: Float[Array, " neurons"]
    setpoint: Float[Array, " neurons"]  # r0, the baseline rates (homeostasis)
    q_mean: Float[Array, ""]
    rpe_mean: Float[Array, ""]
    x: Float[Array, " inputs"]
    z: Float[Array, " context"]
    threshold: Float[Array, ""]
    random_feedback: Float[Array, " neurons"]
    permutation: Int[Array, " neurons"]
    variant: Rule
    session: Int[Array, ""]


class Frames(NamedTuple):
    """Per-frame record of trials (every neuron: the targets first, then the non-target
    control population); ``(trials, steps, ...)`` when stacked."""

    soma: Float[Array, "*frames neurons"]
    dendrite: Float[Array, "*frames neurons"]
    position: Float[Array, "*frames"]  # q
    error: Float[Array, "*frames"]
    reward: Float[Array, "*frames"]
    active: Float[Array, "*frames"]  # 1 while the trial runs (up to and with its hit)
    cursor: Float[Array, "*frames"]  # c, before quantisation


class SessionStats(NamedTuple):
    """What a session leaves behind (sums over its trials, end-of-session weights, the
    recorded block)."""

    hits: Float[Array, ""]
    active_frames: Float[Array, ""]
    hit_frames: Float[Array, ""]  # summed steps to hit, over hit trials
    soma_mean: Float[Array, " neurons"]  # mean rate over active frames
    feedback: Float[Array, " neurons"]  # B~ at the end of the session
    bias: Float[Array, " neurons"]
    record: Frames  # observed (calcium) soma and dendrite of the last record_trials trials


def decoder(static: TaskStatic) -> Float[Array, " neurons"]:
    """Decoder weights ``B``: ``+2/K`` for P+, ``-2/K`` for P-, 0 for the other neurons.

    >>> decoder(TaskStatic(6, 4, 2, 1, 1, 1, 1, 0, 7)).tolist()
    [0.5, 0.5, -0.5, -0.5, 0.0, 0.0]
    """
    half = static.targets // 2
    signs = np.zeros(static.neurons, np.float32)
    signs[:half], signs[half : static.targets] = 1.0, -1.0
    return jnp.asarray(signs / half)


def target_signs(static: TaskStatic) -> np.ndarray:
    """``sign(B_i)`` of the target neurons: ``+1`` (P+) then ``-1`` (P-)."""
    return np.sign(np.asarray(decoder(static))[: static.targets]).astype(int)


def grating_position(scaled_cursor: Float[Array, ""], levels: int) -> Float[Array, ""]:
    """The grating position in ``[-1, 1]`` (``levels`` positions) of the cursor in units of the
    threshold; 1 (the target) exactly when ``scaled_cursor >= 1``.

    >>> [float(grating_position(jnp.asarray(v), 7)) for v in (-5.0, -0.1, 0.0, 0.5, 1.0)]
    [-1.0, -0.3333333432674408, 0.0, 0.3333333432674408, 1.0]
    """
    half = (levels - 1) // 2
    return jnp.clip(jnp.floor(half * scaled_cursor), -half, half) / half


class _Trial(NamedTuple):
    cursor: Float[Array, ""]
    error: Float[Array, ""]
    active: Float[Array, ""]
    trace: Float[Array, "neurons inputs_1"]


class _Sums(NamedTuple):
    hits: Float[Array, ""]
    active_frames: Float[Array, ""]
    hit_frames: Float[Array, ""]
    soma: Float[Array, " neurons"]


def _empty_sums(static: TaskStatic) -> _Sums:
    zero = jnp.zeros((), jnp.float32)
    return _Sums(zero, zero, zero, jnp.zeros((static.neurons,), jnp.float32))


def _step(static: TaskStatic, hyper: TaskHyper, learn, recorded, carry, t_noise):
    """One frame of a trial: inputs, somata, cursor, grating, reward, dendrites, learning."""
    state, trial, sums = carry
    t, noise = t_noise
    n_x, n_z = static.inputs, static.inputs + static.context
    v = state.variant
    soma_gain = 1.0 - learn * v.dim * (1.0 - hyper.control_somatic_gain)
    apical_gain = (
        hyper.apical_gain * (1.0 - learn * v.block) * (1.0 - learn * recorded * v.block_record)
    )
    x = ou_step(noise[:n_x], state.x, hyper.input_timescale)
    z = ou_step(noise[n_x:n_z], state.z, hyper.context_timescale)
    xi = noise[n_z : n_z + static.neurons]
    r, slope = soma(state.population, x, z, xi, gain=soma_gain, sigma=hyper.soma_noise,
                    ceiling=hyper.rate_ceiling)  # fmt: skip
    alpha = 1.0 - jnp.exp(-1.0 / hyper.cursor_timescale)
    cursor = trial.cursor + alpha * (decoder(static) @ r - trial.cursor)
    q = grating_position(cursor / state.threshold, static.levels)
    error = (1.0 - q) / 2.0
    hit = trial.active * (q >= 1.0)
    change = error - trial.error
    raw = hit - change
    rpe = raw - state.rpe_mean
    fb = effective_feedback(
        v, state.feedback, state.random_feedback, state.permutation, hyper.feedback_floor
    )
    u = instructive_signal(v, fb, error, change, rpe)
    eps = noise[n_z + static.neurons :]
    a, drive = dendrite(
        state.population, z, u, r, eps, apical_gain=apical_gain, backprop=hyper.backprop,
        nonlinear=v.nonlinear * hyper.nonlinear_gain, sigma=hyper.apical_noise,
    )  # fmt: skip
    phi = eligibility_factor(v, slope, hyper.soma_noise * xi)
    trace = eligibility_step(trial.trace, phi, x, jnp.exp(-1.0 / hyper.trace_timescale))
    gate = learn * trial.active
    population = plasticity_step(state.population, trace, drive, hyper.learning_rate * gate)
    population = homeostasis_step(population, r, state.setpoint, hyper.homeostasis_rate * gate)
    # The outcome reaches the feedback synapses through the tuft: gated by the apical gain.
    received = jnp.clip(apical_gain, 0.0, 1.0)
    mean_rate = (1.0 - jnp.exp(-1.0 / hyper.mean_timescale)) * trial.active
    rpe_rate = (1.0 - jnp.exp(-1.0 / hyper.rpe_timescale)) * trial.active
    state = state._replace(
        population=population,
        feedback=feedback_step(
            state.feedback, r, state.r_mean, q, state.q_mean,
            rate=hyper.feedback_rate * gate * received, decay=hyper.feedback_decay,
        ),
        r_mean=state.r_mean + mean_rate * (r - state.r_mean),
        q_mean=state.q_mean + mean_rate * (q - state.q_mean),
        rpe_mean=state.rpe_mean + rpe_rate * (raw - state.rpe_mean),
        x=x,
        z=z,
    )  # fmt: skip
    sums = _Sums(
        hits=sums.hits + hit,
        active_frames=sums.active_frames + trial.active,
        hit_frames=sums.hit_frames + hit * (t + 1),
        soma=sums.soma + trial.active * r,
    )
    frame = Frames(
        soma=r, dendrite=a, position=q, error=error, reward=hit, active=trial.active,
        cursor=cursor,
    )  # fmt: skip
    trial = _Trial(cursor=cursor, error=error, active=trial.active * (1.0 - hit), trace=trace)
    return (state, trial, sums), frame


def _noise_size(static: TaskStatic) -> int:
    return static.inputs + static.context + 2 * static.neurons


def _trial(static: TaskStatic, hyper: TaskHyper, learn, record_from, carry, k_key):
    """One trial (a scan over ``static.steps`` frames). Trials ``k >= record_from`` are written
    into the record buffer (if any); returns the trial's peak cursor."""
    state, sums, buffer = carry
    k, key = k_key
    start = _Trial(
        cursor=jnp.zeros((), jnp.float32),
        error=jnp.asarray(0.5, jnp.float32),
        active=jnp.ones((), jnp.float32),
        trace=jnp.zeros((static.neurons, static.inputs + 1), jnp.float32),
    )
    steps = jnp.arange(static.steps)
    # The trial's noise in one draw (inputs, context, somata, dendrites for every frame): the
    # frame loop then holds no random-number generation.
    noise = jax.random.normal(key, (static.steps, _noise_size(static)))
    recorded = (k >= record_from).astype(jnp.float32)
    step = functools.partial(_step, static, hyper, learn, recorded)
    (state, _, sums), frames = jax.lax.scan(step, (state, start, sums), (steps, noise))
    if buffer is not None:
        slot = jnp.clip(k - record_from, 0, static.record_trials - 1)
        keep = k >= record_from
        buffer = jax.tree.map(lambda b, f: jnp.where(keep, b.at[slot].set(f), b), buffer, frames)
    return (state, sums, buffer), jnp.max(frames.cursor)


def _trials(static, hyper, state, key, count: int, learn, record: int):
    """``count`` trials; the last ``record`` of them are kept (``None`` if 0)."""
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(count))
    buffer = None
    if record:
        shape = lambda *tail: jnp.zeros((record, static.steps, *tail), jnp.float32)  # noqa: E731
        n = static.neurons
        buffer = Frames(shape(n), shape(n), shape(), shape(), shape(), shape(), shape())
    body = functools.partial(_trial, static, hyper, learn, count - record)
    (state, sums, buffer), peaks = jax.lax.scan(
        body, (state, _empty_sums(static), buffer), (jnp.arange(count), keys)
    )
    return state, sums, buffer, peaks


def calibrate(
    static: TaskStatic, hyper: TaskHyper, state: BCIState, key: PRNGKeyArray
) -> tuple[BCIState, Float[Array, " trials"]]:
    """Run baseline trials without learning or hits and set the threshold from them.

    Returns the state with ``threshold`` (the ``1 - p_0`` quantile of each trial's largest
    cursor value) and the baseline's mean rates ``rbar`` (``qbar`` starts at 0 and settles
    during the baseline session), the inputs run on; and the trials' largest cursor values.
    """
    free = state._replace(threshold=jnp.asarray(jnp.inf, jnp.float32))
    zero = jnp.zeros((), jnp.float32)
    free, sums, _, peaks = _trials(static, hyper, free, key, static.calibration_trials, zero, 0)
    threshold = jnp.maximum(jnp.quantile(peaks, 1.0 - hyper.baseline_hit_rate), 1e-6)
    calibrated = free._replace(
        threshold=threshold,
        r_mean=sums.soma / sums.active_frames,
        setpoint=sums.soma / sums.active_frames,
        q_mean=zero,
        rpe_mean=zero,
        feedback=state.feedback,
    )
    return calibrated, peaks


def init_state(static: TaskStatic, hyper: TaskHyper, variant: Rule, key: PRNGKeyArray) -> BCIState:
    """A naive animal (``key``: its seed key) under ``variant``, its threshold calibrated.

    ``B~ = 0``; the random feedback of ``random_feedback`` is ``N(0, 1)`` normalised to a
    largest magnitude of 1; the sign permutation of ``shuffled`` is uniform.
    """
    k_pop, k_fb, k_perm, k_x, k_z = jax.random.split(jax.random.fold_in(key, INIT), 5)
    population = init_population(
        k_pop, static.neurons, static.inputs, static.context,
        weight_scale=hyper.weight_scale, bias=hyper.baseline_bias,
        context_drive=hyper.context_drive, context_apical=hyper.context_apical,
    )  # fmt: skip
    random = jax.random.normal(k_fb, (static.neurons,))
    state = BCIState(
        population=population,
        feedback=jnp.zeros((static.neurons,), jnp.float32),
        r_mean=jnp.zeros((static.neurons,), jnp.float32),
        setpoint=jnp.zeros((static.neurons,), jnp.float32),
        q_mean=jnp.zeros((), jnp.float32),
        rpe_mean=jnp.zeros((), jnp.float32),
        x=jax.random.normal(k_x, (static.inputs,)),
        z=jax.random.normal(k_z, (static.context,)),
        threshold=jnp.ones((), jnp.float32),
        random_feedback=random / jnp.max(jnp.abs(random)),
        permutation=jax.random.permutation(k_perm, static.neurons),
        variant=variant,
        session=jnp.zeros((), jnp.int32),
    )
    state, _ = calibrate(static, hyper, state, jax.random.fold_in(key, CALIBRATION))
    return state


def observe(key: PRNGKeyArray, frames: Frames, hyper: TaskHyper) -> Frames:
    """``frames`` with soma and dendrite seen through the calcium model (per trial)."""
    n = frames.soma.shape[0]
    ks, kd = jax.random.split(key)

    def seen(k, x):
        keys = jax.random.split(k, n)
        return jax.vmap(
            lambda kk, xx: calcium(
                kk, xx, timescale=hyper.calcium_timescale, noise=hyper.calcium_noise
            )
        )(keys, x)

    return frames._replace(soma=seen(ks, frames.soma), dendrite=seen(kd, frames.dendrite))


def session_step(
    static: TaskStatic, hyper: TaskHyper, state: BCIState, key: PRNGKeyArray
) -> tuple[BCIState, SessionStats]:
    """One session (``key``: the session key) of one animal under its variant.

    Session 0 (``state.session``) is the baseline day: no plasticity, no manipulation. Later
    sessions learn. Runs ``static.trials`` trials (the last ``record_trials`` recorded).
    """
    learn = (state.session >= 1).astype(jnp.float32)
    state, sums, frames, _ = _trials(
        static, hyper, state, key, static.trials, learn, static.record_trials
    )
    if frames is None:
        empty = lambda *tail: jnp.zeros((0, static.steps, *tail), jnp.float32)  # noqa: E731
        n = static.neurons
        frames = Frames(empty(n), empty(n), empty(), empty(), empty(), empty(), empty())
    observed = observe(jax.random.fold_in(key, static.trials), frames, hyper)
    stats = SessionStats(
        hits=sums.hits,
        active_frames=sums.active_frames,
        hit_frames=sums.hit_frames,
        soma_mean=sums.soma / jnp.maximum(sums.active_frames, 1.0),
        feedback=state.feedback,
        bias=state.population.bias,
        record=observed,
    )
    return state._replace(session=state.session + 1), stats


def is_hit(frames: Frames) -> Bool[Array, " trials"]:
    """Whether each recorded trial ended with a hit."""
    return jnp.any(frames.reward > 0, axis=-1)
