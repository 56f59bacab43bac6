"""The measures of one recorded block, from its streamed statistics.

For every block (one condition of one session of one seed) and every bootstrap replicate:
bias-corrected linear Fisher information ``I``, shuffled information ``I_shuffle``, redundancy
``I_red = I_shuffle - I`` and percent redundancy (whole trial, combined over coherences by
inverse-variance weighting, median over random equal-size neuron subsets); the fraction of
noise variance along ``f'``; the same redundancy and information per within-trial time bin and
the slope of redundancy over the bins (the first bin is also the window of the passive
paradigm's short presentation; the last ends at the decision); the same per coherence;
redundancy of task-relevant and task-irrelevant neurons (preferred orientation within 22.5 deg
of a category orientation, or not), over the trial and per time bin, and of the neurons with
the highest and lowest d' (chosen on a held-out block: :mod:`.selection`); noise correlations
of neuron pairs preferring the same category minus different categories, and binned by preferred
orientation relative to the task axis; choice probability of the task-relevant neurons (ROC
AUC on zero-signal trials, oriented by each neuron's preferred category); the psychophysical
kernel over noise frames and its late-minus-early shape; accuracy on the signal trials and the
slope of the psychometric function.
The reviewer's analyses: the psychophysical kernel also as the weights of a penalised logistic
regression of the choice on the frames' energies (``kernel_logistic``, the confirmation-bias
signature: primacy is a negative late-minus-early); ``I``, ``I_shuffle`` and redundancy against
the population size (``*_by_size``: 8, 16, 32, ... neurons up to the subset size; whether the
added redundancy limits information, ``I`` saturating while ``I_shuffle`` grows); and the share
of the zero-signal noise along ``f'`` over all trials and within choice
(:func:`.choice_measures.choice_conditioned_fractions`: how much of the variance along ``f'``
travels with the choice). The choice measures (choice probability, both kernels, the noise
along ``f'`` given the choice) are computed in :mod:`.choice_measures`.
``I``, ``I_shuffle`` and redundancy also from the covariance pooled over all levels (signal
trials included), next to the zero-signal estimator. All from
:class:`~bayescortex.analysis.moments.SignalMoments` and the kept zero-signal trials
(:class:`~bayescortex.experiments.blocks.ZeroTrials`), jax-traceable, with the bootstrap
replicates' weights.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayescortex.analysis.correlations import (
    binned_correlations,
    category_correlation_contrast,
    correlation_from_covariance,
)
from bayescortex.analysis.moments import SignalMoments, covariance, fprime_from_moments
from bayescortex.analysis.moments import select as select_moments
from bayescortex.analysis.psychometric import psychometric_fit
from bayescortex.analysis.subsets import redundancy_from_stats
from bayescortex.models import CATEGORY_ORIENTATIONS
from bayescortex.models.stimuli import preferred_orientations

from ..blocks import BlockStats, ZeroTrials, replicate_moments
from ..keys import SIZE_KEY
from ..named import Named, named
from .choice_measures import _choice_measures, _reviewer_choice_measures
from .selection import dprime_groups

MEASURES = ("information", "information_shuffled", "redundancy", "percent_redundancy")


def task_relevant(n_neurons: int, task: int) -> np.ndarray:
    """Neurons whose preferred orientation is within 22.5 deg of a category orientation."""
    phi = np.arange(n_neurons)[:, None] * 180.0 / n_neurons  # degrees, exact
    axes = np.degrees(np.asarray(CATEGORY_ORIENTATIONS, dtype=float)[task]).round(3)[None, :]
    diff = np.abs((phi - axes + 90.0) % 180.0 - 90.0)
    return diff.min(axis=1) < 22.5


class Analysis(NamedTuple):
    """Description of the measures: sizes and groups (static), and ``ds`` (``2c`` per
    coherence, an array that may be traced). Built inside the compiled programs."""

    ds: jax.Array | tuple[float, ...]  # 2c per coherence (a traced leaf: Hyper.coherences)
    subset_size: int
    bins: int  # within-trial bins in the statistics (0: whole trial only)
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()  # named neuron groups
    group_size: int = 0
    task: int | None = None  # the trained task (model neurons with known orientations)
    sizes: tuple[int, ...] = ()  # population sizes of the *_by_size measures (empty: none)

    @classmethod
    def for_model(cls, coherences, n_neurons: int, task: int, subset_size: int, bins: int):
        relevant = task_relevant(n_neurons, task)
        groups = (
            ("relevant", tuple(np.flatnonzero(relevant).tolist())),
            ("irrelevant", tuple(np.flatnonzero(~relevant).tolist())),
        )
        size = min(subset_size // 2, *(len(g) for _, g in groups))
        ds = 2.0 * jnp.asarray(coherences)
        return cls(ds, subset_size, bins, groups, size, task, population_sizes(subset_size))


def population_sizes(subset_size: int) -> tuple[int, ...]:
    """The population sizes of the ``*_by_size`` measures: 8, 16, 32, ... below
    ``subset_size``, then ``subset_size`` itself (the main estimate's size).

    >>> population_sizes(32), population_sizes(24), population_sizes(6)
    ((8, 16, 32), (8, 16, 24), (6,))
    """
    sizes, n = [], 8
    while n < subset_size:
        sizes.append(n)
        n *= 2
    return (*sizes, subset_size)


ORIENTATION_BINS = 8
"""Bins of preferred orientation relative to the task axis for the binned noise correlations."""


def passive_dprime(moments: SignalMoments, ds) -> jax.Array:
    """Each neuron's d' between the two categories, ``|mean(+c) - mean(-c)| / sd0``, averaged
    over coherences (whole trial), ``sd0`` the zero-signal standard deviation."""
    whole = select_moments(moments, -1)
    fp = fprime_from_moments(whole, ds)  # (coherences, neurons)
    ds = jnp.asarray(ds, fp.dtype)[:, None]
    sd = jnp.sqrt(jnp.diagonal(covariance(whole)))
    return jnp.mean(jnp.abs(fp) * ds, axis=0) / sd


def pooled_moments(moments: SignalMoments, signal_second) -> SignalMoments:
    """Whole-trial statistics whose covariance is pooled over every level (each level's
    scatter around its own mean, divisor ``trials - levels``) instead of the zero-signal
    trials' alone: ``signal_second`` is the weighted sum of ``x x^T`` over the signal trials.
    ``zero_weight`` becomes ``trials - levels + 1``, so the estimators' bias correction sees
    the pooled covariance's degrees of freedom."""
    m = select_moments(moments, -1)
    w = jnp.where(m.weight > 0, m.weight, 1.0)[1:, None, None]
    between = jnp.sum(m.total[1:, :, None] * m.total[1:, None, :] / w, axis=0)
    scatter = m.zero_scatter + signal_second - between
    dof = jnp.sum(m.weight) - m.weight.shape[0]
    return SignalMoments(m.weight, m.total, dof + 1.0, m.zero_mean, scatter)


def _orientation_measures(analysis: Analysis, moments: SignalMoments) -> dict:
    n = moments.total.shape[-1]
    corr = correlation_from_covariance(covariance(select_moments(moments, -1)))
    axes = CATEGORY_ORIENTATIONS[analysis.task]
    phi = preferred_orientations(n).astype(corr.dtype)
    relative = jnp.mod(phi - axes[0], jnp.pi)
    return {
        "noise_correlation_same_minus_different": category_correlation_contrast(
            corr, phi, axes.astype(corr.dtype), jnp.pi / 8
        ),
        "noise_correlation_binned": Named(
            binned_correlations(corr, relative, ORIENTATION_BINS),
            ("orientation_row", "orientation_column"),
        ),
    }


def _size_measures(analysis: Analysis, moments: SignalMoments, key, n_subsets, total) -> dict:
    """``I``, ``I_shuffle`` and ``I_red`` (whole trial, combined over coherences, median over
    ``n_subsets`` random subsets) at every size of ``analysis.sizes``; at ``subset_size``
    itself the main estimate (``total``), so the largest size equals ``information`` etc."""
    names = ("information", "information_shuffled", "redundancy")
    whole = select_moments(moments, -1)
    k = jax.random.fold_in(key, SIZE_KEY)
    columns = {m: [] for m in names}
    for size in analysis.sizes:
        if size == analysis.subset_size:
            est = total.combined
        else:
            est = redundancy_from_stats(
                whole, jax.random.fold_in(k, size), ds=analysis.ds, subset_size=size,
                n_subsets=n_subsets,
            ).combined  # fmt: skip
        for m in names:
            columns[m].append(getattr(est, m))
    return {f"{m}_by_size": Named(jnp.stack(v), ("size",)) for m, v in columns.items()}


def block_measures(
    analysis: Analysis,
    moments: SignalMoments,
    correct,
    key,
    n_subsets: int,
    trials: ZeroTrials | None = None,
    weights=None,
    dprime=None,
    signal_second=None,
) -> dict:
    """Measures of one block (one replicate); features ``(bins + 1, neurons)``, last = trial.
    Returns ``{name: Named}``: each measure with its own axes named (:mod:`..named`).

    ``trials`` and ``weights`` (this replicate's weights of the kept zero-signal trials) add
    the choice measures (with the logistic kernel and the noise along ``f'`` within choice);
    ``analysis.sizes`` the ``*_by_size`` measures (their subsets keyed by
    ``fold_in(key, SIZE_KEY)``: no other measure depends on them); ``dprime`` (per neuron,
    from data held out from ``moments``: :mod:`.selection`) the groups of highest and lowest
    d' (:func:`.selection.dprime_groups`); ``signal_second`` (:func:`pooled_moments`) the
    information from the pooled covariance.
    """
    k_total, k_bins, k_group = jax.random.split(key, 3)
    common = dict(ds=analysis.ds, n_subsets=n_subsets)
    total = redundancy_from_stats(
        select_moments(moments, -1), k_total, subset_size=analysis.subset_size, **common
    )
    out = {m: getattr(total.combined, m) for m in MEASURES}
    out |= {
        f"{m}_by_coherence": Named(getattr(total.per_coherence, m), ("coherence",))
        for m in MEASURES
    }
    out["fraction_along_fprime"] = jnp.mean(total.fraction_along_fprime)
    if signal_second is not None:
        pooled = redundancy_from_stats(
            pooled_moments(moments, signal_second), k_total,
            subset_size=analysis.subset_size, **common,
        )  # fmt: skip
        for m in ("information", "information_shuffled", "redundancy"):
            out[f"{m}_pooled"] = getattr(pooled.combined, m)
    if analysis.bins:
        binned = redundancy_from_stats(
            select_moments(moments, slice(0, analysis.bins)), k_bins,
            subset_size=analysis.subset_size, **common,
        )  # fmt: skip
        for m in MEASURES:
            out[f"{m}_by_time"] = Named(getattr(binned.combined, m), ("time",))
        t = jnp.arange(analysis.bins, dtype=moments.total.dtype)
        t = t - jnp.mean(t)
        out["within_trial_slope"] = jnp.sum(t * binned.combined.redundancy) / jnp.sum(t**2)
    groups = list(analysis.groups)
    if dprime is not None:
        top, bottom = dprime_groups(dprime, analysis.group_size)
        groups += [("dprime_top", top), ("dprime_bottom", bottom)]
    for name, idx in groups:
        # Every group's features: the bins, then the whole trial.
        est = redundancy_from_stats(
            select_moments(moments, slice(None), idx), k_group, subset_size=analysis.group_size,
            **common,
        )  # fmt: skip
        out[f"redundancy_{name}"] = est.combined.redundancy[-1]
        if analysis.bins:
            out[f"redundancy_{name}_by_time"] = Named(est.combined.redundancy[:-1], ("time",))
    if analysis.task is not None:
        out |= _orientation_measures(analysis, moments)
    if trials is not None:
        out |= _choice_measures(analysis, moments, trials, weights)
        out |= _reviewer_choice_measures(analysis, moments, trials, weights)
    if analysis.sizes:
        out |= _size_measures(analysis, moments, key, n_subsets, total)
    out["accuracy"] = jnp.sum(correct[1:]) / jnp.sum(moments.weight[1:])
    out["psychometric_slope"] = psychometric_slope(analysis, correct, moments.weight)
    return named(out)


def psychometric_slope(analysis: Analysis, correct, weight) -> jax.Array:
    """Slope ``beta`` of the logistic psychometric function ``p(first | c)`` fitted to a
    block's choices at every level (zero signal, then ``+c``, ``-c`` per coherence)."""
    c = jnp.asarray(analysis.ds, weight.dtype) / 2
    signed = jnp.concatenate([jnp.zeros(1, c.dtype), jnp.stack([c, -c], axis=1).reshape(-1)])
    # "Correct" at c >= 0 is choosing the first category; at c < 0 the second.
    frac = correct / jnp.where(weight > 0, weight, 1.0)
    p_first = jnp.where(signed >= 0, frac, 1.0 - frac)
    beta, _ = psychometric_fit(p_first, signed, weight)
    return beta


def reference_dprime(analysis: Analysis, stats: BlockStats, reference: int) -> jax.Array:
    """Each neuron's d' (:func:`passive_dprime`) in the data (replicate 0) of condition
    ``reference`` of blocks with leading axes ``(conditions, replicates)``; of the held-out
    block (:mod:`.selection`), what ranks the d' groups."""
    ref = replicate_moments(jax.tree.map(lambda a: a[reference], stats), 0)
    return passive_dprime(ref, analysis.ds)


def replicate_measures(
    analysis: Analysis,
    stats: BlockStats,
    key,
    *,
    n_subsets: int,
    boot_subsets: int,
    dprime=None,
) -> tuple[dict, dict]:
    """Measures of blocks with leading axes ``(conditions, replicates)``.

    Returns ``(point, resampled)``: the data's measures (replicate 0, ``n_subsets`` subsets)
    with a leading condition axis, and every bootstrap replicate's (``boot_subsets`` subsets
    each, fresh subsets per replicate) with axes ``(conditions, resamples)``. Replicates are
    evaluated one after another (``lax.map``), so memory does not grow with their number.
    ``dprime`` (per neuron, :func:`reference_dprime` of the held-out passive block,
    :mod:`.selection`) adds the d' groups: the neurons of highest and lowest d'. Each
    condition's measures depend on its own block and ``dprime`` only, so the conditions may be
    split over devices.
    """
    trials = stats.trials

    def per_condition(n, k, r):
        def one(m, c, t, second):
            w = None if t is None else t.weights[r]
            return block_measures(analysis, m, c, k, n, t, w, dprime, second)

        return one

    def evaluate(n, k, r):
        # This replicate's zero-signal moments are computed here, one replicate at a time.
        moments = jax.vmap(lambda s: replicate_moments(s, r))(stats)
        second = None if stats.signal_second is None else stats.signal_second[:, r]
        return jax.vmap(per_condition(n, k, r))(moments, stats.correct[:, r], trials, second)

    point = evaluate(n_subsets, jax.random.fold_in(key, 0), 0)
    resampled = jax.lax.map(
        lambda r: evaluate(boot_subsets, jax.random.fold_in(key, r), r),
        jnp.arange(1, stats.correct.shape[1]),
    )
    resampled = jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), resampled)
    return point, resampled
