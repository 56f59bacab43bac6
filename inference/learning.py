"""Learning the top-down feedback from task experience: stochastic EM via Fisher's identity.

The feedback parameters ``theta`` (coupling, the middle layer's category kernel, the task prior)
are fitted by ascending the log probability of what a training trial reveals: the image ``y``
and, after the choice, the correct category ``O`` (as the reward does). Fisher's identity gives
its gradient as a posterior expectation of the complete-data gradient,

    grad log p(y, O | theta) = E_{T, g, x, s | y, O} [ grad log p(T, O, g, x, y | theta) ],

and only three factors of the log joint depend on ``theta``:
``log p(T) + log p(g | T, O) + log p(x | g)`` (:meth:`HierarchicalModel.log_prior`). The image
likelihood and the contrast prior do not, so they drop out of the gradient.

The expectation is estimated from the sampler's own samples with the category clamped to the
revealed truth (:func:`posterior_samples`): the ordinary Gibbs sweep (:func:`gibbs.step`) run on
*clamped* conditionals, where the category's prior is a point mass on ``O``
(:func:`clamp_category`), with the evidence accumulator turned into the exact conditional
(``memory = 0``, ``odds_increment = 1``, see :data:`EXACT_MODE`). That sweep is a plain Gibbs
sampler of ``p(T, g, x, s | y, O)``: ``T`` is drawn from its exact conditional
``p(T | g, O)``, ``g``, ``x`` and ``s`` from theirs.

:func:`train_step` does one optax step on a minibatch: one clamped chain per trial (vmapped),
the gradient averaged over the post-burn-in samples of every trial and over the trials, then
the update and a projection that keeps ``delta``, ``kappa_o`` and the free-form coupling
matrix non-negative (:func:`project`; projected gradient ascent, so the naive start
``delta = 0`` lies on the boundary and is left as soon as the gradient points inward: at
``delta = 0`` it is ``E[sum_i (x_i - 1) (K g)_i]``, informative even though ``g`` and ``x`` are
then independent).

Which leaves learn is declared by each feedback Module (``learnable_fields``; ``kappa_g`` of the
parametric feedback, the projective fields and the pixel noise stay fixed), and which stay
non-negative (``non_negative_fields``, :meth:`AbstractFeedback.project`); :func:`learnable`
turns the first into an equinox filter.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus, category_of

from . import gibbs
from .loop import sample_chain
from .modes import InferenceMode, SamplerSettings

EXACT_MODE = InferenceMode(category_feedback=1.0, coupling_feedback=1.0, memory=0.0)
"""Full feedback and no memory: with ``odds_increment = 1`` the belief update of
:func:`gibbs.step` is the exact conditional ``p(T, O | g)``."""

_EXCLUDED = -1e9  # log prior of the category that the outcome ruled out (finite: 0 * it = 0)


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
    spec = jax.tree.map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names], spec, replace=[True] * len(names)
    )


def project(model: HierarchicalModel) -> HierarchicalModel:
    """Clip the feedback's non-negative leaves at 0 (:meth:`AbstractFeedback.project`)."""
    return eqx.tree_at(lambda m: m.feedback, model, model.feedback.project())


def expected_log_joint(model: HierarchicalModel, samples: Latents) -> Float[Array, ""]:
    """Mean of :meth:`HierarchicalModel.log_prior` over samples with any number of leading axes.

    With samples from ``p(T, g, x | y, O, theta_0)`` this is EM's ``Q(theta | theta_0)`` up to
    the ``theta``-free image terms; its gradient at ``theta_0`` is Fisher's identity.
    """
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[samples.task.ndim :]), samples)
    return jnp.mean(jax.vmap(model.log_prior)(flat))


def fisher_gradient(
    model: HierarchicalModel, samples: Latents, spec: PyTree[bool] | None = None
) -> tuple[Float[Array, ""], HierarchicalModel]:
    """Estimate ``grad_theta log p(y, O | theta)`` from posterior samples (Fisher's identity).

    ``samples``: latents drawn from ``p(T, g, x | y, O)`` under ``model`` (leading axes: trials,
    samples, ...), e.g. from :func:`posterior_samples`. Returns the mean complete-data log joint
    (:func:`expected_log_joint`) and its gradient as a model-shaped pytree, ``None`` at the
    leaves that ``spec`` (default :func:`learnable`) holds fixed.
    """
    spec = learnable(model) if spec is None else spec
    params, static = eqx.partition(model, spec)
    samples = jax.lax.stop_gradient(samples)

    def objective(params):
        return expected_log_joint(eqx.combine(params, static), samples)

    return eqx.filter_value_and_grad(objective)(params)


def clamp_category(cond: gibbs.Conditionals, category: Int[Array, ""]) -> gibbs.Conditionals:
    """Conditionals whose category prior is a point mass on ``category`` (the revealed truth).

    The excluded category gets a log prior of -1e9 (not -inf, so that ``0 * log_prior`` stays
    0 inside the accumulator); its probability is exactly 0 in float32 and float64.
    """
    keep = jnp.arange(cond.log_prior.shape[1]) == category
    return cond._replace(log_prior=jnp.where(keep[None, :], cond.log_prior, _EXCLUDED))


def exact_settings(settings: SamplerSettings) -> SamplerSettings:
    """``settings`` with the belief update made exact (``odds_increment = 1``, no presignal)."""
    return dataclasses.replace(settings, odds_increment=1.0, n_presignal=0)


def posterior_samples(
    key: PRNGKeyArray,
    cond: gibbs.Conditionals,
    projection: Float[Array, " neurons"],
    category: Int[Array, ""],
    settings: SamplerSettings,
) -> Latents:
    """Draws of ``(T, g, x, s)`` from ``p(. | y, O = category)`` for one image.

    One chain: ancestral start with ``O`` clamped, ``settings.n_samples`` clamped Gibbs sweeps
    on the image whose field projection is ``projection``; the first ``settings.burn_in`` are
    dropped. The x sampler and the contrast prior are taken from ``settings``. Returns
    :class:`Latents` with a leading axis of ``n_samples - burn_in``.

    >>> from bayescortex.models import reference_model
    >>> model = reference_model(8, 4, delta=0.1)
    >>> draws = posterior_samples(jax.random.key(0), gibbs.conditionals(model),
    ...     jnp.ones(8), jnp.asarray(1), SamplerSettings(n_samples=20, burn_in=5))
    >>> draws.neurons.shape, bool(jnp.all(draws.category == 1))
    ((15, 8), True)
    """
    settings = exact_settings(settings)
    cond = clamp_category(cond, category)
    k_init, k_run = jax.random.split(key)
    state = gibbs.init(k_init, cond, settings, EXACT_MODE)
    evidence = jnp.asarray(True)

    def sweep(key, state):
        return gibbs.step(key, state, cond, projection, evidence, settings, EXACT_MODE)

    def latents(state, info):
        return Latents(state.task, state.category, state.units, state.neurons, state.contrast)

    if settings.burn_in:
        state, _ = sample_chain(k_run, sweep, state, settings.burn_in, transform=lambda s, i: None)
    _, draws = sample_chain(
        k_run, sweep, state, settings.n_samples - settings.burn_in, start=settings.burn_in,
        transform=latents,
    )  # fmt: skip
    return draws


class StepInfo(NamedTuple):
    """Diagnostics of one training step (leading axis: trials of the minibatch)."""

    log_joint: Float[Array, " trials"]  # mean theta-dependent complete-data log joint per trial
    task_match: Float[Array, " trials"]  # fraction of samples whose task T is the shown task
    category: Int[Array, " trials"]  # the revealed category
    gradient: HierarchicalModel  # the Fisher-gradient estimate (None at fixed leaves)


@eqx.filter_jit
def path_increment(
    gradient: HierarchicalModel, after: HierarchicalModel, before: HierarchicalModel
) -> Float[Array, ""]:
    """``sum gradient . (after - before)`` over the learnable leaves.

    Summed along a learning trajectory, with ``gradient`` estimated at ``after`` from trials
    independent of the step ``before -> after``, this path-integrates the change of the
    expected log marginal likelihood ``E log p(y, O | theta)`` (a right Riemann sum, so the
    gradient noise does not correlate with the step it is multiplied by).
    """
    spec = learnable(after)
    terms = jax.tree.map(
        lambda g, a, b: jnp.sum(g * (a - b)),
        eqx.filter(gradient, spec),
        eqx.filter(after, spec),
        eqx.filter(before, spec),
    )
    return sum(jax.tree.leaves(terms), jnp.zeros(()))


def revealed_category(key: PRNGKeyArray, contrast: Float[Array, ""]) -> Int[Array, ""]:
    """The category the outcome reveals: 0 for ``c > 0``, 1 for ``c < 0``, a coin flip at 0
    (zero-signal trials are rewarded at random)."""
    coin = jax.random.bernoulli(key).astype(jnp.int32)
    return jnp.where(contrast == 0, coin, category_of(contrast))


def fisher_step(
    key: PRNGKeyArray,
    model: HierarchicalModel,
    opt_state: optax.OptState,
    optimizer: optax.GradientTransformation,
    stimulus: Stimulus,
    tasks: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    settings: SamplerSettings,
) -> tuple[HierarchicalModel, optax.OptState, StepInfo]:
    """One stochastic-EM step on a minibatch of training trials.

    Trial ``n`` uses ``fold_in(key, n)``: a single static image (signal plus white noise) of
    ``contrasts[n]`` in ``tasks[n]``, the revealed category (:func:`revealed_category`), one
    clamped chain (:func:`posterior_samples`, sweeps and burn-in from ``settings``). The
    gradient of the mean log joint over all trials and samples is ascended with ``optimizer``
    (an optax transformation whose state ``opt_state = optimizer.init(eqx.filter(model,
    learnable(model)))``), then :func:`project` is applied. Compiled once per shape, optimiser
    and settings: new parameters, keys and contrasts reuse the compilation.

    >>> from bayescortex.models import reference_model, Stimulus
    >>> model, opt = reference_model(8, 4, delta=0.0, kappa_o=0.0), optax.adam(0.01)
    >>> state = opt.init(eqx.filter(model, learnable(model)))
    >>> model, state, info = train_step(jax.random.key(0), model, state, opt, Stimulus(),
    ...     jnp.zeros(4, int), jnp.array([6.0, -6.0, 3.0, -3.0]),
    ...     SamplerSettings(n_samples=10, burn_in=2))
    >>> bool(model.feedback.delta > 0)
    True
    """
    cond = jax.lax.stop_gradient(gibbs.conditionals(model))

    def trial(n, task, contrast):
        k_image, k_category, k_chain = jax.random.split(jax.random.fold_in(key, n), 3)
        image = stimulus.frames(k_image, task, contrast, 1)[0]
        category = revealed_category(k_category, contrast)
        draws = posterior_samples(k_chain, cond, model.project(image), category, settings)
        return draws, category

    draws, categories = jax.vmap(trial)(jnp.arange(tasks.shape[0]), tasks, contrasts)
    per_trial = jax.vmap(lambda d: expected_log_joint(model, d))(draws)
    spec = learnable(model)
    _, grads = fisher_gradient(model, draws, spec)
    ascent = jax.tree.map(jnp.negative, grads)  # optax minimises; we ascend the likelihood
    updates, opt_state = optimizer.update(ascent, opt_state, eqx.filter(model, spec))
    model = project(eqx.apply_updates(model, updates))
    info = StepInfo(
        log_joint=per_trial,
        task_match=jnp.mean((draws.task == tasks[:, None]).astype(contrasts.dtype), axis=1),
        category=categories,
        gradient=grads,
    )
    return model, opt_state, info


train_step = eqx.filter_jit(fisher_step)
