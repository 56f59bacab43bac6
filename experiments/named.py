"""Measures whose axes are named where they are computed.

A compiled program returns its measures as a dict of :class:`Named` arrays: each carries the
names of the axes the measure itself has (``("time",)`` for a value per within-trial bin,
``("frame",)`` for a psychophysical kernel, ``()`` for a scalar), as static pytree metadata.
The transformations that repeat a measure (``vmap`` over conditions, seeds and configurations,
``lax.map`` over bootstrap replicates, ``scan`` over sessions) add leading axes to its value;
whoever stacks them names those (:func:`variable`), at the one boundary where results become
an xarray Dataset. No axis is named by parsing a measure's name.

>>> import jax, jax.numpy as jnp
>>> m = {"kernel": Named(jnp.ones(13), ("frame",)), "accuracy": Named(jnp.float32(0.9))}
>>> stacked = jax.vmap(lambda s: jax.tree.map(lambda a: a * s, m))(jnp.arange(3.0))
>>> variable(("seed",), stacked["kernel"])[0], stacked["accuracy"].value.shape
(('seed', 'frame'), (3,))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Named:
    """An array and the names of its own (last) axes; ``dims`` is static pytree metadata, so
    ``jax.tree.map``, ``vmap`` and ``jit`` see ``value`` alone."""

    value: Any
    dims: tuple[str, ...] = ()


jax.tree_util.register_dataclass(Named, data_fields=["value"], meta_fields=["dims"])


def named(measures: dict) -> dict[str, Named]:
    """``measures`` with every bare array (a measure with no axes of its own, a scalar) made a
    :class:`Named` of no dims; values already :class:`Named` are kept."""
    return {k: v if isinstance(v, Named) else Named(v) for k, v in measures.items()}


def values(measures: dict[str, Named]) -> dict[str, Any]:
    """The bare arrays of a dict of :class:`Named` (e.g. for a test or a plot)."""
    return {k: v.value for k, v in measures.items()}


def variable(lead: tuple[str, ...], measure: Named) -> tuple[tuple[str, ...], np.ndarray]:
    """``(dims, array)`` of an xarray variable: the leading axes the repeats added, named
    ``lead``, then the measure's own. A ``ValueError`` if the axes do not add up (a measure
    declared with the wrong dims, or stacked with fewer axes than ``lead`` names)."""
    value = np.asarray(measure.value)
    dims = (*lead, *measure.dims)
    if value.ndim != len(dims):
        raise ValueError(f"a measure of shape {value.shape} named {dims}: the axes do not add up")
    return dims, value
