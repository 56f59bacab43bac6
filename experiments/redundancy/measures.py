"""The measures of one recorded block, from its streamed statistics.

For every block (one condition of one session of one seed) and every bootstrap replicate:
bias-corrected linear Fisher information ``I``, shuffled information ``I_shuffle``, redundancy
``I_red = I_shuffle - I`` and percent redundancy (whole trial, combined over coherences by
inverse-variance weighting, median over random equal-size neuron subsets); the fraction of
noise variance along ``f'``; the same redundancy and information per within-trial time bin and
the slope of redundancy over the bins (the first bin is also the window of the passive
paradigm's short presentation); redundancy of task-relevant and task-irrelevant neurons
(preferred orientation within 22.5 deg of a category orientation, or not); and accuracy on the
signal trials. All from :class:`~bayescortex.analysis.moments.SignalMoments`, jax-traceable.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.analysis.moments import SignalMoments
from bayescortex.analysis.redundancy import redundancy_from_stats
from bayescortex.models import CATEGORY_ORIENTATIONS

from ..protocol import BlockStats

MEASURES = ("information", "information_shuffled", "redundancy", "percent_redundancy")


def task_relevant(n_neurons: int, task: int) -> np.ndarray:
    """Neurons whose preferred orientation is within 22.5 deg of a category orientation."""
    phi = np.arange(n_neurons)[:, None] * 180.0 / n_neurons  # degrees, exact
    axes = np.degrees(np.asarray(CATEGORY_ORIENTATIONS, dtype=float)[task]).round(3)[None, :]
    diff = np.abs((phi - axes + 90.0) % 180.0 - 90.0)
    return diff.min(axis=1) < 22.5


class Analysis(NamedTuple):
    """Static description of the measures (hashable)."""

    ds: tuple[float, ...]  # 2c per coherence
    subset_size: int
    bins: int  # within-trial bins in the statistics (0: whole trial only)
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()  # named neuron groups
    group_size: int = 0

    @classmethod
    def for_model(cls, coherences, n_neurons: int, task: int, subset_size: int, bins: int):
        relevant = task_relevant(n_neurons, task)
        groups = (
            ("relevant", tuple(np.flatnonzero(relevant).tolist())),
            ("irrelevant", tuple(np.flatnonzero(~relevant).tolist())),
        )
        size = min(subset_size // 2, *(len(g) for _, g in groups))
        ds = tuple(2.0 * float(c) for c in coherences)
        return cls(ds, subset_size, bins, groups, size)


def _select(m: SignalMoments, feature, neurons=None) -> SignalMoments:
    total, mean, scatter = m.total[:, feature], m.zero_mean[feature], m.zero_scatter[feature]
    if neurons is not None:
        idx = jnp.asarray(neurons)
        total, mean = total[..., idx], mean[..., idx]
        scatter = scatter[..., idx[:, None], idx[None, :]]
    return SignalMoments(m.weight, total, m.zero_weight, mean, scatter)


def block_measures(
    analysis: Analysis, moments: SignalMoments, correct, key, n_subsets: int
) -> dict:
    """Measures of one block (one replicate); features ``(bins + 1, neurons)``, last = trial."""
    k_total, k_bins, k_group = jax.random.split(key, 3)
    common = dict(ds=analysis.ds, n_subsets=n_subsets)
    total = redundancy_from_stats(
        _select(moments, -1), k_total, subset_size=analysis.subset_size, **common
    )
    out = {m: getattr(total.combined, m) for m in MEASURES}
    out["fraction_along_fprime"] = jnp.mean(total.fraction_along_fprime)
    if analysis.bins:
        binned = redundancy_from_stats(
            _select(moments, slice(0, analysis.bins)), k_bins,
            subset_size=analysis.subset_size, **common,
        )  # fmt: skip
        for m in MEASURES:
            out[f"{m}_by_time"] = getattr(binned.combined, m)
        t = jnp.arange(analysis.bins, dtype=moments.total.dtype)
        t = t - jnp.mean(t)
        out["within_trial_slope"] = jnp.sum(t * binned.combined.redundancy) / jnp.sum(t**2)
    for name, idx in analysis.groups:
        est = redundancy_from_stats(
            _select(moments, -1, idx), k_group, subset_size=analysis.group_size, **common
        )
        out[f"redundancy_{name}"] = est.combined.redundancy
    out["accuracy"] = jnp.sum(correct[1:]) / jnp.sum(moments.weight[1:])
    return out


def replicate_measures(
    analysis: Analysis, stats: BlockStats, key, *, n_subsets: int, boot_subsets: int
) -> tuple[dict, dict]:
    """Measures of blocks with leading axes ``(conditions, replicates)``.

    Returns ``(point, resampled)``: the data's measures (replicate 0, ``n_subsets`` subsets)
    with a leading condition axis, and every bootstrap replicate's (``boot_subsets`` subsets
    each, fresh subsets per replicate) with axes ``(conditions, resamples)``. Replicates are
    evaluated one after another (``lax.map``), so memory does not grow with their number.
    """

    def per_condition(n, k):
        return jax.vmap(lambda m, c: block_measures(analysis, m, c, k, n))

    pick = lambda r: jax.tree.map(lambda a: a[:, r], stats)  # noqa: E731
    first = pick(0)
    point = per_condition(n_subsets, jax.random.fold_in(key, 0))(first.moments, first.correct)

    def one(r):
        rep = pick(r)
        return per_condition(boot_subsets, jax.random.fold_in(key, r))(rep.moments, rep.correct)

    n_rep = stats.correct.shape[1]
    resampled = jax.lax.map(one, jnp.arange(1, n_rep))
    resampled = jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), resampled)
    return point, resampled
