"""The hierarchical generative model of visual cortex (Haefner, Berkes & Fiser 2016).

Latents, top to bottom (one image location), given the cue ``q`` (a task trial or fixation):

- context ``K`` in {cardinal, oblique, none} with prior ``p(K | q)``; category ``O`` in {0, 1},
  prior 1/2 (under ``K = none`` the category is irrelevant: nothing below depends on it);
- middle layer ``g_k`` in {0, 1}, ``p(g_k = 1 | K, O)`` from the feedback module;
- sensory neurons ``x_i >= 0``, ``x_i | g ~ Exponential(mean tau_i)``, ``tau = 1 + C g``;
- contrast ``s > 0`` (its prior belongs to the sampler settings);
- image ``y = s PF^T x + N(0, sigma_y^2 I)``, ``PF`` the projective fields (neurons x pixels).

The feedback parameters live in :mod:`bayescortex.models.feedback`; this module adds the
projective fields, the pixel noise, the log densities and ancestral sampling. Methods act on
one example; batch with ``jax.vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .feedback import AbstractFeedback, ParametricFeedback
from .stimuli import projective_fields

PROB_CLIP = 1e-6
"""``p(g_k = 1 | K, O)`` is clipped to ``[PROB_CLIP, 1 - PROB_CLIP]`` everywhere (density, sampler,
learning): the reference's ``min(1, .)`` can saturate at 1, and the clip keeps ``log p(g | T, O)``
and its gradient finite."""


class Latents(NamedTuple):
    """One joint draw of the model's latents."""

    context: Int[Array, ""]  # K: a task index, or NONE_CONTEXT
    category: Int[Array, ""]
    units: Float[Array, " units"]  # g, as 0.0 / 1.0
    neurons: Float[Array, " neurons"]  # x
    contrast: Float[Array, ""]  # s


class HierarchicalModel(eqx.Module):
    """Projective fields, pixel noise and top-down feedback of the sampling model.

    >>> model = HierarchicalModel(ParametricFeedback(64, 16, delta=0.08))
    >>> model.n_neurons, model.n_units, model.n_pixels
    (64, 16, 1024)
    """

    feedback: AbstractFeedback
    fields: Float[Array, "neurons pixels"]
    sigma_y: Float[Array, ""]

    def __init__(self, feedback: AbstractFeedback, *, size: int = 32, sigma_y: float = 1.0):
        if not isinstance(sigma_y, jax.core.Tracer) and not np.all(np.asarray(sigma_y) > 0):
            raise ValueError(f"sigma_y: pixel noise must be positive, got {sigma_y}")
        self.feedback = feedback
        self.fields = projective_fields(feedback.n_neurons, size)
        self.sigma_y = jnp.asarray(sigma_y, dtype=float)

    @property
    def n_neurons(self) -> int:
        return self.fields.shape[0]

    @property
    def n_units(self) -> int:
        return self.feedback.n_units

    @property
    def n_pixels(self) -> int:
        return self.fields.shape[1]

    def _check_image(self, image) -> None:
        if jnp.shape(image)[-1:] != (self.n_pixels,):
            raise ValueError(
                f"image: expected flattened images with {self.n_pixels} pixels on the last axis, "
                f"got shape {jnp.shape(image)}"
            )

    def gram(self) -> Float[Array, "neurons neurons"]:
        """``PF PF^T``: overlaps of the projective fields (ones on the diagonal)."""
        return jnp.matmul(self.fields, self.fields.T, precision=jax.lax.Precision.HIGHEST)

    def project(self, images: Float[Array, "... pixels"]) -> Float[Array, "... neurons"]:
        """``PF y``: each image's projection on every projective field."""
        self._check_image(images)
        return jnp.matmul(images, self.fields.T, precision=jax.lax.Precision.HIGHEST)

    def means(self, units: Float[Array, " units"]) -> Float[Array, " neurons"]:
        """``tau = 1 + C g``: the prior mean of each neuron given the middle layer."""
        return 1.0 + self.feedback.coupling() @ units

    # -- log densities -------------------------------------------------------------------------

    def unit_probabilities(self) -> Float[Array, "contexts categories units"]:
        """``p(g_k = 1 | K, O)`` of the feedback, clipped as :data:`PROB_CLIP` says."""
        return jnp.clip(self.feedback.unit_probabilities(), PROB_CLIP, 1 - PROB_CLIP)

    def log_prob_context_category(self, cue=0) -> Float[Array, "contexts categories"]:
        """``log p(K | q) + log p(O)`` (``p(O) = 1/2``) as a table over ``(K, O)``."""
        return self.feedback.context_log_prior(cue)[:, None] + jnp.full((1, 2), jnp.log(0.5))

    def log_prob_units(self, units, context, category) -> Float[Array, ""]:
        """``log p(g | K, O)`` (product of Bernoullis; ``units`` 0.0/1.0)."""
        p = self.unit_probabilities()[context, category]
        return jnp.sum(units * jnp.log(p) + (1 - units) * jnp.log1p(-p))

    def log_prob_neurons(self, neurons, units) -> Float[Array, ""]:
        """``log p(x | g)``: independent exponentials with means ``tau``; -inf for x < 0."""
        tau = self.means(units)
        logp = jnp.sum(-jnp.log(tau) - neurons / tau)
        return jnp.where(jnp.all(neurons >= 0), logp, -jnp.inf)

    def log_likelihood(self, image, neurons, contrast) -> Float[Array, ""]:
        """``log p(y | x, s)``: isotropic Gaussian pixel noise around ``s PF^T x``."""
        self._check_image(image)
        resid = image - contrast * (neurons @ self.fields)
        n = self.n_pixels
        return -0.5 * jnp.sum(resid**2) / self.sigma_y**2 - n * (
            jnp.log(self.sigma_y) + 0.5 * jnp.log(2 * jnp.pi)
        )

    def log_prior(self, latents: Latents, cue=0) -> Float[Array, ""]:
        """``log p(K, O, g, x | q)``: every factor that the feedback parameters enter.

        The image likelihood and the contrast prior do not depend on the feedback, so this
        is the part of the log joint whose gradient learning needs (Fisher's identity).
        """
        k, o, g, x, _ = latents
        return (
            self.log_prob_context_category(cue)[k, o]
            + self.log_prob_units(g, k, o)
            + (self.log_prob_neurons(x, g))
        )

    def log_joint(self, latents: Latents, image, cue=0) -> Float[Array, ""]:
        """Complete-data ``log p(K, O, g, x, y | s, q)`` (the contrast prior is not included)."""
        return self.log_prior(latents, cue) + self.log_likelihood(
            image, latents.neurons, latents.contrast
        )

    # -- ancestral sampling --------------------------------------------------------------------

    def sample_latents(self, key: PRNGKeyArray, contrast=1.0, context=None, cue=0) -> Latents:
        """Draw ``K, O, g, x`` from their priors given the cue (``K`` fixed if given),
        ``s = contrast``."""
        k_t, k_o, k_g, k_x = jax.random.split(key, 4)
        if context is None:
            context = jax.random.categorical(k_t, self.feedback.context_log_prior(cue))
        context = jnp.asarray(context)
        category = jax.random.bernoulli(k_o).astype(int)
        p = self.unit_probabilities()[context, category]
        units = jax.random.bernoulli(k_g, p).astype(self.fields.dtype)
        neurons = self.means(units) * jax.random.exponential(k_x, (self.n_neurons,))
        return Latents(context, category, units, neurons, jnp.asarray(contrast, self.fields.dtype))

    def sample(self, key: PRNGKeyArray, contrast=1.0, context=None, cue=0) -> tuple[Latents, Array]:
        """Ancestral draw of latents and an image ``y`` (flattened pixels) from the model."""
        k_lat, k_y = jax.random.split(key)
        latents = self.sample_latents(k_lat, contrast, context, cue)
        mean = latents.contrast * (latents.neurons @ self.fields)
        return latents, mean + self.sigma_y * jax.random.normal(k_y, mean.shape)


def reference_model(
    n_neurons: int = 256,
    n_units: int = 64,
    *,
    delta: float = 0.08,
    kappa_o=1.0,
    kappa_g: float = 3.0,
    context_logits=None,
    size: int = 32,
    sigma_y: float = 1.0,
) -> HierarchicalModel:
    """The reference model with parametric feedback (SCIENCE.md's typical values).

    ``delta``, ``kappa_o`` and ``kappa_g`` must be finite (``delta`` and ``kappa_o`` also
    ``>= 0``) and ``context_logits`` free of NaN and ``+inf``; otherwise a ``ValueError`` names
    the argument (values traced under ``jit`` are not checked).

    >>> model = reference_model(64, 16, delta=0.0)   # naive: no coupling
    """
    _check_finite("delta", delta, non_negative=True)
    _check_finite("kappa_o", kappa_o, non_negative=True)
    _check_finite("kappa_g", kappa_g)
    if context_logits is not None and _concrete(context_logits):
        logits = np.asarray(context_logits, dtype=float)
        if np.isnan(logits).any() or np.isposinf(logits).any():
            raise ValueError(f"context_logits: must not hold NaN or +inf, got {logits.tolist()}")
    feedback = ParametricFeedback(
        n_neurons,
        n_units,
        delta=delta,
        kappa_o=kappa_o,
        kappa_g=kappa_g,
        context_logits=context_logits,
    )
    return HierarchicalModel(feedback, size=size, sigma_y=sigma_y)


def _concrete(value) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(value))


def _check_finite(name: str, value, *, non_negative: bool = False) -> None:
    """ValueError naming ``name`` if a concrete ``value`` is not finite (or negative)."""
    if not _concrete(value):
        return
    array = np.asarray(value, dtype=float)
    if not np.isfinite(array).all() or (non_negative and (array < 0).any()):
        need = "finite and >= 0" if non_negative else "finite"
        raise ValueError(f"{name}: must be {need}, got {array.tolist()}")
