"""Held-out selection of the d' groups (issue 31).

The criterion "neurons of high passive d' gain more redundancy than those of low d'" compares
the redundancy of two groups of neurons: the ``group_size`` of highest and of lowest d'. Chosen
on the data they are then measured on, the groups are double dipped: the top group is the
neurons whose ``f'`` happens to be over-estimated in that block's noise, and the groups'
redundancy differs even where every neuron is alike (regression to the mean; a planted
population with information-limiting correlations shows it, ``tests/experiments/
test_heldout_selection.py``). The size of that bias depends on the population (its spread of
d', its correlations, its trials), so it changes when learning changes the population, and the
change over learning inherits it.

Design: the groups are chosen on a **separate short block** with its own images and trial keys
(``fold_in(session key, SELECTION_KEY)``; the main blocks use ``fold_in(session key, 1)``), a
quarter of the main block's trials at every level (:func:`selection_protocol`), recorded in
the same condition as the block it selects for, with the model of the same session. Only its
per-neuron level means and zero-signal variances enter (:func:`~.measures.passive_dprime` of
its data, replicate 0); the groups' redundancy is measured on the whole main block, so no
measure loses trials. The selection is fixed across the main block's bootstrap replicates
(conditional on the held-out data, which the resamples do not touch). The held-out block is
streamed like the main ones (bounded by its ``chunk`` and its zero-signal trials), so memory
does not grow with the number of trials. It costs a quarter of a block's recording.

Why not split the main block's trials (e.g. by trial-id parity): the signal trials are
streamed into per-level sums, one per replicate, so a split would need a second set of sums in
the recording (:func:`~bayescortex.experiments.blocks.record`), and the groups' measures
would see half the trials.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..keys import SELECTION_KEY
from ..protocol import Protocol

SELECTION_FRACTION = 4
"""The held-out block has ``1 / SELECTION_FRACTION`` of the main block's trials per level."""


def selection_protocol(protocol: Protocol) -> Protocol:
    """The held-out block's protocol: ``1 / SELECTION_FRACTION`` of the main block's
    zero-signal trials and trials per signal level (at least 2 each: a variance and a mean
    difference need them), no bootstrap resamples (the groups are chosen on its data).

    >>> p = selection_protocol(Protocol(zero_trials=192, trials_per_level=96, resamples=100))
    >>> p.zero_trials, p.trials_per_level, p.resamples
    (48, 24, 0)
    """
    return protocol._replace(
        zero_trials=max(protocol.zero_trials // SELECTION_FRACTION, 2),
        trials_per_level=max(protocol.trials_per_level // SELECTION_FRACTION, 2),
        resamples=0,
    )


def selection_key(session_key: jax.Array) -> jax.Array:
    """The held-out block's images and chains: ``fold_in(session key, SELECTION_KEY)``."""
    return jax.random.fold_in(session_key, SELECTION_KEY)


def dprime_groups(dprime: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """Indices of the ``size`` neurons of highest d' (in decreasing order) and of the ``size``
    of lowest (in decreasing order), from ``dprime`` per neuron; ties keep neuron order.

    >>> top, bottom = dprime_groups(jnp.array([0.1, 3.0, 2.0, 0.5]), 2)
    >>> top.tolist(), bottom.tolist()
    ([1, 2], [3, 0])
    """
    order = jnp.argsort(-dprime, stable=True)
    return order[:size], order[-size:]
