"""The run loop: drive any pure ``step(key, state) -> (state, info)`` kernel with ``lax.scan``.

Per-step keys come from ``fold_in(key, t)``, so a chain split into pieces gives the same draws as
one long run. Only ``transform(state, info)`` of every ``thin``-th step is kept, so long
trajectories never have to sit in memory whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray


def sample_chain(
    key: PRNGKeyArray,
    step: Callable,
    state: Any,
    n_steps: int,
    *,
    thin: int = 1,
    transform: Callable = lambda state, info: state,
    start: int = 0,
    inputs: Any = None,
):
    """Run ``n_steps`` transitions; return the final state and the stacked kept outputs.

    ``step(key, state) -> (state, info)``; with ``inputs`` (a pytree whose leaves have a
    leading axis of ``n_steps``), ``step(key, state, x)`` receives step ``t``'s slice ``x``
    (e.g. the image of that sweep). Outputs are ``transform(state, info)`` after steps
    ``thin - 1, 2 thin - 1, ...`` (``n_steps // thin`` of them). ``start`` offsets the step
    counter used for the keys, to continue a chain. Step ``t`` uses ``fold_in(key, start + t)``.

    >>> def step(key, x):
    ...     x = 0.5 * x + jax.random.normal(key)
    ...     return x, None
    >>> final, xs = sample_chain(jax.random.key(0), step, 0.0, 100, thin=10)
    >>> xs.shape
    (10,)
    """
    if n_steps <= 0 or thin <= 0:
        raise ValueError(f"n_steps and thin: must be positive, got {n_steps}, {thin}")
    if n_steps % thin:
        raise ValueError(f"thin: must divide n_steps ({n_steps}), got {thin}")

    def one(state, t, x):
        k = jax.random.fold_in(key, t)
        return step(k, state) if inputs is None else step(k, state, x)

    counter = start + jnp.arange(n_steps)
    xs = (counter, inputs)
    blocks = jax.tree.map(lambda a: a.reshape((n_steps // thin, thin) + a.shape[1:]), xs)

    def block(state, tx):
        def skip(state, tx):
            return one(state, *tx)[0], None

        if thin > 1:
            state, _ = jax.lax.scan(skip, state, jax.tree.map(lambda a: a[:-1], tx))
        state, info = one(state, *jax.tree.map(lambda a: a[-1], tx))
        return state, transform(state, info)

    return jax.lax.scan(block, state, blocks)


def draws_after_burn_in(
    key: PRNGKeyArray,
    step: Callable,
    state: Any,
    n_steps: int,
    burn_in: int,
    transform: Callable,
):
    """The kept outputs of a chain of ``n_steps`` transitions whose first ``burn_in`` are
    dropped: ``transform(state, info)`` after each of the last ``n_steps - burn_in`` (leading
    axis of that length). Step ``t`` uses ``fold_in(key, t)`` as in :func:`sample_chain`, so the
    draws are those of one chain of ``n_steps`` steps.

    >>> def step(key, x):
    ...     return x + 1.0, None
    >>> draws_after_burn_in(jax.random.key(0), step, 0.0, 5, 2, lambda s, i: s).tolist()
    [3.0, 4.0, 5.0]
    """
    if burn_in:
        state, _ = sample_chain(key, step, state, burn_in, transform=lambda s, i: None)
    _, draws = sample_chain(key, step, state, n_steps - burn_in, start=burn_in, transform=transform)
    return draws
