"""Train the discriminative comparison network and record its hidden units, as pure functions.

The network (:class:`bayescortex.models.discriminative.NoisyPerceptron`) sees the same images
and labels as the sampling model: noise frames with the task's gratings at the task's contrasts.
It is trained with optax (Adam on the logistic loss through its noisy units) in one
``lax.scan``; its hidden responses are recorded on blocks of trials with the same layout as the
model's recordings. The network travels as ``(graphdef, params)`` (``nnx.split``), so the
functions here are pure and vmap over seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from bayescortex.models.discriminative import NoisyPerceptron
from bayescortex.models.stimuli import Stimulus, category_of


def initial_network(n_pixels: int, n_hidden: int, seed: int):
    """``(graphdef, params)`` of a freshly initialised network."""
    return nnx.split(NoisyPerceptron(n_pixels, n_hidden, rngs=nnx.Rngs(seed)))


def _images(key, stimulus: Stimulus, task, contrasts):
    keys = jax.random.split(key, contrasts.shape[0])
    return jax.vmap(lambda k, c: stimulus.frames(k, task, c, 1)[0])(keys, contrasts)


def train_network(
    key: PRNGKeyArray,
    graphdef,
    params,
    stimulus: Stimulus,
    task,
    signal: Float[Array, " contrasts"],
    *,
    steps: int = 300,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
):
    """Train on random draws of the non-zero signed contrasts ``signal``; returns the trained
    params and the loss of every step. Step ``i`` draws its batch from ``fold_in(key, i)``."""
    optimizer = optax.adam(learning_rate)

    def loss_fn(p, k_noise, images, labels):
        logits = nnx.merge(graphdef, p)(k_noise, images)
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

    def step(carry, i):
        p, opt_state = carry
        k_c, k_img, k_noise = jax.random.split(jax.random.fold_in(key, i), 3)
        c = jax.random.choice(k_c, signal, (batch_size,))
        images = _images(k_img, stimulus, task, c)
        labels = (category_of(c) == 0).astype(images.dtype)
        loss, grads = jax.value_and_grad(loss_fn)(p, k_noise, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), jnp.arange(steps))
    return params, losses


def record_network(key: PRNGKeyArray, graphdef, params, stimulus: Stimulus, task, contrasts):
    """Noisy hidden responses (trials x hidden) and choices (1: second category) per trial."""
    k_img, k_noise = jax.random.split(key)
    net = nnx.merge(graphdef, params)
    responses = net.responses(k_noise, _images(k_img, stimulus, task, contrasts))
    return responses, (net.readout(responses)[:, 0] < 0).astype(jnp.int32)
