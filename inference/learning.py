"""Learning the top-down feedback from task experience: the conditional and joint objectives
by Fisher's identity, the reward objective (the experiments' default) by SPSA.

What a training trial reveals is the image sequence ``y`` and, after the choice, the correct
category ``O*`` (as the reward does). Four objectives are implemented; the experiments
(``bayescortex run redundancy``, ``bayescortex train``) default to ``"reward"``, while
:func:`fisher_step`'s own ``objective`` argument defaults to ``"conditional"``:

- ``"conditional"`` (the experiments' default before 2026-12-06, ``--objective conditional``):
  the conditional likelihood ``log p(O* | y, theta)`` of the revealed category. By Fisher's
  identity its gradient is

      E_{h ~ p(h | y, O*)}[grad l(h)] - E_{(h, O) ~ p(h, O | y)}[grad l(h, O)],

  ``l`` the complete-data log joint: the *clamped* chain (category fixed at ``O*``) minus the
  *free* chain on the same images, run with common random numbers over a behaving trial (its
  pre-signal period, time course and noise frames). It vanishes as ``p(O* | y) -> 1``. The
  identity holds for samples of the posterior: with exact Gibbs chains (:data:`EXACT_MODE`,
  ``odds_increment = 1``; the experiments' default ``learning_inference``) the estimate is the
  gradient (tested against enumeration); with the decision's tempered accumulator
  (:data:`BEHAVING_MODE`, the default of :func:`fisher_step`: one inference for learning and
  behaviour) it is not, and measured its sign can be wrong (after a task switch it keeps
  pushing the old task's context). Neither stops the readout's accuracy from falling once the
  kernels grow strong, and the chains are not why (a probe at 64 neurons: the learning
  chains flip the category on 14-44% of sweeps, chains started at either category agree, and
  the estimate agrees with a Rao-Blackwellised one within its SE). The objective itself has
  no finite optimum in ``kappa_o``: each sample's posterior is capacity-capped (about one active
  middle-layer unit whatever ``kappa_o``), so the model stays underconfident (mean
  ``p(O* | y)`` 0.57-0.73 while its readout is 90-95% correct) and only a larger kernel
  reduces that, like logistic regression with capped log-odds. Meanwhile the behaving
  decision pays for the kernel: its accumulator sums middle-layer samples drawn under the
  category it sampled itself, a confirmation bias (Lange, Chattoraj, Beck, Yates & Haefner,
  PLoS Comput Biol 17:e1009517, 2021) that makes accuracy fall as ``kappa_o`` grows. The
  *sensory* leaves (``sensory_fields`` of the feedback: the coupling ``delta`` or the
  free-form coupling matrix, the adult sensory model) do not learn from the outcome: they
  follow the marginal likelihood of the images ``E_free[grad l]`` at a relative rate
  ``sensory_rate`` (0: fixed).
- ``"joint"``: the joint likelihood ``log p(y, O* | theta)`` (stochastic EM), whose gradient is the
  clamped expectation alone, estimated from exact clamped chains on one static image
  (``memory = 0``, ``odds_increment = 1``, :data:`EXACT_MODE`). Its optimum keeps raising the
  coupling past the point where the readout works (it explains the image, not the category);
  it is kept to reproduce the first version's results.
- ``"reward"`` (the experiments' default): the expected reward of the behaving decision (its
  accuracy on the training distribution), whose optimum is where that accuracy peaks, as the
  animal is trained. It is estimated by SPSA with
  common random numbers; :mod:`bayescortex.inference.reward` implements it and explains the
  estimator and why it was chosen over the score function of the sampler's draws.
- ``"trial"``: the trial-level likelihood ``log p(O* | y_1..F)``, one ``(K, O)`` per trial and
  every signal frame's evidence combined (:mod:`bayescortex.inference.trial_likelihood`).

Only three factors of the log joint depend on ``theta``: ``log p(K | q) + log p(g | K, O) +
log p(x | g)`` (:meth:`HierarchicalModel.log_prior`); the image likelihood and the contrast
prior drop out of every gradient.

:func:`fisher_step` does one optax step on a minibatch: per trial (vmapped) the chains of
:mod:`bayescortex.inference.chains`, the gradient averaged over their kept samples and the
trials, then the update and :func:`project`, which keeps ``delta``, ``kappa_o`` and the
free-form coupling non-negative (projected ascent: a start on the boundary such as
``kappa_o = 0`` is left as soon as the gradient points inward).

Which leaves learn is declared by each feedback Module (``learnable_fields``; ``kappa_g`` of the
parametric feedback, the projective fields and the pixel noise stay fixed), which stay
non-negative (``non_negative_fields``), and which are sensory (``sensory_fields``);
:func:`learnable` turns the first into an equinox filter.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus, category_of

from . import chains, gibbs
from .modes import InferenceMode, SamplerSettings, inference_mode
from .trial import trial_schedule

OBJECTIVES = ("conditional", "joint", "reward", "trial")

_NAMED_MODES = {
    # Full feedback and no memory: with ``odds_increment = 1`` the belief update of
    # :func:`gibbs.step` is the exact conditional ``p(K, O | g)``.
    "EXACT_MODE": "no_accumulation",
    # The inference of a task trial: full feedback, accumulated evidence.
    "BEHAVING_MODE": "engaged",
}


def __getattr__(name: str):
    """``EXACT_MODE`` and ``BEHAVING_MODE``, built when first read (PEP 562): an
    :class:`InferenceMode` holds arrays, and importing this module starts no jax backend, so
    :func:`bayescortex.experiments.placement.split_cpu` may still choose the CPU devices."""
    if name in _NAMED_MODES:
        return inference_mode(_NAMED_MODES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def learnable(model: HierarchicalModel) -> PyTree[bool]:
    """Filter spec of ``model``: True at the learnable feedback leaves, False elsewhere.

    >>> from bayescortex.models import reference_model
    >>> params, static = eqx.partition(model := reference_model(8, 4), learnable(model))
    >>> params.feedback.kappa_g is None, params.feedback.delta is not None
    (True, True)
    """
    names = model.feedback.learnable_fields
    if not names:
        raise ValueError(
            f"feedback: {type(model.feedback).__name__} declares no learnable_fields, so "
            "learning has nothing to fit"
        )
    return _spec_of(model, names)


def project(model: HierarchicalModel) -> HierarchicalModel:
    """Clip the feedback's non-negative leaves at 0 (:meth:`AbstractFeedback.project`)."""
    return eqx.tree_at(lambda m: m.feedback, model, model.feedback.project())


def _spec_of(model: HierarchicalModel, names) -> PyTree[bool]:
    spec = jax.tree.map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names], spec, replace=[True] * len(names)
    )


def sensory(model: HierarchicalModel) -> PyTree[bool]:
    """Filter spec of the feedback's sensory leaves (``sensory_fields``)."""
    return _spec_of(model, model.feedback.sensory_fields)


def expected_log_joint(
    model: HierarchicalModel, samples: Latents, weights=None, cue=0
) -> Float[Array, ""]:
    """Mean of :meth:`HierarchicalModel.log_prior` over samples with any number of leading axes
    (weighted by ``weights`` of the samples' leading shape, which sum to 1, if given).

    With samples from ``p(K, g, x | y, O, theta_0)`` this is EM's ``Q(theta | theta_0)`` up to
    the ``theta``-free image terms; its gradient at ``theta_0`` is Fisher's identity.
    """
    lead = samples.context.shape
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[len(lead) :]), samples)
    values = jax.vmap(lambda s: model.log_prior(s, cue))(flat)
    if weights is None:
        return jnp.mean(values)
    return jnp.sum(jnp.broadcast_to(weights, lead).reshape(-1) * values)


def fisher_gradient(
    model: HierarchicalModel,
    samples: Latents,
    spec: PyTree[bool] | None = None,
    weights=None,
    cue=0,
) -> tuple[Float[Array, ""], HierarchicalModel]:
    """Estimate ``grad_theta log p(y, O | theta)`` from posterior samples (Fisher's identity).

    ``samples``: latents drawn from ``p(K, g, x | y, O)`` under ``model`` (leading axes: trials,
    samples, ...), e.g. from :func:`~bayescortex.inference.chains.posterior_samples`. Returns
    the mean complete-data log joint (:func:`expected_log_joint`) and its gradient as a
    model-shaped pytree, ``None`` at the leaves that ``spec`` (default :func:`learnable`) holds
    fixed.
    """
    spec = learnable(model) if spec is None else spec
    params, static = eqx.partition(model, spec)
    samples = jax.lax.stop_gradient(samples)

    def objective(params):
        return expected_log_joint(eqx.combine(params, static), samples, weights, cue)

    return eqx.filter_value_and_grad(objective)(params)


def conditional_gradient(
    model: HierarchicalModel, clamped: Latents, free: Latents, spec=None, weights=None, cue=0
) -> HierarchicalModel:
    """Estimate ``grad_theta log p(O* | y, theta)``: the Fisher gradient of the clamped samples
    (from ``p(h | y, O*)``) minus that of the free samples (from ``p(h, O | y)``) of the same
    images. Model-shaped, ``None`` at the leaves ``spec`` (default :func:`learnable`) holds
    fixed."""
    spec = learnable(model) if spec is None else spec
    _, g_clamped = fisher_gradient(model, clamped, spec, weights, cue)
    _, g_free = fisher_gradient(model, free, spec, weights, cue)
    return jax.tree.map(jnp.subtract, g_clamped, g_free)


class StepInfo(NamedTuple):
    """Diagnostics of one training step (leading axis: trials of the minibatch)."""

    objective: Float[Array, " trials"]
    """``"conditional"``: ``log p(O* | y)`` under the learning chain's inference after the last
    sweep; ``"joint"``: the mean theta-dependent complete-data log joint of the clamped samples;
    ``"reward"``: the reward, mean over the trial's two perturbed chains."""
    context_match: Float[Array, " trials"]  # fraction of kept samples whose K is the shown task
    correct: Float[Array, " trials"]  # free (reward: both) chains' choice correct; joint NaN
    category: Int[Array, " trials"]  # the revealed category
    gradient: HierarchicalModel  # the ascent direction (None at fixed leaves)


@eqx.filter_jit
def path_increment(
    gradient: HierarchicalModel, after: HierarchicalModel, before: HierarchicalModel
) -> Float[Array, ""]:
    """``sum gradient . (after - before)`` over the learnable leaves.

    Summed along a learning trajectory, with ``gradient`` estimated at ``after`` from trials
    independent of the step ``before -> after``, this path-integrates the change of the
    expected objective (``E log p(O* | y)`` for the task leaves and ``E log p(y)`` for the
    sensory ones under ``"conditional"``; ``E log p(y, O* | theta)`` under ``"joint"``), as far
    as the gradient estimate is unbiased (a right Riemann sum, so the gradient noise does not
    correlate with the step it is multiplied by).
    """
    spec = learnable(after)
    terms = jax.tree.map(
        lambda g, a, b: jnp.sum(g * (a - b)),
        eqx.filter(gradient, spec),
        eqx.filter(after, spec),
        eqx.filter(before, spec),
    )
    return sum(jax.tree.leaves(terms), jnp.zeros(()))


def _scale_sensory(model: HierarchicalModel, updates, rate):
    names = [n for n in model.feedback.sensory_fields if n in model.feedback.learnable_fields]
    if not names:
        return updates
    return eqx.tree_at(
        lambda u: [getattr(u.feedback, n) for n in names], updates,
        replace_fn=lambda a: a * rate,
    )  # fmt: skip


def with_sensory(model: HierarchicalModel, grads, marginal):
    """``grads`` with the feedback's sensory leaves taken from ``marginal`` (the images'
    marginal likelihood, which the sensory leaves ascend under every Fisher objective)."""
    names = model.feedback.sensory_fields
    return eqx.tree_at(
        lambda g: [getattr(g.feedback, n) for n in names], grads,
        [getattr(marginal.feedback, n) for n in names],
    )  # fmt: skip


def ascend(model: HierarchicalModel, grads, opt_state, optimizer, sensory_rate):
    """One optax ascent step along ``grads`` (model-shaped), the sensory leaves' updates scaled
    by ``sensory_rate``, then :func:`project`; returns ``(model, opt_state)``."""
    ascent = jax.tree.map(jnp.negative, grads)  # optax minimises; we ascend the objective
    updates, opt_state = optimizer.update(ascent, opt_state, eqx.filter(model, learnable(model)))
    updates = _scale_sensory(model, updates, sensory_rate)
    return project(eqx.apply_updates(model, updates)), opt_state


def fisher_step(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    opt_state: optax.OptState,
    optimizer: optax.GradientTransformation,
    stimulus: Stimulus,
    tasks: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    settings: SamplerSettings,
    objective: str = "conditional",  # one of OBJECTIVES (checked below)
    sensory_rate=0.0,
    mode: InferenceMode | None = None,
    perturbation=0.2,
    chain: SamplerSettings | None = None,
) -> tuple[HierarchicalModel, optax.OptState, StepInfo]:
    """One learning step on a minibatch of training trials (task cue).

    Trial ``n`` uses ``fold_in(key, n)`` and reveals its category
    (:func:`~bayescortex.inference.chains.revealed_category`).

    - ``"conditional"``: the trial is a behaving trial (``settings``' pre-signal period, signal
      sweeps, burn-in and odds; ``stimulus``' frames); a clamped and a free chain run on it
      with the same key (:func:`~bayescortex.inference.chains.chain_latents`, inference
      ``mode``: None, the default, is the behaving inference; :data:`EXACT_MODE` with
      ``odds_increment = 1`` samples the exact posterior given the current frame), and the
      task leaves ascend :func:`conditional_gradient`, the sensory leaves the marginal
      likelihood of the images.
    - ``"joint"``: one static image and one exact clamped chain
      (:func:`~bayescortex.inference.chains.posterior_samples`, ``settings.n_samples`` sweeps
      after ``burn_in``, with ``mode``'s apical gain); every leaf ascends the joint
      likelihood.
    - ``"reward"``: :func:`~bayescortex.inference.reward.reward_step` (behaving trials as
      under ``"conditional"``; ``mode`` None is the behaving inference): the outcome leaves
      ascend the SPSA estimate of the behaving decision's expected reward, perturbation size
      ``perturbation`` (a traced hyperparameter), the sensory leaves the marginal likelihood
      of the images.
    - ``"trial"``: :func:`~bayescortex.inference.trial_likelihood.trial_step` (the behaving
      trial's signal frames, one ``(K, O)`` per trial, exact chains of ``chain``'s sweeps and
      burn-in, with ``mode``'s apical gain): every leaf as under ``"conditional"``, with the
      trial-level likelihood ``log p(O* | y_1..F)``.

    The step is taken with ``optimizer`` (an optax transformation whose state is
    ``optimizer.init(eqx.filter(model, learnable(model)))``); the sensory leaves' updates are
    scaled by ``sensory_rate`` (0 holds them fixed); then :func:`project` is applied. Compiled
    once per shape, optimiser, settings and objective: new parameters, keys, contrasts and
    rates reuse the compilation.

    >>> from bayescortex.models import reference_model, Stimulus
    >>> model, opt = reference_model(8, 4, delta=0.0, kappa_o=1.0), optax.adam(0.01)
    >>> state = opt.init(eqx.filter(model, learnable(model)))
    >>> model, state, info = train_step(jax.random.key(0), model, state, opt, Stimulus(),
    ...     jnp.zeros(4, int), jnp.array([6.0, -6.0, 3.0, -3.0]),
    ...     SamplerSettings(n_samples=10, burn_in=2), "joint", 1.0)
    >>> bool(model.feedback.delta > 0)
    True
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: one of {OBJECTIVES}, got {objective!r}")
    if objective == "reward":
        from .reward import reward_step  # reward.py builds on this module

        return reward_step(
            key, model, opt_state, optimizer, stimulus, tasks, contrasts, settings,
            sensory_rate, mode, perturbation,
        )  # fmt: skip
    if objective == "trial":
        from .trial_likelihood import trial_step  # trial_likelihood.py builds on this module

        return trial_step(
            key, model, opt_state, optimizer, stimulus, tasks, contrasts, settings,
            sensory_rate, mode, chain,
        )  # fmt: skip
    cond = jax.lax.stop_gradient(gibbs.conditionals(model, 0))
    spec = learnable(model)
    mode = inference_mode(_NAMED_MODES["BEHAVING_MODE"]) if mode is None else mode
    ids = jnp.arange(tasks.shape[0])

    if objective == "joint":

        def trial(n, task, contrast):
            k_image, k_category, k_chain = jax.random.split(jax.random.fold_in(key, n), 3)
            image = stimulus.frames(k_image, task, contrast, 1)[0]
            category = chains.revealed_category(k_category, contrast)
            draws = chains.posterior_samples(
                k_chain, cond, model.project(image), category, settings, mode.apical_gain
            )
            return draws, category

        draws, categories = jax.vmap(trial)(ids, tasks, contrasts)
        value = jax.vmap(lambda d: expected_log_joint(model, d))(draws)
        _, grads = fisher_gradient(model, draws, spec)
        match = jnp.mean((draws.context == tasks[:, None]).astype(contrasts.dtype), axis=1)
        correct = jnp.full(tasks.shape, jnp.nan, contrasts.dtype)
    else:
        sched = trial_schedule(settings, stimulus)
        weights = jnp.asarray(chains.sample_weights(settings, stimulus), contrasts.dtype)

        def trial(n, task, contrast):
            category, k_chain, projections = chains.training_trial(
                jax.random.fold_in(key, n), model, stimulus, task, contrast, settings
            )
            # The clamped and the free chain as one vmapped pair (common random numbers).
            pair = jax.tree.map(
                lambda a, b: jnp.stack([a, b]), chains.clamp_category(cond, category), cond
            )
            latents, belief = jax.vmap(
                lambda c: chains.chain_latents(
                    k_chain,
                    c,
                    projections,
                    sched.evidence,
                    settings,
                    mode,
                    memoryless=sched.memoryless,
                    initial=sched.initial_is_sample,
                )  # fmt: skip
            )(pair)
            clamped, free = (jax.tree.map(lambda a, i=i: a[i], latents) for i in (0, 1))
            return clamped, free, belief[1, -1], category

        clamped, free, belief, categories = jax.vmap(trial)(ids, tasks, contrasts)
        per_trial = weights / tasks.shape[0]
        grads = conditional_gradient(model, clamped, free, spec, per_trial)
        sensory_spec = sensory(model)
        if any(jax.tree.leaves(sensory_spec)):
            _, marginal = fisher_gradient(model, free, sensory_spec, per_trial)
            grads = with_sensory(model, grads, marginal)
        p_category = jax.nn.logsumexp(belief, axis=1)  # (trials, categories): log p(O | y)
        value = jnp.take_along_axis(p_category, categories[:, None], axis=1)[:, 0]
        choice = (p_category[:, 0] <= jnp.log(0.5)).astype(jnp.int32)
        correct = (choice == category_of(contrasts)).astype(contrasts.dtype)
        match = (free.context == tasks[:, None]).astype(contrasts.dtype) @ weights

    model, opt_state = ascend(model, grads, opt_state, optimizer, sensory_rate)
    info = StepInfo(
        objective=value, context_match=match, correct=correct, category=categories,
        gradient=grads,
    )  # fmt: skip
    return model, opt_state, info


train_step = eqx.filter_jit(fisher_step)
