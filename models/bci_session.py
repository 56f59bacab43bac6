"""The brain-computer-interface task simulated with learning: trials, calibration, sessions.

The task (cursor, grating, reward) and the types shared here are defined in
:mod:`bayescortex.models.bci_task`, the neurons in :mod:`bayescortex.models.bci`, their
learning rules in :mod:`bayescortex.models.bci_rules`.

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

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .bci import (
    calcium,
    dendrite,
    eligibility_step,
    feedback_step,
    homeostasis_step,
    init_population,
    ou_step,
    plasticity_step,
    soma,
)
from .bci_rules import Rule, effective_feedback, eligibility_factor, instructive_signal
from .bci_task import (
    BCIState,
    Frames,
    SessionStats,
    TaskHyper,
    TaskStatic,
    decoder,
    grating_position,
)

INIT = 2**30 + 1
"""Salt of the key of the initial weights (``fold_in(seed key, INIT)``)."""
CALIBRATION = 2**30 + 2
"""Salt of the key of the baseline calibration trials."""


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
