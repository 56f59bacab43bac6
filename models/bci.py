"""Two-compartment neurons that learn from apical instructive signals (the BCI experiment).

A population of ``N`` layer-5-like neurons, each a soma and an apical dendrite. At time step
``t`` every neuron sees the same input ``x_t`` (``D`` dims, the rest of the network) and a shared
context ``z_t`` (``Z`` dims); both are slow Ornstein-Uhlenbeck processes,
``x_{t+1} = rho x_t + sqrt(1 - rho^2) n_t`` with ``rho = exp(-1 / tau)`` (:func:`ou_step`).

Soma (:func:`soma`)::

    h_i = W_i . x_t + V_i . z_t + b_i + sigma xi_i,     xi_i ~ N(0, 1)
    r_i = g_s r_max tanh(softplus(h_i) / r_max),        r'_i = dr_i / dh_i

The rate saturates at ``g_s r_max`` (``r_max`` the rate ceiling; close to ``g_s softplus(h)``
well below it), so no rule can raise the hit rate by inflating every rate without bound: two
saturated groups cancel in the cursor. A slow homeostatic term (:func:`homeostasis_step`) pulls
each bias back toward the neuron's baseline rate ``r0_i``::

    b_i <- b_i + eta_h (r0_i - r_i)

Apical compartment (:func:`dendrite`)::

    a_i = g_a (m_i + u_i + sigma_a eps_i) + kappa r_i + g_nl r_i^2,     m = F z_t

``m`` is context shared through the fixed loadings ``F`` (the same ``z`` also drives the somata
through ``V``, so other neurons' somata can explain it); ``u_i`` is the instructive signal;
``g_a`` is the apical gain (0: the apical tuft is silenced, as by activating layer-1 NDNF
interneurons) and scales everything that reaches the tuft from above, its noise included;
``kappa r_i`` is the back-propagated somatic signal; ``g_nl r_i^2`` is an optional
nonlinear soma-to-dendrite coupling (zero except in the ``scalar_nonlinear`` variant). The part
of the dendrite that plasticity sees is the apical drive, the dendrite minus its soma-driven
part::

    p_i = g_a (m_i + u_i + sigma_a eps_i)

Plasticity, one rule for every variant (:func:`plasticity_step`)::

    e_i <- gamma_e e_i + r'_i phi_i [x_t, 1]     eligibility trace, gamma_e = exp(-1 / tau_e)
    [W_i, b_i] <- [W_i, b_i] + eta p_i e_i

``phi_i = 1`` (the rate's slope), except for ``scalar_perturbation``, whose eligibility is
node perturbation: ``phi_i = sigma xi_i``, the neuron's own fluctuation (Fiete & Seung 2006).
The learning rules (variants) differ only in the instructive signal ``u_i``, the feedback
weights it uses and ``phi_i``: :mod:`bayescortex.models.bci_rules`.

Feedback weights, learned from the neuron's own fluctuations and the visual outcome
(:func:`feedback_step`), from ``B~ = 0``::

    B~_i <- B~_i + eta_B min(g_a, 1) [(r_i - rbar_i)(q_t - qbar) - lambda B~_i]

gated by the apical gain: the outcome reaches a neuron only through its tuft, so a silenced
tuft learns no feedback weight. ``q_t`` is the grating position the activity ``r_t``
produced, ``rbar``, ``qbar`` running means. The feedback pathway normalises its weights
divisively, ``B^_i = B~_i / (max_j |B~_j| + eps_B)``
(:func:`normalised_feedback`), so its largest weight has magnitude about 1 whatever the units.

Calcium (:func:`calcium`): ``F_t = gamma_c F_{t-1} + (1 - gamma_c) s_t + sigma_F n_t``, an
exponential (GCaMP-like) kernel of time constant ``tau_c`` frames and additive noise.

Everything is pure: explicit keys, one neuron population per call; batch with ``jax.vmap``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray


class Population(eqx.Module):
    """Synaptic parameters of ``N`` two-compartment neurons (learnable ``W``, ``b``; fixed
    context loadings ``V`` onto the somata and ``F`` onto the apical tufts)."""

    weights: Float[Array, "neurons inputs"]
    bias: Float[Array, " neurons"]
    context_soma: Float[Array, "neurons context"]
    context_apical: Float[Array, "neurons context"]


def init_population(
    key: PRNGKeyArray,
    neurons: int,
    inputs: int,
    context: int,
    *,
    weight_scale: Float[ArrayLike, ""],
    bias: Float[ArrayLike, ""],
    context_drive: Float[ArrayLike, ""],
    context_apical: Float[ArrayLike, ""],
) -> Population:
    """Random weights: ``W ~ N(0, weight_scale^2 / D)``, ``F_i = context_apical f_i / sqrt(Z)``
    with ``f_i ~ N(0, I)``, ``V_i = context_drive g_i / sqrt(Z)`` with ``g_i`` a random
    direction orthogonal to ``f_i`` of the same norm; every bias ``bias``. Needs
    ``context >= 2``.

    >>> p = init_population(jax.random.key(0), 5, 3, 2, weight_scale=1.0, bias=0.0,
    ...                     context_drive=0.5, context_apical=1.0)
    >>> p.weights.shape, p.context_apical.shape
    ((5, 3), (5, 2))
    """
    if context < 2:
        raise ValueError(f"context: the loadings V_i and F_i must be orthogonal, so at least 2 "
                         f"context dimensions are needed, got {context}")  # fmt: skip
    kw, kv, kf = jax.random.split(key, 3)
    f = jax.random.normal(kf, (neurons, context))
    g = jax.random.normal(kv, (neurons, context))
    # V_i orthogonal to F_i: the tuft's context F_i z is then independent of the neuron's own
    # soma, so it cannot bias the neuron's own plasticity (E[F_i z r'_i] = 0).
    g = g - jnp.sum(g * f, axis=1, keepdims=True) / jnp.sum(f * f, axis=1, keepdims=True) * f
    g = g / jnp.linalg.norm(g, axis=1, keepdims=True) * jnp.linalg.norm(f, axis=1, keepdims=True)
    return Population(
        weights=weight_scale * jax.random.normal(kw, (neurons, inputs)) / np.sqrt(inputs),
        bias=jnp.full((neurons,), bias, jnp.float32),
        context_soma=context_drive * g / np.sqrt(context),
        context_apical=context_apical * f / np.sqrt(context),
    )


def ou_step(
    noise: Float[Array, " dims"], x: Float[Array, " dims"], timescale: Float[ArrayLike, ""]
) -> Float[Array, " dims"]:
    """One step of a unit-variance Ornstein-Uhlenbeck process with ``timescale`` steps, driven
    by standard normal ``noise``: ``rho x + sqrt(1 - rho^2) noise``, ``rho = exp(-1/tau)``."""
    rho = jnp.exp(-1.0 / timescale)
    return rho * x + jnp.sqrt(1.0 - rho**2) * noise


def soma(
    population: Population,
    x: Float[Array, " inputs"],
    z: Float[Array, " context"],
    noise: Float[Array, " neurons"],
    *,
    gain: Float[ArrayLike, ""],
    sigma: Float[ArrayLike, ""],
    ceiling: Float[ArrayLike, ""],
) -> tuple[Float[Array, " neurons"], Float[Array, " neurons"]]:
    """Somatic rates ``r = g_s r_max tanh(softplus(h) / r_max)``, ``h = W x + V z + b +
    sigma noise``, and ``dr/dh``; ``ceiling`` is ``r_max``."""
    h = population.weights @ x + population.context_soma @ z + population.bias + sigma * noise
    t = jnp.tanh(jax.nn.softplus(h) / ceiling)
    return gain * ceiling * t, gain * jax.nn.sigmoid(h) * (1.0 - t**2)


def dendrite(
    population: Population,
    z: Float[Array, " context"],
    u: Float[Array, " neurons"],
    r: Float[Array, " neurons"],
    noise: Float[Array, " neurons"],
    *,
    apical_gain: Float[ArrayLike, ""],
    backprop: Float[ArrayLike, ""],
    nonlinear: Float[ArrayLike, ""],
    sigma: Float[ArrayLike, ""],
) -> tuple[Float[Array, " neurons"], Float[Array, " neurons"]]:
    """The apical compartment ``a`` and its apical drive ``p`` (what plasticity sees).

    ``a = g_a (F z + u + sigma_a noise) + kappa r + g_nl r^2``, ``p = g_a (F z + u + sigma_a
    noise)``; ``nonlinear`` is ``g_nl``. ``g_a`` scales all input from above, noise included.
    """
    drive = apical_gain * (population.context_apical @ z + u + sigma * noise)
    return drive + backprop * r + nonlinear * r**2, drive


def normalised_feedback(
    feedback: Float[Array, " neurons"], floor: Float[ArrayLike, ""]
) -> Float[Array, " neurons"]:
    """``B~ / (max |B~| + floor)``: the largest feedback weight has magnitude about 1.

    >>> normalised_feedback(jnp.array([2.0, -1.0, 0.0]), 0.0).tolist()
    [1.0, -0.5, 0.0]
    """
    return feedback / (jnp.max(jnp.abs(feedback)) + floor)


def eligibility_step(
    trace: Float[Array, "neurons inputs_1"],
    slope: Float[Array, " neurons"],
    x: Float[Array, " inputs"],
    decay: Float[ArrayLike, ""],
) -> Float[Array, "neurons inputs_1"]:
    """``e <- decay e + r' [x, 1]``: the low-passed gradient of each rate w.r.t. ``[W_i, b_i]``
    (``slope`` is :func:`eligibility_factor`, ``r'_i phi_i``)."""
    pre = jnp.concatenate([x, jnp.ones((1,), x.dtype)])
    return decay * trace + slope[:, None] * pre[None, :]


def plasticity_step(
    population: Population,
    trace: Float[Array, "neurons inputs_1"],
    apical: Float[Array, " neurons"],
    rate: Float[ArrayLike, ""],
) -> Population:
    """``[W_i, b_i] += rate p_i e_i``: the one plasticity rule of every variant."""
    delta = rate * apical[:, None] * trace
    return eqx.tree_at(
        lambda p: (p.weights, p.bias),
        population,
        (population.weights + delta[:, :-1], population.bias + delta[:, -1]),
    )


def homeostasis_step(
    population: Population,
    r: Float[Array, " neurons"],
    setpoint: Float[Array, " neurons"],
    rate: Float[ArrayLike, ""],
) -> Population:
    """``b += eta_h (r0 - r)``: each bias drifts back toward the neuron's baseline rate."""
    return eqx.tree_at(lambda p: p.bias, population, population.bias + rate * (setpoint - r))


def feedback_step(
    feedback: Float[Array, " neurons"],
    r: Float[Array, " neurons"],
    r_mean: Float[Array, " neurons"],
    outcome: Float[ArrayLike, ""],
    outcome_mean: Float[ArrayLike, ""],
    *,
    rate: Float[ArrayLike, ""],
    decay: Float[ArrayLike, ""],
) -> Float[Array, " neurons"]:
    """``B~ += eta_B [(r - rbar)(q - qbar) - lambda B~]``: the feedback weights track the
    covariance of each neuron's activity with the visual outcome it produced."""
    return feedback + rate * ((r - r_mean) * (outcome - outcome_mean) - decay * feedback)


def burst_probability(
    apical: Float[Array, " neurons"],
    r: Float[Array, " neurons"],
    *,
    apical_weight: Float[ArrayLike, ""],
    soma_weight: Float[ArrayLike, ""],
    threshold: Float[ArrayLike, ""],
) -> Float[Array, " neurons"]:
    """Probability of a burst, ``sigmoid(beta_a a + beta_s r - theta)``: a readout of
    coincident apical and somatic activity.

    >>> float(burst_probability(jnp.zeros(1), jnp.zeros(1), apical_weight=1.0, soma_weight=1.0,
    ...                         threshold=0.0)[0])
    0.5
    """
    return jax.nn.sigmoid(apical_weight * apical + soma_weight * r - threshold)


def calcium(
    key: PRNGKeyArray,
    activity: Float[Array, "time neurons"],
    *,
    timescale: Float[ArrayLike, ""],
    noise: Float[ArrayLike, ""],
) -> Float[Array, "time neurons"]:
    """Calcium-like observation of ``activity``: an exponential kernel of ``timescale`` frames
    with unit gain (``F_t = g F_{t-1} + (1 - g) s_t``, ``g = exp(-1 / timescale)``, started at
    the first frame), plus Gaussian noise of sd ``noise``. ``timescale`` 0 observes the
    activity itself.

    >>> s = jnp.ones((4, 2))
    >>> calcium(jax.random.key(0), s, timescale=3.0, noise=0.0).tolist()[-1]
    [1.0, 1.0]
    """
    g = jnp.where(timescale > 0, jnp.exp(-1.0 / jnp.maximum(timescale, 1e-12)), 0.0)

    def step(f, s):
        f = g * f + (1.0 - g) * s
        return f, f

    _, trace = jax.lax.scan(step, activity[0], activity)
    return trace + noise * jax.random.normal(key, activity.shape)
