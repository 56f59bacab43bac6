"""Metropolis-adjusted Langevin on the positive orthant, with reflected proposals.

The proposal is the Langevin step ``x + (h / 2) grad log p(x) + sqrt(h) xi`` reflected at 0
(``x' = |.|``), whose density is ``prod_i [N(x'_i; m_i, h) + N(-x'_i; m_i, h)]``. Using that
density in the Metropolis-Hastings ratio keeps the target exactly invariant while every
proposal stays in ``x >= 0``, so no change of variables is needed and neurons sitting at zero
(explained away) move as freely as active ones. Each step is one gradient and one matrix-vector
product: the GPU-friendly alternative to sequential Gibbs updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, PRNGKeyArray


class MALAState(NamedTuple):
    position: Float[Array, " n"]
    logdensity: Float[Array, ""]
    grad: Float[Array, " n"]


class MALAInfo(NamedTuple):
    acceptance_rate: Float[Array, ""]
    is_accepted: Array


def init(position, logdensity_fn: Callable) -> MALAState:
    """MALA state at ``position`` (which must be >= 0)."""
    logp, grad = jax.value_and_grad(logdensity_fn)(position)
    return MALAState(position, logp, grad)


def _log_reflected_proposal(to, mean, step_size):
    """``sum_i log[N(to_i; mean_i, h) + N(-to_i; mean_i, h)]`` up to a constant."""
    a = -((to - mean) ** 2) / (2 * step_size)
    b = -((to + mean) ** 2) / (2 * step_size)
    return jnp.sum(logsumexp(jnp.stack([a, b]), axis=0))


def build_kernel(logdensity_fn: Callable, step_size) -> Callable:
    """A pure MALA transition ``kernel(key, state) -> (state, info)`` on ``x >= 0``."""
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def kernel(key: PRNGKeyArray, state: MALAState) -> tuple[MALAState, MALAInfo]:
        k_prop, k_acc = jax.random.split(key)
        x, logp, grad = state
        mean = x + 0.5 * step_size * grad
        noise = jax.random.normal(k_prop, x.shape, dtype=x.dtype)
        proposal = jnp.abs(mean + jnp.sqrt(step_size) * noise)
        logp_new, grad_new = value_and_grad(proposal)
        mean_back = proposal + 0.5 * step_size * grad_new
        log_ratio = (
            logp_new
            - logp
            + _log_reflected_proposal(x, mean_back, step_size)
            - _log_reflected_proposal(proposal, mean, step_size)
        )
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        accept_prob = jnp.minimum(1.0, jnp.exp(log_ratio))
        accepted = jax.random.uniform(k_acc, dtype=x.dtype) < accept_prob
        new = jax.tree.map(
            lambda a, b: jnp.where(accepted, a, b), MALAState(proposal, logp_new, grad_new), state
        )
        return new, MALAInfo(accept_prob, accepted)

    return kernel


def reflected_mala_step(key, position, logdensity_fn: Callable, step_size, n_steps: int):
    """Run ``n_steps`` MALA transitions from ``position``; returns the last position and the
    mean acceptance probability. Used as the x-block update inside a Gibbs sweep."""
    kernel = build_kernel(logdensity_fn, step_size)

    def body(state, k):
        state, info = kernel(k, state)
        return state, info.acceptance_rate

    state, rates = jax.lax.scan(body, init(position, logdensity_fn), jax.random.split(key, n_steps))
    return state.position, jnp.mean(rates)
