"""The classic hypothesis: a discriminative feedforward network with noisy units (flax nnx).

The efficient / discriminative coding view of sensory learning reads the category off a
feedforward population trained to discriminate; it has no generative feedback. Here: image ->
``n_hidden`` units with rates ``softplus(W y + b)`` and Poisson-like noise (variance equal to
the rate, the Fano factor of cortical counts) -> a linear readout of the category. Its hidden
responses are measured with the same estimators as the sampling model's neurons.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray


class NoisyPerceptron(nnx.Module):
    """Image -> noisy hidden units -> logit of the first category.

    >>> net = NoisyPerceptron(1024, 64, rngs=nnx.Rngs(0))
    >>> net.rates(jnp.zeros((3, 1024))).shape
    (3, 64)
    """

    def __init__(self, n_pixels: int, n_hidden: int, *, rngs: nnx.Rngs, gain: float = 1.0):
        if n_pixels <= 0 or n_hidden <= 0:
            raise ValueError(f"n_pixels, n_hidden: must be positive, got {n_pixels}, {n_hidden}")
        self.hidden = nnx.Linear(
            n_pixels,
            n_hidden,
            rngs=rngs,
            kernel_init=nnx.initializers.normal(gain / jnp.sqrt(n_pixels)),
        )
        self.readout = nnx.Linear(n_hidden, 1, rngs=rngs)

    def rates(self, images: Float[Array, "batch pixels"]) -> Float[Array, "batch hidden"]:
        """Mean responses of the hidden units."""
        return jax.nn.softplus(self.hidden(images))

    def responses(self, key: PRNGKeyArray, images: Float[Array, "batch pixels"]):
        """Noisy responses: rate plus Gaussian noise of variance equal to the rate."""
        rates = self.rates(images)
        return rates + jnp.sqrt(rates) * jax.random.normal(key, rates.shape, rates.dtype)

    def __call__(self, key: PRNGKeyArray, images: Float[Array, "batch pixels"]):
        """Logits of the first category, read from noisy hidden responses."""
        return self.readout(self.responses(key, images))[:, 0]
