"""Images: projective fields of the sensory neurons and the orientation-noise stimuli.

Geometry follows the reference model (SCIENCE.md, appendix): a square patch of
``size x size`` pixels on a grid over [-1/2, 1/2]^2. A field or grating at orientation
``phi`` is built in rotated coordinates ``u = x cos(phi) + y sin(phi)`` (the modulated axis)
and ``v = -x sin(phi) + y cos(phi)`` (the elongated axis).

Tasks are indices into :data:`TASKS`; each task has two categories whose orientations are
:data:`CATEGORY_ORIENTATIONS` ``[task, category]``. A signed contrast ``c > 0`` shows the
first category's grating with contrast ``c``, ``c < 0`` the second's with ``|c|``, and
``c = 0`` is a zero-signal trial (noise alone).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

TASKS: tuple[str, ...] = ("cardinal", "oblique")
CONTEXTS: tuple[str, ...] = (*TASKS, "none")
"""Values of the model's context latent ``K``: one per task, then ``none`` (no task: no category,
a task-free middle-layer prior). Task ``t`` is context ``t``."""
NONE_CONTEXT = len(TASKS)
CUES: tuple[str, ...] = ("task", "fixation")
"""The cue ``q`` the observer sees: a task trial (decision, outcome) or passive fixation."""
CATEGORY_ORIENTATIONS = np.array([[0.0, math.pi / 2], [math.pi / 4, 3 * math.pi / 4]])
SPATIAL_FREQUENCY = 2.0  # cycles per patch width, as in the reference fields
FIELD_ENVELOPE_SD = 0.1  # sd of the envelope across the modulated axis
FIELD_LENGTH_SD = 0.2  # sd of the envelope along the elongated axis


def task_index(task: str | int) -> int:
    """The index of a task given by name ('cardinal', 'oblique') or index.

    >>> task_index("oblique")
    1
    """
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task: unknown task {task!r}; expected one of {TASKS}")
        return TASKS.index(task)
    if not 0 <= int(task) < len(TASKS):
        raise ValueError(f"task: index {task} out of range 0..{len(TASKS) - 1}")
    return int(task)


def category_of(contrast: Float[ArrayLike, "*trials"]) -> Int[Array, "*trials"]:
    """The category a signed contrast shows: 0 for ``c > 0``, 1 for ``c < 0``.

    The one rule of the task; zero-signal trials (``c = 0``) count as category 0, so the
    "accuracy" of a zero-signal block is the fraction of first-category choices.

    >>> category_of(jnp.array([3.0, -3.0, 0.0])).tolist()
    [0, 1, 0]
    """
    return jnp.where(jnp.asarray(contrast) < 0, 1, 0)


def is_correct(choice: Int[ArrayLike, "*trials"], contrast: Float[ArrayLike, "*trials"]):
    """Whether each choice names the category of its contrast (:func:`category_of`)."""
    return jnp.asarray(choice) == category_of(contrast)


def _grid(size: int) -> tuple[Float[Array, "size size"], Float[Array, "size size"]]:
    coords = jnp.linspace(-0.5, 0.5, size)
    y, x = jnp.meshgrid(coords, coords, indexing="ij")
    return x, y


def _rotated(phi: Float[Array, ""], size: int):
    x, y = _grid(size)
    u = x * jnp.cos(phi) + y * jnp.sin(phi)
    v = -x * jnp.sin(phi) + y * jnp.cos(phi)
    return u, v


def _carrier(u: Float[Array, "size size"]) -> Float[Array, "size size"]:
    return jnp.cos(2 * jnp.pi * SPATIAL_FREQUENCY * u) * jnp.exp(
        -(u**2) / (2 * FIELD_ENVELOPE_SD**2)
    )


def _unit(a: Float[Array, "size size"]) -> Float[Array, " pixels"]:
    flat = a.reshape(-1)
    return flat / jnp.linalg.norm(flat)


def projective_field(phi: Float[Array, ""], size: int = 32) -> Float[Array, " pixels"]:
    """Unit-norm Gabor-like projective field at orientation ``phi`` (radians), flattened."""
    u, v = _rotated(phi, size)
    envelope = jnp.exp(-(v**2) / (2 * FIELD_LENGTH_SD**2)) / (
        FIELD_LENGTH_SD * jnp.sqrt(2 * jnp.pi)
    )
    return _unit(_carrier(u) * envelope)


def grating(theta: Float[Array, ""], size: int = 32) -> Float[Array, " pixels"]:
    """Unit-norm stimulus grating at orientation ``theta``: modulated along u, constant along v."""
    u, _ = _rotated(theta, size)
    return _unit(_carrier(u))


def preferred_orientations(n: int) -> Float[Array, " n"]:
    """Evenly spaced preferred orientations ``(i - 1) pi / n`` for ``i = 1..n``."""
    if n <= 0:
        raise ValueError(f"n: number of units must be positive, got {n}")
    return jnp.arange(n) * jnp.pi / n


def projective_fields(n_neurons: int, size: int = 32) -> Float[Array, "neurons pixels"]:
    """Projective fields of ``n_neurons`` neurons at evenly spaced orientations (rows)."""
    if size <= 0:
        raise ValueError(f"size: image size must be positive, got {size}")
    return jax.vmap(lambda phi: projective_field(phi, size))(preferred_orientations(n_neurons))


class Stimulus(eqx.Module):
    """The two category gratings of every task, and the pixel noise.

    ``gratings[task, category]`` is the unit-norm grating shown for that category.
    ``frame_every`` is the number of samples per noise frame (0: one static frame per trial).
    """

    gratings: Float[Array, "tasks categories pixels"]
    noise_sd: Float[Array, ""]
    size: int = eqx.field(static=True)
    frame_every: int = eqx.field(static=True)

    def __init__(self, size: int = 32, noise_sd: Float[ArrayLike, ""] = 1.0, frame_every: int = 0):
        if size <= 0:
            raise ValueError(f"size: image size must be positive, got {size}")
        if not isinstance(noise_sd, jax.core.Tracer) and not np.all(np.asarray(noise_sd) > 0):
            raise ValueError(f"noise_sd: pixel noise must be positive, got {noise_sd}")
        if frame_every < 0:
            raise ValueError(f"frame_every: must be >= 0 (0 = static), got {frame_every}")
        self.size = size
        self.frame_every = frame_every
        self.noise_sd = jnp.asarray(noise_sd, dtype=float)
        orientations = jnp.asarray(CATEGORY_ORIENTATIONS, dtype=float)
        self.gratings = jax.vmap(jax.vmap(lambda t: grating(t, size)))(orientations)

    def n_frames(self, n_sweeps: int) -> int:
        """Number of distinct noise frames over ``n_sweeps`` samples."""
        return 1 if self.frame_every == 0 else -(-n_sweeps // self.frame_every)

    def signal(
        self, task: Int[ArrayLike, ""], contrast: Float[ArrayLike, ""]
    ) -> Float[Array, " pixels"]:
        """The noiseless image of a signed contrast in a task."""
        return jnp.abs(contrast) * self.gratings[task, category_of(contrast)]

    def frames(
        self,
        key: PRNGKeyArray,
        task: Int[ArrayLike, ""],
        contrast: Float[ArrayLike, ""],
        n_frames: int,
    ) -> Float[Array, "frames pixels"]:
        """``n_frames`` images of one trial: the signal plus independent white noise each."""
        noise = self.noise_sd * jax.random.normal(key, (n_frames, self.size * self.size))
        return noise + self.signal(task, contrast)[None, :]

    def energy(self, task: Int[ArrayLike, ""], images: Float[Array, "frames pixels"]):
        """Per-frame stimulus energy along the task axis: projection on category 1 minus 2.

        Positive values are evidence for the first category; psychophysical kernels
        regress choices on these.
        """
        axis = self.gratings[task, 0] - self.gratings[task, 1]
        return images @ axis


def check_contrasts(contrasts) -> Float[Array, " n"]:
    """Validate signed contrasts (finite numbers) and return them as an array."""
    c = jnp.asarray(contrasts, dtype=float).reshape(-1)
    if c.size == 0:
        raise ValueError("contrasts: at least one contrast is needed")
    if not bool(jnp.all(jnp.isfinite(c))):
        raise ValueError(f"contrasts: must be finite numbers, got {contrasts}")
    return c
