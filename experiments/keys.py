"""Every key constant of the experiments: which ``fold_in`` salt draws what.

A seed ("animal") ``s`` starts from ``jax.random.key(seed)`` folded with ``s``; session ``t``
of it uses :func:`session_key` = ``fold_in(seed key, t)``. Within a session:

===================== ===== ==============================================================
constant              salt  draws
===================== ===== ==============================================================
TRAIN_BATCH_KEY       0     the training minibatches (minibatch ``b``: ``fold_in(., b)``)
RECORDING_KEY         1     the recorded block (trial ``n``: ``fold_in(., n)``; the same
                            images in every condition)
TRAIN_CONTRAST_KEY    2     the training trials' contrasts
SUBSET_KEY            3     the redundancy measures' neuron subsets (``fold_in(., stream)``,
                            stream 0 the main block, 1.. the control pairs); in session 0
                            also the free-form feedback's initial noise
SELECTION_KEY         4     the held-out block that ranks the d' groups
EXPOSURE_KEY          5     the passive-exposure trials
===================== ===== ==============================================================

Keys of a seed that no session uses (far above any session index): ``BOOTSTRAP_KEY`` draws
the Poisson bootstrap weights per trial id (:func:`bootstrap_key`; the same resamples in every
block of a seed) and ``NETWORK_KEY`` seeds the classic baselines (recording, training and
measures: ``fold_in(fold_in(seed key, NETWORK_KEY), i)``, ``i = 0, 1, 2``). Inside a recorded
block, frozen-noise conditions draw level ``l``'s images from ``fold_in(recording key,
FROZEN_IMAGES + l)`` (trial ids stay below it), and the ``*_by_size`` measures' subsets from
``fold_in(measures key, SIZE_KEY)``.
"""

from __future__ import annotations

import jax
from jaxtyping import PRNGKeyArray

TRAIN_BATCH_KEY = 0
RECORDING_KEY = 1
TRAIN_CONTRAST_KEY = 2
SUBSET_KEY = 3
SELECTION_KEY = 4
EXPOSURE_KEY = 5

FROZEN_IMAGES = 2**30
"""Frozen-noise blocks draw the images of level ``l`` from ``fold_in(key, FROZEN_IMAGES + l)``."""

BOOTSTRAP_KEY = 2**31 - 1
"""``fold_in(seed key, BOOTSTRAP_KEY)`` draws the Poisson bootstrap weights (never a session)."""

NETWORK_KEY = 2**31 - 2
"""``fold_in(seed key, NETWORK_KEY)`` seeds the classic baselines (never a session)."""

SIZE_KEY = 0x5153
"""``fold_in(measures key, SIZE_KEY)`` keys the random subsets of the ``*_by_size`` measures
(then ``fold_in`` of the size), apart from the keys of every other measure."""


def session_key(seed_key: PRNGKeyArray, session) -> PRNGKeyArray:
    """``fold_in(seed key, session)``: every random choice of a session derives from it."""
    return jax.random.fold_in(seed_key, session)


def bootstrap_key(seed_key: PRNGKeyArray) -> PRNGKeyArray:
    """The key of a seed's Poisson bootstrap weights (shared by all its blocks)."""
    return jax.random.fold_in(seed_key, BOOTSTRAP_KEY)
