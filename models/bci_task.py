"""The brain-computer-interface task: cursor, grating, reward; the types of its simulation.

``K`` target neurons (the first ``K`` of the population) control a visual grating: the first
``K/2`` push it toward the target (P+), the next ``K/2`` away (P-); the other neurons are
recorded but do not move it. With the decoder ``B_i = +2/K`` (P+), ``-2/K`` (P-), 0 (others)::

    c_raw(t) = B . r_t = mean(r_P+) - mean(r_P-)
    c_t      = c_{t-1} + alpha (c_raw(t) - c_{t-1}),    alpha = 1 - exp(-1 / tau_cursor), c_0 = 0
    q_t      = clip(floor(H c_t / theta), -H, H) / H      the grating, 2H + 1 positions in [-1, 1]
    err_t    = (1 - q_t) / 2                              distance from the target, err_0 = 1/2
    hit      = q_t reaches 1 (c_t >= theta): reward, the trial ends; else a timeout after T steps

The threshold ``theta`` of each animal (seed) and variant is calibrated before the first
session; the trials, the calibration and the sessions are simulated in
:mod:`bayescortex.models.bci_session`. This module holds what they share: the sizes and knobs
(:class:`TaskStatic`, :class:`TaskHyper`), an animal's state between sessions
(:class:`BCIState`), what a session records (:class:`Frames`, :class:`SessionStats`), the
decoder and the grating.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .bci import Population
from .bci_rules import Rule


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


def is_hit(frames: Frames) -> Bool[Array, " trials"]:
    """Whether each recorded trial ended with a hit."""
    return jnp.any(frames.reward > 0, axis=-1)
