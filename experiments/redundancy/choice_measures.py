"""The choice measures of one recorded block, from its kept zero-signal trials.

Choice probability of the task-relevant neurons (ROC AUC on zero-signal trials, oriented by
each neuron's preferred category) and the psychophysical kernel over noise frames (the
choice-triggered average) with its late-minus-early shape; and the reviewer's analyses: the
psychophysical kernel as the weights of a penalised logistic regression of the choice on the
frames' energies (``kernel_logistic``, :data:`KERNEL_L2`; the confirmation-bias signature:
primacy is a negative late-minus-early), and the share of the zero-signal noise along ``f'``
over all trials and within choice (:func:`choice_conditioned_fractions`: how much of the
variance along ``f'`` travels with the choice). :func:`.measures.block_measures` adds them to
a block's measures when it is given the trials
(:class:`~bayescortex.experiments.blocks.ZeroTrials`) and their bootstrap weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp

from bayescortex.analysis.choice import weighted_roc_auc
from bayescortex.analysis.kernels import choice_triggered_average, kernel_shape, logistic_kernel
from bayescortex.analysis.moments import HIGHEST, SignalMoments, fprime_from_moments
from bayescortex.analysis.moments import select as select_moments

from ..blocks import ZeroTrials
from ..named import Named

if TYPE_CHECKING:
    from .measures import Analysis


def _choice_measures(analysis: Analysis, moments: SignalMoments, trials: ZeroTrials, w) -> dict:
    # Each neuron's preferred category: the sign of its f' summed over coherences; choice 0
    # is the first category, which positive contrasts show.
    fp = jnp.sum(fprime_from_moments(select_moments(moments, -1), analysis.ds), axis=0)
    auc = weighted_roc_auc(trials.responses[:, -1], trials.choice == 1, w)
    cp = jnp.where(fp > 0, 1.0 - auc, auc)  # > 0.5: more spikes before the preferred choice
    relevant = dict(analysis.groups).get("relevant")
    if relevant is not None:
        cp = cp[jnp.asarray(relevant)]
    kernel = choice_triggered_average(trials.energy, trials.choice == 0, w)
    return {
        "choice_probability": jnp.mean(cp),
        "kernel": Named(kernel, ("frame",)),
        "kernel_mean": jnp.mean(kernel),
        "kernel_late_minus_early": kernel_shape(kernel).late_minus_early,
    }


KERNEL_L2 = 1.0
"""Ridge penalty of the logistic psychophysical kernel (``kernel_logistic``), on the frame
weights (log-odds per unit of frame energy), not the intercept: it keeps the fit finite where
a block's choices are (nearly) separable by the energies, which a trained model with little
internal noise can approach, and shrinks every frame alike, so the kernel's shape survives.
Against the data term of the Hessian it is small: about ``trials x var(energy) / 4`` per frame,
with the default 192 zero-signal trials and frame energies of variance ``|axis|^2`` (about 1.8
for the default gratings) times the pixel noise variance (1), about 86, so the shrinkage is
about 1%. Newton's method converged to float32 rounding within 8 steps on planted observers of
48 and 192 trials and 13 frames, separable choices included."""

KERNEL_NEWTON_STEPS = 25
"""Newton steps of the logistic kernel's fit (from 0; the ridge keeps the problem strictly
concave; 8 steps sufficed in the checks of :data:`KERNEL_L2`)."""


def _reviewer_choice_measures(analysis: Analysis, moments: SignalMoments, trials, w) -> dict:
    """The logistic psychophysical kernel and the noise along ``f'`` given the choice."""
    kernel = logistic_kernel(
        trials.energy, trials.choice == 0, w, l2=KERNEL_L2, n_iter=KERNEL_NEWTON_STEPS
    )
    fp = jnp.sum(fprime_from_moments(select_moments(moments, -1), analysis.ds), axis=0)
    zero, within = choice_conditioned_fractions(trials.responses[:, -1], fp, trials.choice, w)
    return {
        "kernel_logistic": Named(kernel, ("frame",)),
        "kernel_logistic_late_minus_early": kernel_shape(kernel).late_minus_early,
        "fraction_along_fprime_zero": zero,
        "fraction_along_fprime_within_choice": within,
        "choice_share_along_fprime": zero - within,
    }


def choice_conditioned_fractions(responses, direction, choice, weights=None):
    """Share of the noise variance along ``direction`` over all trials and within choice.

    ``responses``: (trials, neurons) zero-signal responses; ``direction``: (neurons,), e.g.
    ``f'`` (normalised here); ``choice``: 0/1 per trial; ``weights``: per trial (None: unit).
    With ``u = direction / |direction|``, returns ``(u^T S u / tr S, u^T S_w u / tr S_w)``:
    ``S`` the weighted scatter of all trials around their mean, ``S_w`` the scatter pooled
    within the two choice groups, each around its own weighted mean (a group of no weight
    adds nothing). The divisors of the covariances cancel in each ratio.

    What it tells: the choice splits the zero-signal trials by where the population's activity
    fell along ``f'`` if the choice reads the population out, but also if feedback from the
    decision pushes the population along ``f'`` (the top-down loop). Either way the choice
    groups' means differ along ``f'``, and conditioning on the choice removes that
    between-group part: if the variance along ``f'`` is largely choice-driven, the
    within-choice fraction falls well below the unconditioned one, and ``zero - within``
    (``choice_share_along_fprime``) is the share of the noise variance (along ``f'``, as a
    fraction of the total) that travels with the choice. Where the choice is independent of
    the responses the two fractions agree (to sampling error).

    >>> x = jnp.array([[2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> fp, choice = jnp.array([3.0, 0.0]), jnp.array([1, 0, 0])  # the choice takes trial 0
    >>> zero, within = choice_conditioned_fractions(x, fp, choice)
    >>> round(float(zero), 4), round(float(within), 4)
    (0.5714, 0.0)
    """
    x = jnp.asarray(responses)
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    u = direction / jnp.sqrt(jnp.sum(direction**2))
    chose_one = jnp.asarray(choice) == 1

    def scatter(wg):
        # Weighted scatter along u and its trace, around the group's weighted mean.
        total = jnp.sum(wg)
        mean = jnp.matmul(wg, x, precision=HIGHEST) / jnp.where(total > 0, total, 1.0)
        c = x - mean[None, :]
        along = jnp.sum(wg * jnp.matmul(c, u, precision=HIGHEST) ** 2)
        return along, jnp.sum(wg * jnp.sum(c**2, axis=-1))

    along, trace = scatter(w)
    along1, trace1 = scatter(jnp.where(chose_one, w, 0.0))
    along0, trace0 = scatter(jnp.where(chose_one, 0.0, w))
    return along / trace, (along0 + along1) / (trace0 + trace1)
