"""Train the classic baselines session by session and record their hidden units (pure functions).

The network (:class:`bayescortex.models.discriminative.SharedNoiseNetwork`) sees the same
images and labels as the sampling model: white-noise images with the task's gratings at the
task's non-zero signed contrasts. It travels as ``(graphdef, params)`` (``nnx.split``), so every
function here is pure and vmaps over seeds and baselines.

Loss
    For a batch of noisy responses ``R`` (trials x hidden) with categories ``O``::

        loss = BCE(readout(R), O) + lambda_E * mean|R| + lambda_TC * TC(R | O)

    ``BCE`` is the sigmoid cross-entropy of the first-category logit; ``mean|R|`` the energy
    (L1) cost of the responses; ``TC(R | O)`` the Gaussian total correlation of the
    within-category covariance of the batch (responses centred on their category's mean,
    scatter pooled over the two categories, divisor ``trials - 2``) plus a ridge of
    ``RIDGE`` times its mean diagonal on the diagonal, which keeps ``log det`` finite when
    the batch has fewer trials than units or units are silent (the ridge is part of the
    penalty, gradient included). On a finite batch the estimate is biased upwards: for
    independent units it is about ``hidden^2 / (4 trials)`` nats, not 0 (0.5 nats at 16
    units, 8 at 64 with 128 trials), an offset that depends on the sizes, not on the
    parameters, so it shifts the loss but hardly its gradient. ``lambda_TC = 0`` is the
    discriminative baseline, ``lambda_TC > 0`` the efficient-coding (Barlow
    redundancy-reduction) baseline. The weights and the learning rate are arrays
    (:class:`Penalties`), so the two baselines are one vmapped program and new values never
    recompile.

Early stopping to a target accuracy
    A session is up to ``steps`` Adam steps (one ``lax.while_loop``). The statistic is the
    *expected* accuracy of the noisy readout on a step's batch: given the image, the logit is
    Gaussian (private and ``L eta`` noise), so the probability that it names the right
    category is exact, and its batch mean varies only with the images (no choice noise); the
    batch is new to the network, measured before the step's update, so fitting does not
    inflate it. The running estimate of the current network's accuracy averages these over
    steps (exponential moving average, decay ``ACCURACY_DECAY``, bias-corrected like Adam's
    moments), with the old estimate first moved by the last update's gain, measured as the
    difference between the new and the previous parameters on the new batch (paired, out of
    sample): an average without this drift lags a fast-rising accuracy by several steps, and
    the baselines learn the task in a handful of steps. A step is applied while the
    estimate is below the session's target; the step that would cross it is applied only if
    its predicted accuracy (the estimate plus its gain on its own batch) overshoots the
    target by less than stopping short would miss it. Then the session is done: no further
    update of the parameters or the optimiser state (``jnp.where`` on the traced flags; the
    loop ends once every vmapped member is done). The estimate and the Adam state carry over
    from session to session (the network does not change in between). A NaN target, or one
    above 1, never stops; a target at or below the current estimate takes no step. The
    precision of the match is bounded by how far one step moves the accuracy: with Adam at
    ``3e-3`` the first steps move it by 0.1 to 0.3, at ``3e-4`` by about 0.02.

Recording with fresh and frozen noise
    A recorded block has the layout of :func:`~bayescortex.experiments.protocol.trial_table`.
    Fresh noise: trial ``n`` shows its own noise image, ``fold_in(fold_in(key, 0), n)``.
    Frozen noise: every trial of a level shows the same image,
    ``fold_in(fold_in(key, 1), level)`` (all zero-signal trials one image; one image per signed
    contrast). The network's own noise (private and ``L eta``) is fresh on every trial in both.
    The covariance of frozen zero-signal trials therefore holds only the variability generated
    inside the network, ``diag(rates) + L L^T``. The flag may be traced: one program records
    both.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from bayescortex.analysis.correlations import total_correlation
from bayescortex.analysis.moments import HIGHEST
from bayescortex.models.discriminative import SharedNoiseNetwork
from bayescortex.models.stimuli import Stimulus, category_of

N_SHARED = 4
"""Latent dimensions ``k`` of the baselines' internal shared noise ``L eta``."""

RIDGE = 1e-3
"""Ridge of the total-correlation penalty, as a fraction of the covariance's mean diagonal."""

ACCURACY_DECAY = 0.8
"""Decay of the running accuracy estimate per step (about 5 batches' memory): short enough to
lag the rising accuracy by a few steps only, long enough to average out single batches."""

BATCH_SIZE = 128
"""Training images per Adam step."""


class Penalties(NamedTuple):
    """Traced loss weights and step size of one baseline (scalars or a vmapped axis)."""

    tc: Float[Array, ""]  # lambda_TC, weight of TC(R | O)
    energy: Float[Array, ""]  # lambda_E, weight of mean |R|
    learning_rate: Float[Array, ""]  # Adam step size


class LossTerms(NamedTuple):
    """The loss of one batch and its parts (unweighted penalties)."""

    total: Float[Array, ""]
    cross_entropy: Float[Array, ""]
    energy: Float[Array, ""]  # mean |R|
    tc: Float[Array, ""]  # TC(R | O), nats


class TrainState(NamedTuple):
    """What a baseline carries from step to step and session to session."""

    params: nnx.State
    previous: nnx.State  # the parameters one step earlier (as params if no update applied)
    opt_state: optax.OptState
    accuracy: Float[Array, ""]  # running estimate of the expected accuracy
    accuracy_weight: Float[Array, ""]  # its EMA weight (bias correction; 0: no estimate yet)


class SessionLog(NamedTuple):
    """Per step of a session: the loss of the steps applied (NaN otherwise), whether the
    update was applied, the running accuracy estimate (NaN after the session stopped)."""

    loss: Float[Array, " steps"]
    applied: Bool[Array, " steps"]
    accuracy: Float[Array, " steps"]


def initial_network(n_pixels: int, n_hidden: int, seed: int, n_shared: int = N_SHARED):
    """``(graphdef, params)`` of a freshly initialised network (``nnx.Rngs(seed)``)."""
    net = SharedNoiseNetwork(n_pixels, n_hidden, n_shared=n_shared, rngs=nnx.Rngs(seed))
    return nnx.split(net)


def within_category_covariance(
    responses: Float[Array, "trials hidden"], first: Float[Array, " trials"], ridge: float = RIDGE
) -> Float[Array, "hidden hidden"]:
    """Covariance of ``responses`` around their category's mean, pooled over the categories
    (``first``: 1 for the first category, 0 for the second; divisor trials minus the number
    of categories present), plus ``ridge`` times its mean diagonal on the diagonal."""
    f = first.astype(responses.dtype)[:, None]
    n1, n0 = jnp.sum(f), jnp.sum(1.0 - f)
    m1 = jnp.sum(f * responses, axis=0) / jnp.maximum(n1, 1.0)
    m0 = jnp.sum((1.0 - f) * responses, axis=0) / jnp.maximum(n0, 1.0)
    centred = responses - (f * m1[None, :] + (1.0 - f) * m0[None, :])
    dof = responses.shape[0] - (n1 > 0).astype(responses.dtype) - (n0 > 0)
    cov = jnp.matmul(centred.T, centred, precision=HIGHEST) / dof
    return cov + ridge * jnp.mean(jnp.diagonal(cov)) * jnp.eye(cov.shape[0], dtype=cov.dtype)


def loss_terms(
    net: SharedNoiseNetwork,
    key: PRNGKeyArray,
    images: Float[Array, "batch pixels"],
    first: Float[Array, " batch"],
    penalties: Penalties,
) -> LossTerms:
    """The loss of one batch (``first``: 1 where the first category is shown). The responses
    are ``net.responses(key, images)``."""
    responses = net.responses(key, images)
    ce = optax.sigmoid_binary_cross_entropy(net.logits(responses), first).mean()
    energy = jnp.mean(jnp.abs(responses))
    tc = total_correlation(within_category_covariance(responses, first))
    total = ce + penalties.energy * energy + penalties.tc * tc
    return LossTerms(total, ce, energy, tc)


def training_batch(key: PRNGKeyArray, stimulus: Stimulus, task, signal, batch_size: int):
    """Images of ``batch_size`` random draws of the signed contrasts ``signal`` and whether
    each shows the first category."""
    k_c, k_img = jax.random.split(key)
    c = jax.random.choice(k_c, signal, (batch_size,))
    keys = jax.random.split(k_img, batch_size)
    images = jax.vmap(lambda k, cc: stimulus.frames(k, task, cc, 1)[0])(keys, c)
    return images, (category_of(c) == 0).astype(images.dtype)


_adam = optax.scale_by_adam()  # the step size is applied by hand: a traced array


def init_train_state(params: nnx.State) -> TrainState:
    """A fresh optimiser state and an empty accuracy estimate."""
    zero = jnp.zeros((), jnp.float32)
    return TrainState(params, params, _adam.init(params), zero, zero)


def train_session(
    key: PRNGKeyArray,
    graphdef,
    state: TrainState,
    stimulus: Stimulus,
    task,
    signal: Float[Array, " contrasts"],
    target: Float[Array, ""],
    penalties: Penalties,
    *,
    steps: int,
    batch_size: int = BATCH_SIZE,
    decay: float = ACCURACY_DECAY,
) -> tuple[TrainState, SessionLog]:
    """One session: up to ``steps`` Adam steps, stopping once the running accuracy estimate
    reaches ``target`` (module docstring). Step ``i`` draws its batch from ``fold_in(key, i)``.
    The steps run in a ``lax.while_loop`` that ends when the session is done, so a session
    that stops early costs only its steps (under ``vmap``, those of the slowest member). The
    log holds, per step, the loss and the accuracy estimate of the steps taken (NaN for the
    rest) and whether the update was applied (``applied.sum()``: the steps used)."""

    def loss_fn(p, k_noise, images, first):
        net = nnx.merge(graphdef, p)
        terms = loss_terms(net, k_noise, images, first, penalties)
        return terms.total, jnp.mean(net.expected_accuracy(images, first))

    def accuracy(p, images, first):
        return jnp.mean(nnx.merge(graphdef, p).expected_accuracy(images, first))

    def step(carry):
        i, st, done, log = carry
        k_batch, k_noise = jax.random.split(jax.random.fold_in(key, i))
        images, first = training_batch(k_batch, stimulus, task, signal, batch_size)
        (loss, before), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            st.params, k_noise, images, first
        )
        # The running estimate of the current network's accuracy: the previous estimate moved
        # by the last update's gain, measured on this (new) batch, averaged with this batch.
        gain = before - accuracy(st.previous, images, first)
        weight = decay * st.accuracy_weight + (1.0 - decay)
        estimate = decay * st.accuracy_weight * (st.accuracy + gain) + (1.0 - decay) * before
        estimate = jnp.clip(estimate / weight, 0.0, 1.0)
        updates, opt_state = _adam.update(grads, st.opt_state, st.params)
        params = jax.tree.map(lambda p, u: p - penalties.learning_rate * u, st.params, updates)
        # What the update would reach (its gain on this batch: optimistic, so cautious).
        predicted = jnp.clip(estimate + accuracy(params, images, first) - before, 0.0, 1.0)
        done = done | (estimate >= goal)
        # Take the step unless it overshoots the target by more than stopping here misses it.
        closer = (predicted < goal) | (predicted - goal < goal - estimate)
        apply = jnp.logical_not(done) & closer
        done = done | (predicted >= goal)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, old)  # noqa: E731
        new = TrainState(
            keep(params, st.params), st.params, keep(opt_state, st.opt_state), estimate, weight
        )
        log = SessionLog(
            log.loss.at[i].set(jnp.where(apply, loss, jnp.nan)),
            log.applied.at[i].set(apply),
            log.accuracy.at[i].set(estimate),
        )
        return i + 1, new, done, log

    goal = jnp.where(jnp.isnan(target), jnp.inf, target)
    nan = jnp.full((steps,), jnp.nan, jnp.float32)
    log = SessionLog(nan, jnp.zeros((steps,), bool), nan)
    init = (jnp.asarray(0), state, jnp.asarray(False), log)
    _, state, _, log = jax.lax.while_loop(
        lambda c: (c[0] < steps) & jnp.logical_not(c[2]), step, init
    )
    return state, log


def recording_images(
    key: PRNGKeyArray,
    stimulus: Stimulus,
    task,
    level: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    frozen,
) -> Float[Array, "trials pixels"]:
    """The images of a recorded block: trial ``n`` from ``fold_in(fold_in(key, 0), n)``
    (fresh), or every trial of level ``l`` from ``fold_in(fold_in(key, 1), l)`` (``frozen``,
    a bool that may be traced)."""
    frozen = jnp.asarray(frozen)
    stream = jax.random.fold_in(key, frozen.astype(jnp.int32))
    which = jnp.where(frozen, level, jnp.arange(level.shape[0]))
    keys = jax.vmap(lambda i: jax.random.fold_in(stream, i))(which)
    return jax.vmap(lambda k, c: stimulus.frames(k, task, c, 1)[0])(keys, contrasts)


class Recording(NamedTuple):
    """A recorded block: noisy hidden responses, choices (1: second category), and the rates
    (noise-free means given each image)."""

    responses: Float[Array, "trials hidden"]
    choices: Int[Array, " trials"]
    rates: Float[Array, "trials hidden"]


def record_network(
    key: PRNGKeyArray,
    graphdef,
    params,
    stimulus: Stimulus,
    task,
    level: Int[Array, " trials"],
    contrasts: Float[Array, " trials"],
    frozen=False,
) -> Recording:
    """Record a block: images from ``fold_in(key, 0)`` (:func:`recording_images`), the
    network's noise from ``fold_in(key, 1)`` (the same draws for fresh and frozen images)."""
    net = nnx.merge(graphdef, params)
    images = recording_images(jax.random.fold_in(key, 0), stimulus, task, level, contrasts, frozen)
    rates = net.rates(images)
    responses = net.responses(jax.random.fold_in(key, 1), images)
    return Recording(responses, (net.logits(responses) < 0).astype(jnp.int32), rates)


class NoiseVariance(NamedTuple):
    """The trace of the zero-signal noise covariance split by source (law of total variance)."""

    private: Float[Array, ""]  # sum of the mean rates: tr E[diag(rates)]
    internal_shared: Float[Array, ""]  # |L|_F^2 = tr(L L^T)
    stimulus: Float[Array, ""]  # tr Cov(rates) over the block's images

    @property
    def total(self):
        return self.private + self.internal_shared + self.stimulus


def noise_variance(graphdef, params, rates: Float[Array, "trials hidden"]) -> NoiseVariance:
    """Split the noise variance of trials with ``rates`` (one level's trials) by source, from
    the network's known noise model: given the image, the covariance is
    ``diag(rates) + L L^T``; across images the rates themselves vary."""
    L = nnx.merge(graphdef, params).shared[...]
    centred = rates - jnp.mean(rates, axis=0, keepdims=True)
    stim = jnp.sum(centred**2) / (rates.shape[0] - 1)
    return NoiseVariance(jnp.sum(jnp.mean(rates, axis=0)), jnp.sum(L**2), stim)
