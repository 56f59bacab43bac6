"""The classic hypothesis: a feedforward network with private and learnable shared noise (nnx).

The efficient / discriminative coding view of sensory learning reads the category off a
feedforward population trained for the task; it has no generative feedback. Here an image
``y`` drives ``n_hidden`` units whose responses are

    r = softplus(W y + b) + L eta + sqrt(softplus(W y + b)) * eps,

- ``softplus(W y + b)``: the rates, the units' mean responses to the image;
- ``L eta``: internal shared noise, ``eta ~ N(0, I_k)`` with ``k = n_shared`` latent noise
  dimensions and a LEARNABLE loading matrix ``L`` (hidden x k). It is the network's own source
  of correlated variability, the counterpart of the sampling model's shared fluctuations, and
  training may grow or shrink it (the efficient-coding baseline's total-correlation penalty
  pushes it down, the discriminative loss only cares whether it hurts the readout);
- ``sqrt(rate) * eps``, ``eps ~ N(0, I)``: private noise of variance equal to the rate (the
  Fano factor 1 of cortical counts).

Given the image the responses are Gaussian with mean ``rates`` and covariance
``diag(rates) + L L^T``; across images, the pixel noise the rates inherit adds shared
variability on top. A linear readout of the noisy responses gives the logit of the first
category. Its hidden responses are measured with the same estimators as the sampling model's
neurons.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray


class SharedNoiseNetwork(nnx.Module):
    """Image -> hidden units with private and shared (``L eta``) noise -> first-category logit.

    ``L`` starts as ``shared_scale / sqrt(n_shared)`` times a standard normal matrix: every
    unit's internal shared variance ``sum_j L_ij^2`` is then about ``shared_scale^2`` (0.01)
    whatever ``n_shared``, small next to its private variance (the rate, about 0.7 at
    initialisation), so the naive network's own noise is nearly independent across units; but
    ``L`` is not 0, where the total-correlation penalty, a function of ``L L^T``, has a zero
    gradient (a saddle), and the random start tells the ``k`` columns apart. ``n_shared = 0``
    gives a network with private noise only (``L`` is hidden x 0).

    >>> net = SharedNoiseNetwork(1024, 64, rngs=nnx.Rngs(0))
    >>> net.rates(jnp.zeros((3, 1024))).shape, net.shared.shape
    ((3, 64), (64, 4))
    """

    def __init__(
        self,
        n_pixels: int,
        n_hidden: int,
        *,
        rngs: nnx.Rngs,
        n_shared: int = 4,
        gain: float = 1.0,
        shared_scale: float = 0.1,
    ):
        if n_pixels <= 0 or n_hidden <= 0:
            raise ValueError(f"n_pixels, n_hidden: must be positive, got {n_pixels}, {n_hidden}")
        if n_shared < 0:
            raise ValueError(f"n_shared: must be >= 0, got {n_shared}")
        self.hidden = nnx.Linear(
            n_pixels,
            n_hidden,
            rngs=rngs,
            kernel_init=nnx.initializers.normal(gain / jnp.sqrt(n_pixels)),
        )
        self.readout = nnx.Linear(n_hidden, 1, rngs=rngs)
        scale = shared_scale / max(n_shared, 1) ** 0.5
        self.shared = nnx.Param(scale * jax.random.normal(rngs.params(), (n_hidden, n_shared)))

    @property
    def n_shared(self) -> int:
        """Latent dimensions of the internal shared noise."""
        return self.shared.shape[1]

    def rates(self, images: Float[Array, "batch pixels"]) -> Float[Array, "batch hidden"]:
        """Mean responses of the hidden units to each image (the private noise variance)."""
        return jax.nn.softplus(self.hidden(images))

    def shared_covariance(self) -> Float[Array, "hidden hidden"]:
        """``L L^T``: the covariance of the internal shared noise."""
        L = self.shared[...]
        return L @ L.T

    def responses(
        self, key: PRNGKeyArray, images: Float[Array, "batch pixels"]
    ) -> Float[Array, "batch hidden"]:
        """Noisy responses: rate + ``L eta`` + private noise of variance equal to the rate,
        fresh for every row of ``images``."""
        rates = self.rates(images)
        k_shared, k_private = jax.random.split(key)
        L = self.shared[...]
        eta = jax.random.normal(k_shared, (rates.shape[0], L.shape[1]), rates.dtype)
        private = jnp.sqrt(rates) * jax.random.normal(k_private, rates.shape, rates.dtype)
        return rates + eta @ L.T + private

    def logits(self, responses: Float[Array, "batch hidden"]) -> Float[Array, " batch"]:
        """The readout: logit of the first category from (noisy) responses."""
        return self.readout(responses)[:, 0]

    def expected_accuracy(
        self, images: Float[Array, "batch pixels"], first: Float[Array, " batch"]
    ) -> Float[Array, " batch"]:
        """Probability that the noisy readout names the right category, given each image.

        Given the image the logit is Gaussian, with mean ``w . rates + b`` and variance
        ``w^T (diag(rates) + L L^T) w``; ``first`` is 1 where the first category is right.
        """
        rates = self.rates(images)
        w = self.readout.kernel[...][:, 0]
        mean = self.logits(rates)
        var = (rates * (w * w)[None, :]).sum(-1) + jnp.sum((w @ self.shared[...]) ** 2)
        z = mean / jnp.sqrt(var)
        return jax.scipy.stats.norm.cdf(jnp.where(first > 0.5, z, -z))

    def __call__(self, key: PRNGKeyArray, images: Float[Array, "batch pixels"]):
        """Logits of the first category, read from noisy hidden responses."""
        return self.logits(self.responses(key, images))


__all__ = ["SharedNoiseNetwork"]
