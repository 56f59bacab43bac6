"""Train the discriminative comparison network and record its hidden units.

The network (:class:`bayescortex.models.discriminative.NoisyPerceptron`) sees the same images
and labels as the sampling model: noise frames with the task's gratings at the task's contrasts.
It is trained with optax (Adam on the logistic loss through its noisy units); its hidden
responses are recorded on blocks of trials with the same layout as the model's recordings.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jaxtyping import PRNGKeyArray

from bayescortex.models.discriminative import NoisyPerceptron
from bayescortex.models.stimuli import Stimulus


def _images(key, stimulus: Stimulus, task: int, contrasts):
    keys = jax.random.split(key, contrasts.shape[0])
    frames = jax.vmap(lambda k, c: stimulus.frames(k, jnp.asarray(task), c, 1)[0])
    return frames(keys, contrasts)


def train_network(
    key: PRNGKeyArray,
    net: NoisyPerceptron,
    stimulus: Stimulus,
    task: int,
    contrasts,
    *,
    steps: int = 300,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
) -> np.ndarray:
    """Train ``net`` in place on random signed ``contrasts`` (zero excluded); returns losses.

    Step ``i`` draws its batch from ``fold_in(key, i)``.
    """
    signal = jnp.asarray([c for c in np.asarray(contrasts, float) if c != 0])
    if signal.size == 0:
        raise ValueError("contrasts: training needs at least one non-zero contrast")
    optimizer = nnx.Optimizer(net, optax.adam(learning_rate), wrt=nnx.Param)

    @nnx.jit
    def step(net, optimizer, key):
        k_c, k_img, k_noise = jax.random.split(key, 3)
        c = jax.random.choice(k_c, signal, (batch_size,))
        images = _images(k_img, stimulus, task, c)
        labels = (c > 0).astype(images.dtype)

        def loss_fn(net):
            return optax.sigmoid_binary_cross_entropy(net(k_noise, images), labels).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(net)
        optimizer.update(net, grads)
        return loss

    return np.array([float(step(net, optimizer, jax.random.fold_in(key, i))) for i in range(steps)])


def record_network(
    key: PRNGKeyArray, net: NoisyPerceptron, stimulus: Stimulus, task: int, contrasts
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy hidden responses (trials x hidden) and choices (1: second category) per trial."""
    contrasts = jnp.asarray(contrasts, dtype=float)
    k_img, k_noise = jax.random.split(key)

    @nnx.jit
    def record(net):
        images = _images(k_img, stimulus, task, contrasts)
        responses = net.responses(k_noise, images)
        return responses, (net.readout(responses)[:, 0] < 0).astype(jnp.int32)

    responses, choices = record(net)
    return np.asarray(responses), np.asarray(choices)
