"""The ``"reward"`` objective of :func:`~bayescortex.inference.learning.fisher_step`: the
expected reward of the behaving decision, estimated by SPSA with common random numbers.

The objective is the expected reward of the behaving decision, ``E[R(theta)]`` with ``R = 1``
when the choice of a behaving trial (:data:`~bayescortex.inference.learning.BEHAVING_MODE`, the
recording's schedule, accumulator and readout, :func:`~bayescortex.inference.trial.decide`)
names the revealed category, else 0: the behaving accuracy on the training distribution. Its
optimum is where that accuracy peaks, so it cannot overshoot by construction. The estimator is
SPSA with common random numbers (:func:`spsa_trial`): per trial a Rademacher direction
``Delta`` over the outcome leaves (:func:`outcome_spec`; the fixation cue's context prior,
which a task trial cannot inform, is not perturbed), the same trial (images, chain keys, tie
coin) decided at ``theta_c + c Delta`` and at ``theta_c - c Delta``, and
``(R_+ - R_-) / (2 c) Delta``, averaged over the minibatch. ``theta_c`` is ``theta`` with
the non-negative outcome leaves (``kappa_o``) raised to at least ``c``, so both points stay in
the allowed region; ``c`` (``perturbation``, default 0.2 in the experiments) is a traced
hyperparameter. What is optimised is the accuracy of the choice the behaving trial makes, at
the settings' ``choice_temperature`` ``T`` (:func:`~bayescortex.inference.trial.decide`; the
pair shares the choice's uniform draw). At ``T = 1`` (the experiments' default) the choice is
a sample from the final belief, so the expected reward is the mean final belief in the
revealed category ``E[p_T(O* | y)]``: it grows with the kernel while the belief is
underconfident, and it cannot grow without bound: where the belief saturates the sampled
choice becomes the deterministic one, whose accuracy falls with the kernel (0.92 at
``kappa_o`` 0.4, 0.78 at 6: the accumulator's confirmation bias), so its optimum is finite
(an argument; where it lies is measured on the Results page). In the context prior its
optimum is ``p(task | task cue) = 1``, the truth of the training trials: measured with
common-random-number pairs along one parameter at a time (``benchmarks/
probe_reward_gradient.py``), at a 12-session run's plateau the kernel's derivative is 0
within its SE while a sharper task prior still raises accuracy (+0.013 +- 0.003 per unit of
logit at sessions 10 and 12), so the task cue's prior keeps climbing (0.86 after 8 sessions,
0.88 after 12) after the kernel has stopped, and the sensory population's information falls
as it does (Results page). At ``T = 0`` it is the deterministic observer's accuracy, flat
above a small kernel.

Why SPSA and not the score function. The other exact route is the likelihood ratio through
the sampler's own draws: the log-probability of a trial's trajectory is the sum of the
log conditionals of its theta-dependent draws (the initial ``(K, O)`` and ``g``, every
sweep's units and ``(K, O)``), and ``(R - b_contrast) grad log p(trajectory)`` is
unbiased. Measured per trial for the ``kappa_o`` (cardinal) component on a small model (32
neurons, 32 units, ``delta = 0.08``, ``p(cardinal | task) = 0.95``, oblique kernel 0; the
default :class:`SamplerSettings`, frames every 8 samples, contrasts +-3 to +-12; 512
trials, per-contrast leave-one-out baseline): variance 3.1, 4.1 and 1.7 at
``kappa_o`` 0.1, 0.4 and 3.0 (the score sums about 3,300 draws: sd 13, 11 and 3). SPSA
with every outcome leaf perturbed: 1.1 and 1.2 at ``kappa_o`` 0.4 and 3.0 for ``c = 0.1``,
0.44 and 0.34 for ``c = 0.2``, 0.19 and 0.19 for ``c = 0.3`` (the pair's choices differ on
only 4-7% of trials: common random numbers keep the two chains together), with means that
agree across ``c`` within their SE. SPSA is less variable by 3.8x (``c = 0.1``) to 9x
(``c = 0.2``) at ``kappa_o = 0.4`` and by 1.4x to 5x at ``kappa_o = 3``, needs no change
to the sampler, and costs two chains per trial for any number of parameters
(the free-form feedback's too; each component's variance is ``E[(R_+ - R_-)^2] / (4 c^2)``
less its square mean, which grows with the dimension only as far as the joint perturbation
makes the pair's choices differ more often). Its bias is ``O(c^2)`` (the curvature of the
accuracy). The measurements above are at ``T = 0``. One consequence of that decision rule: at
``kappa_o = 0`` for both tasks the belief never leaves 1/2 and the choice is a coin, while any
small positive kernel already gives about the feedforward readout's accuracy (0.91 at
``kappa_o = 0.1``), so behaving accuracy jumps at 0 and is flat to slowly falling above (the
estimate at the naive start, taken at ``kappa_o = c``, sees that jump and leaves 0 at once);
at ``T = 1`` accuracy rises with the kernel from 1/2 and learning is gradual.

:func:`reward_step` is the minibatch step (``fisher_step(objective="reward")`` dispatches to
it); :func:`spsa_trial` one trial's estimate. The trial's setup (the revealed category, the
behaving trial's key, its images) is :func:`~bayescortex.inference.chains.training_trial`,
shared with the conditional objective, so a trial of either objective sees the same images.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus

from . import gibbs, learning
from .chains import chain_latents, sample_weights, training_trial
from .learning import StepInfo, _spec_of, fisher_gradient, sensory
from .modes import InferenceMode, SamplerSettings
from .trial import CHOICE_KEY, decide, trial_schedule

PERTURBATION_KEY = 2**31 - 3
"""``fold_in(trial key, PERTURBATION_KEY)`` draws the trial's SPSA direction (never a sweep's,
an image's or the choice's key)."""


def outcome_spec(model: HierarchicalModel) -> PyTree[bool]:
    """Filter spec of the leaves that learn from the outcome: the learnable feedback leaves
    that are not sensory (parametric: ``kappa_o`` and ``context_logits``; free-form:
    ``unit_logits`` and ``context_logits``)."""
    names = [n for n in model.feedback.learnable_fields if n not in model.feedback.sensory_fields]
    return _spec_of(model, names)


def behaving_outcome(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projections: Float[Array, "sweeps neurons"],
    category: Int[Array, ""],
    settings: SamplerSettings,
    stimulus: Stimulus,
    mode: InferenceMode,
) -> tuple[Latents, Float[Array, ""], Float[Array, ""]]:
    """One behaving trial's chain and its decision, exactly as a recorded trial decides
    (:func:`~bayescortex.inference.trial.simulate_trial` with trial key ``key``): the chain's
    latents, whether the choice (:func:`~bayescortex.inference.trial.decide` on the final
    belief, its tie coin from ``fold_in(key, CHOICE_KEY)``) names ``category``, and the final
    belief ``p_T(O = category | y)``."""
    sched = trial_schedule(settings, stimulus)
    latents, belief = chain_latents(
        key, cond, projections, sched.evidence, settings, mode, memoryless=sched.memoryless,
        initial=sched.initial_is_sample,
    )  # fmt: skip
    p_first = jnp.sum(jnp.exp(belief[-1][:, 0]))
    choice = decide(jax.random.fold_in(key, CHOICE_KEY), p_first, settings.choice_temperature)
    correct = (choice == category).astype(p_first.dtype)
    return latents, correct, jnp.where(category == 0, p_first, 1.0 - p_first)


def rademacher(key: PRNGKeyArray, params: PyTree) -> PyTree:
    """A direction of independent +-1 entries shaped like the array leaves of ``params``
    (``None`` leaves stay ``None``): the simultaneous perturbation of SPSA."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    signs = [
        2.0 * jax.random.bernoulli(k, 0.5, leaf.shape).astype(leaf.dtype) - 1.0
        for k, leaf in zip(keys, leaves, strict=False)
    ]
    return jax.tree.unflatten(treedef, signs)


def task_cue_only(direction: PyTree) -> PyTree:
    """``direction`` with the context-prior rows of every cue but the task cue (row 0) set to 0.

    Training trials carry the task cue, so ``p(K | fixation)`` cannot change their reward: its
    true gradient is 0, and perturbing it would only add noise that an adaptive optimiser turns
    into a random walk of the fixation prior (measured: ``p(none | fixation)`` 0.33 -> 0.43
    in 4 sessions before this mask)."""
    logits = direction.feedback.context_logits
    if logits is None:
        return direction
    keep = (jnp.arange(logits.shape[0]) == 0)[:, None]
    return eqx.tree_at(lambda d: d.feedback.context_logits, direction, logits * keep)


def perturbation_centre(model: HierarchicalModel, perturbation) -> HierarchicalModel:
    """Where the reward gradient is estimated: ``model`` with each non-negative leaf that
    learns from the outcome raised to at least ``perturbation`` (so ``theta - c Delta`` stays
    in the allowed region; ``kappa_o = 0``, the naive start, is estimated at ``kappa_o = c``)."""
    names = [
        n for n in model.feedback.non_negative_fields
        if n in model.feedback.learnable_fields and n not in model.feedback.sensory_fields
    ]  # fmt: skip
    if not names:
        return model
    return eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names], model,
        replace_fn=lambda a: jnp.maximum(a, perturbation),
    )  # fmt: skip


def spsa_trial(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    stimulus: Stimulus,
    task: Int[Array, ""],
    contrast: Float[Array, ""],
    settings: SamplerSettings,
    mode: InferenceMode,
    perturbation,
    direction: PyTree | None = None,
):
    """One trial's SPSA estimate of ``grad_theta E[R]`` (theta: :func:`outcome_spec`).

    The trial (key ``key``, set up by :func:`~bayescortex.inference.chains.training_trial`
    as under the conditional objective: the revealed category, the behaving trial's key and
    its images) is run twice with common random numbers (the same images, chain keys and tie
    coin) at ``theta_c + c Delta`` and ``theta_c - c Delta``
    (:func:`perturbation_centre`; ``c = perturbation``; ``Delta`` Rademacher from
    ``fold_in(key, PERTURBATION_KEY)`` unless ``direction`` is given); the estimate is
    ``(R_+ - R_-) / (2 c) Delta`` (``1 / Delta_i = Delta_i``). ``R`` is the behaving choice's
    reward, 1 if it names the revealed category, else 0 (:func:`behaving_outcome`).

    Returns the estimate (model-shaped, ``None`` outside the outcome leaves), the two chains'
    latents (leading axis 2), their rewards and their final beliefs in the revealed category.
    """
    category, k_chain, projections = training_trial(key, model, stimulus, task, contrast, settings)
    centre = perturbation_centre(model, perturbation)
    params = eqx.filter(centre, outcome_spec(model))
    if direction is None:
        direction = task_cue_only(rademacher(jax.random.fold_in(key, PERTURBATION_KEY), params))
    signs = jnp.array([1.0, -1.0], dtype=contrast.dtype)

    def cond_at(sign):
        step = jax.tree.map(lambda d: sign * perturbation * d, direction)
        moved = eqx.apply_updates(centre, step)
        return jax.lax.stop_gradient(gibbs.conditionals(moved, 0))

    conds = jax.vmap(cond_at)(signs)
    latents, reward, p_category = jax.vmap(
        lambda c: behaving_outcome(k_chain, c, projections, category, settings, stimulus, mode)
    )(conds)
    scale = (reward[0] - reward[1]) / (2 * perturbation)
    estimate = jax.tree.map(lambda d: scale * d, direction)
    return estimate, latents, reward, p_category, category


def reward_step(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    opt_state: optax.OptState,
    optimizer: optax.GradientTransformation,
    stimulus: Stimulus,
    tasks: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    settings: SamplerSettings,
    sensory_rate=0.0,
    mode: InferenceMode | None = None,
    perturbation=0.2,
) -> tuple[HierarchicalModel, optax.OptState, StepInfo]:
    """One step of the ``"reward"`` objective on a minibatch
    (:func:`~bayescortex.inference.learning.fisher_step` dispatches here): the outcome leaves
    ascend the SPSA estimate of the behaving decision's expected reward (:func:`spsa_trial`
    per trial, vmapped, averaged over the trials); the sensory
    leaves the marginal likelihood of the images, estimated from the pooled latents of both
    chains (evaluated at ``theta``; the chains ran at ``theta_c +- c Delta``, an ``O(c)``
    difference that only matters when ``sensory_rate > 0``). ``mode`` (default the behaving
    inference) and ``settings`` are the behaving trial's, as recorded."""
    mode = learning.BEHAVING_MODE if mode is None else mode
    perturbation = jnp.asarray(perturbation, contrasts.dtype)
    ids = jnp.arange(tasks.shape[0])

    def trial(n, task, contrast):
        return spsa_trial(
            jax.random.fold_in(key, n), model, stimulus, task, contrast, settings, mode,
            perturbation,
        )  # fmt: skip

    estimates, latents, reward, p_category, categories = jax.vmap(trial)(ids, tasks, contrasts)
    grads = jax.tree.map(lambda a: jnp.mean(a, axis=0), estimates)
    weights = jnp.asarray(sample_weights(settings, stimulus), contrasts.dtype)
    sensory_spec = sensory(model)
    if any(jax.tree.leaves(sensory_spec)):
        pooled = weights / (2 * tasks.shape[0])
        _, marginal = fisher_gradient(model, latents, sensory_spec, pooled)
        grads = eqx.combine(grads, marginal)
    new, opt_state = learning.ascend(model, grads, opt_state, optimizer, sensory_rate)
    match = jnp.mean((latents.context == tasks[:, None, None]).astype(contrasts.dtype) @ weights, 1)
    info = StepInfo(
        objective=jnp.mean(reward, axis=1), context_match=match,
        correct=jnp.mean(reward, axis=1), category=categories, gradient=grads,
    )  # fmt: skip
    return new, opt_state, info
