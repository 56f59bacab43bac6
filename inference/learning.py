"""Learning the top-down feedback from task experience: stochastic EM via Fisher's identity.

The feedback parameters ``theta`` (coupling, the middle layer's category kernel, the task prior)
are fitted by ascending the log probability of what a training trial reveals: the image ``y``
and, after the choice, the correct category ``O`` (as the reward does). Fisher's identity gives
its gradient as a posterior expectation of the complete-data gradient,

    grad log p(y, O | theta) = E_{T, g, x, s | y, O} [ grad log p(T, O, g, x, y | theta) ],

and only three factors of the log joint depend on ``theta``:
``log p(T) + log p(g | T, O) + log p(x | g)`` (:func:`feedback_log_joint`). The image likelihood
and the contrast prior do not, so they drop out of the gradient.

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

Which leaves learn is :data:`LEARNABLE` (``kappa_g`` of the parametric feedback, the projective
fields and the pixel noise stay fixed); :func:`learnable` turns it into an equinox filter.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from bayescortex.models.feedback import AbstractFeedback, FreeFormFeedback, ParametricFeedback
from bayescortex.models.hierarchical import HierarchicalModel, Latents
from bayescortex.models.stimuli import Stimulus

from . import gibbs
from .modes import InferenceMode, SamplerSettings

LEARNABLE: dict[type, tuple[str, ...]] = {
    ParametricFeedback: ("delta", "kappa_o", "task_logits"),
    FreeFormFeedback: ("coupling_matrix", "unit_logits", "task_logits"),
}
"""Learnable leaves of each feedback parametrisation (everything else is held fixed)."""

NON_NEGATIVE: dict[type, tuple[str, ...]] = {
    ParametricFeedback: ("delta", "kappa_o"),
    FreeFormFeedback: ("coupling_matrix",),
}
"""Leaves projected onto ``>= 0`` after every optimiser step."""

EXACT_MODE = InferenceMode(category_feedback=1.0, coupling_feedback=1.0, memory=0.0)
"""Full feedback and no memory: with ``odds_increment = 1`` the belief update of
:func:`gibbs.step` is the exact conditional ``p(T, O | g)``."""

_EXCLUDED = -1e9  # log prior of the category that the outcome ruled out (finite: 0 * it = 0)


def _names(table: dict[type, tuple[str, ...]], feedback: AbstractFeedback) -> tuple[str, ...]:
    try:
        return table[type(feedback)]
    except KeyError:
        raise ValueError(
            f"feedback: no learning rule for {type(feedback).__name__}; "
            f"expected one of {[t.__name__ for t in table]}"
        ) from None


def learnable(model: HierarchicalModel) -> PyTree[bool]:
    """Filter spec of ``model``: True at the learnable feedback leaves, False elsewhere.

    >>> from bayescortex.models import reference_model
    >>> params, static = eqx.partition(model := reference_model(8, 4), learnable(model))
    >>> params.feedback.kappa_g is None, params.feedback.delta is not None
    (True, True)
    """
    names = _names(LEARNABLE, model.feedback)
    spec = jax.tree.map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names], spec, replace=[True] * len(names)
    )


def project(model: HierarchicalModel) -> HierarchicalModel:
    """Clip the leaves that must stay non-negative (:data:`NON_NEGATIVE`) at 0."""
    names = _names(NON_NEGATIVE, model.feedback)
    return eqx.tree_at(
        lambda m: [getattr(m.feedback, n) for n in names],
        model,
        replace_fn=lambda a: jnp.maximum(a, 0.0),
    )


def feedback_log_joint(
    feedback: AbstractFeedback,
    task: Int[Array, ""],
    category: Int[Array, ""],
    units: Float[Array, " units"],
    neurons: Float[Array, " neurons"],
) -> Float[Array, ""]:
    """The ``theta``-dependent part of the complete-data log joint of one sample:
    ``log p(T) + log p(O) + log p(g | T, O) + log p(x | g)``.

    Unit probabilities are clipped to ``[1e-6, 1 - 1e-6]`` exactly as the sampler clips them,
    so this is the log joint of the model the sampler draws from (and its gradient stays finite
    where the reference's ``min(1, .)`` saturates). ``neurons`` must be ``>= 0``.
    """
    p = jnp.clip(feedback.unit_probabilities(), gibbs._PROB_CLIP, 1 - gibbs._PROB_CLIP)
    p = p[task, category]
    log_units = jnp.sum(units * jnp.log(p) + (1 - units) * jnp.log1p(-p))
    tau = 1.0 + feedback.coupling() @ units
    log_neurons = jnp.sum(-jnp.log(tau) - neurons / tau)
    return feedback.task_log_prior()[task] + jnp.log(0.5) + log_units + log_neurons


def expected_log_joint(model: HierarchicalModel, samples: Latents) -> Float[Array, ""]:
    """Mean of :func:`feedback_log_joint` over samples with any number of leading axes.

    With samples from ``p(T, g, x | y, O, theta_0)`` this is EM's ``Q(theta | theta_0)`` up to
    the ``theta``-free image terms; its gradient at ``theta_0`` is Fisher's identity.
    """
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[samples.task.ndim :]), samples)
    values = jax.vmap(lambda t, o, g, x: feedback_log_joint(model.feedback, t, o, g, x))(
        flat.task, flat.category, flat.units, flat.neurons
    )
    return jnp.mean(values)


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

    def sweep(state, t):
        state, _ = gibbs.step(
            jax.random.fold_in(k_run, t), state, cond, projection, evidence, settings, EXACT_MODE
        )
        latents = Latents(state.task, state.category, state.units, state.neurons, state.contrast)
        return state, latents

    def burn(state, t):
        return sweep(state, t)[0], None

    state, _ = jax.lax.scan(burn, state, jnp.arange(settings.burn_in))
    _, draws = jax.lax.scan(sweep, state, jnp.arange(settings.burn_in, settings.n_samples))
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
    return jnp.where(contrast > 0, 0, jnp.where(contrast < 0, 1, coin))


@eqx.filter_jit
def train_step(
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
