"""The learning rules of the BCI experiment's neurons: what each variant feeds the plasticity.

Every rule uses the same plasticity of the two-compartment neurons of
:mod:`bayescortex.models.bci` (:func:`~bayescortex.models.bci.plasticity_step`); a rule sets
only what reaches it: the instructive signal ``u_i`` in the apical drive
(:func:`instructive_signal`), the feedback weights ``B^`` that signal uses
(:func:`effective_feedback`) and the eligibility factor ``phi_i`` (:func:`eligibility_factor`:
``phi_i = 1``, the rate's slope, except for ``scalar_perturbation``, whose eligibility is node
perturbation: ``phi_i = sigma xi_i``, the neuron's own fluctuation, Fiete & Seung 2006). A rule
is a set of coefficients (:class:`Rule`, :func:`rule`); its manipulations (apical block,
dimmed soma) act in the task's learning sessions (:mod:`bayescortex.models.bci_session`).

Instructive signal by variant (:data:`VARIANTS`, :func:`instructive_signal`); ``err_t`` in
``[0, 1]`` is the distance of the grating from the target, ``Delta err_t = err_t - err_{t-1}``::

    vectorized          u_i = B^_i err_t          (B^ learned)
    vectorized_change   u_i = -B^_i Delta err_t   (B^ learned)
    scalar              u_i = delta_t = rew_t - Delta err_t - deltabar   (the same for all)
    scalar_perturbation as scalar, with the node-perturbation eligibility (the strong null)
    scalar_nonlinear    as scalar, and g_nl r_i^2 in the dendrite
    blocked             as vectorized with g_a = 0 in the learning sessions
    soma_dimmed         as vectorized with g_s reduced in the learning sessions
    random_feedback     as vectorized with B^ fixed random (feedback alignment)
    shuffled            as vectorized with u_i = |B^_i| sign(B^_pi(i)) err_t, pi a permutation

Why ``vectorized`` multiplies the error and not its observed change: ``err_t`` is the change
of the error the goal asks for (from ``err_t`` to 0), and with ``B~`` the regression of
activity on the outcome, ``B~_i err_t`` is the shift ``E[r_i | goal reached] - E[r_i]`` (the
clamped-minus-free difference). Multiplying the *observed* change instead
(``vectorized_change``) pairs ``B^_i`` with a change that the neuron's own fluctuation caused
with the sign of ``B_i``, so the expected update is proportional to ``B^_i B_i >= 0`` in both
groups: P- neurons are potentiated like P+ neurons. The scalar RPE needs no feedback weight:
its correlation with ``r'_i`` carries the sign of ``B_i`` weakly (through the soma's
nonlinearity); with the node-perturbation eligibility it carries it directly,
``E[delta sigma xi_i] ~ B_i``, which makes ``scalar_perturbation`` the fair scalar null.

A limit of ``vectorized`` to keep in mind: ``err_t >= 1/6`` on every active frame but the hit
frame, so its bias update always has the sign of ``B^_i`` (a push, scaled by the error,
rather than a signal that reverses with the outcome); and plasticity reads ``p_i``, the
dendrite with its own soma part removed exactly, which the imaging analysis can only
estimate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .bci import normalised_feedback

VARIANTS = (
    "vectorized",
    "vectorized_change",
    "scalar",
    "scalar_perturbation",
    "scalar_nonlinear",
    "blocked",
    "soma_dimmed",
    "random_feedback",
    "shuffled",
)
"""The learning rules (see the module docstring); a run chooses any subset."""


class Rule(NamedTuple):
    """A variant as coefficients (arrays, so variants can be one vmapped axis).

    ``error``, ``change``, ``rpe``: weights of ``B^ err``, ``-B^ Delta err`` and the scalar RPE
    in ``u``; ``learned``, ``random``, ``shuffled``: which feedback weights ``B^`` are (one of
    them 1); ``block``: 1 silences the apical input in learning sessions; ``block_record``: 1
    silences it in the recorded (imaged) trials of learning sessions; ``dim``: 1 reduces the
    somatic gain in learning sessions; ``nonlinear``: 1 adds ``g_nl r^2`` to the dendrite;
    ``perturbation``: 1 makes the eligibility node perturbation (``phi_i = sigma xi_i``).
    """

    error: Float[Array, ""]
    change: Float[Array, ""]
    rpe: Float[Array, ""]
    learned: Float[Array, ""]
    random: Float[Array, ""]
    shuffled: Float[Array, ""]
    block: Float[Array, ""]
    dim: Float[Array, ""]
    nonlinear: Float[Array, ""]
    perturbation: Float[Array, ""]
    block_record: Float[Array, ""]


_RULES = {
    "vectorized": dict(error=1, learned=1),
    "vectorized_change": dict(change=1, learned=1),
    "scalar": dict(rpe=1, learned=1),
    "scalar_perturbation": dict(rpe=1, learned=1, perturbation=1),
    "scalar_nonlinear": dict(rpe=1, learned=1, nonlinear=1),
    "blocked": dict(error=1, learned=1, block=1),
    "soma_dimmed": dict(error=1, learned=1, dim=1),
    "random_feedback": dict(error=1, random=1),
    "shuffled": dict(error=1, shuffled=1),
}


def rule(name: str) -> Rule:
    """The coefficients of variant ``name`` (ValueError naming the known variants).

    >>> float(rule("scalar").rpe), float(rule("scalar").error)
    (1.0, 0.0)
    """
    if name not in _RULES:
        raise ValueError(f"variant: unknown {name!r}; expected one of {VARIANTS}")
    values = _RULES[name]
    return Rule(*(jnp.asarray(float(values.get(f, 0)), jnp.float32) for f in Rule._fields))


def rules(names: tuple[str, ...]) -> Rule:
    """The coefficients of several variants stacked on a leading variant axis."""
    if not names:
        raise ValueError("variants: need at least one variant")
    return jax.tree.map(lambda *a: jnp.stack(a), *[rule(n) for n in names])


def effective_feedback(
    variant: Rule,
    learned: Float[Array, " neurons"],
    random: Float[Array, " neurons"],
    permutation: Int[Array, " neurons"],
    floor: Float[ArrayLike, ""],
) -> Float[Array, " neurons"]:
    """The feedback weights ``B^`` a variant uses: the normalised learned ``B~``, the fixed
    random weights, or the learned magnitudes with signs taken from ``permutation``."""
    b = normalised_feedback(learned, floor)
    shuffled = jnp.abs(b) * jnp.sign(b[permutation])
    return variant.learned * b + variant.random * random + variant.shuffled * shuffled


def instructive_signal(
    variant: Rule,
    feedback: Float[Array, " neurons"],
    error: Float[ArrayLike, ""],
    error_change: Float[ArrayLike, ""],
    rpe: Float[ArrayLike, ""],
) -> Float[Array, " neurons"]:
    """``u = c_err B^ err - c_chg B^ Delta err + c_rpe delta`` with the variant's coefficients."""
    vector = variant.error * error - variant.change * error_change
    return vector * feedback + variant.rpe * rpe * jnp.ones_like(feedback)


def eligibility_factor(
    variant: Rule, slope: Float[Array, " neurons"], fluctuation: Float[Array, " neurons"]
) -> Float[Array, " neurons"]:
    """``r'_i phi_i``: the slope (``phi = 1``) or, with ``variant.perturbation``, the slope
    times the neuron's own fluctuation ``sigma xi_i`` (node perturbation)."""
    c = variant.perturbation
    return slope * ((1.0 - c) + c * fluctuation)
