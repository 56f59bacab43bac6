"""Top-down feedback: how the task belief reaches the middle layer and the sensory neurons.

A feedback module supplies three things the hierarchical model needs:

- ``coupling()``: the matrix ``C`` (neurons x units) with ``tau = 1 + C g``, the mean of each
  sensory neuron given the middle layer ``g``;
- ``unit_probabilities()``: ``p(g_k = 1 | T, O)`` as a (tasks x categories x units) table;
- ``task_log_prior()``: ``log p(T)``.

Two parametrisations share this interface. :class:`ParametricFeedback` is the reference model
(Haefner, Berkes & Fiser 2016) with a few scalars (``delta``, ``kappa_o``, task logits);
:class:`FreeFormFeedback` holds the full coupling matrix and unit table, so task structure must
emerge from training. All learnable quantities are array leaves (so they can be vmapped over in
sweeps and trained with optax); sizes are static.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .stimuli import CATEGORY_ORIENTATIONS, TASKS, preferred_orientations


@jax.custom_jvp
def _i0e_concentration(kappa):
    """``i0e(kappa)`` for a concentration ``kappa >= 0``, differentiable at 0 from the right.

    jax's ``i0e`` (``exp(-|k|) I0(k)``) has a kink at 0 and returns the derivative 0 there;
    a concentration lives on ``k >= 0``, where the derivative is ``i1e(k) - i0e(k)`` (-1 at 0).
    Learning projects ``kappa_o`` onto ``>= 0``, so it can sit at 0, where the right
    derivative is the one that matters.
    """
    return jax.scipy.special.i0e(kappa)


@_i0e_concentration.defjvp
def _i0e_concentration_jvp(primals, tangents):
    (kappa,), (dkappa,) = primals, tangents
    i0e = jax.scipy.special.i0e(kappa)
    return i0e, (jax.scipy.special.i1e(kappa) - i0e) * dkappa


def _von_mises_bump(kappa, angle):
    """exp(kappa cos 2 angle) / I0(kappa), computed stably for large kappa (kappa >= 0)."""
    return jnp.exp(kappa * (jnp.cos(2 * angle) - 1.0)) / _i0e_concentration(kappa)


class AbstractFeedback(eqx.Module):
    """Interface of a feedback parametrisation (see the module docstring)."""

    n_neurons: eqx.AbstractVar[int]
    n_units: eqx.AbstractVar[int]

    learnable_fields: ClassVar[tuple[str, ...]] = ()
    """The leaves that task learning fits (everything else is held fixed)."""
    non_negative_fields: ClassVar[tuple[str, ...]] = ()
    """Learnable leaves constrained to ``>= 0`` (see :meth:`project`)."""

    def project(self):
        """This feedback with :attr:`non_negative_fields` clipped at 0 (the projection step of
        projected gradient ascent, so a naive start at 0 can be left as soon as the gradient
        points inward)."""
        names = self.non_negative_fields
        if not names:
            return self
        return eqx.tree_at(
            lambda f: [getattr(f, n) for n in names], self, replace_fn=lambda a: jnp.maximum(a, 0)
        )

    @abc.abstractmethod
    def coupling(self) -> Float[Array, "neurons units"]:
        """Non-negative matrix ``C`` with ``tau = 1 + C g``."""

    @abc.abstractmethod
    def unit_probabilities(self) -> Float[Array, "tasks categories units"]:
        """``p(g_k = 1 | T, O)``, each entry in [0, 1]."""

    @abc.abstractmethod
    def task_log_prior(self) -> Float[Array, " tasks"]:
        """Normalised ``log p(T)``."""


def _check_sizes(n_neurons: int, n_units: int) -> None:
    if n_neurons <= 0:
        raise ValueError(f"n_neurons: must be positive, got {n_neurons}")
    if n_units <= 0:
        raise ValueError(f"n_units: must be positive, got {n_units}")


class ParametricFeedback(AbstractFeedback):
    """The reference parametrisation.

    ``p(g_k = 1 | T, O) = min(1, exp(kappa_o cos 2(phi_O - phi_k)) / (I0(kappa_o) N_g))`` and
    ``C_ik = delta exp(kappa_g cos 2(phi_i - phi_k)) / I0(kappa_g)``.

    ``delta = 0`` is the naive model (no coupling); ``delta = 0.08`` the trained one of the
    reference scripts. ``task_logits`` are unnormalised log prior weights of the tasks.

    >>> fb = ParametricFeedback(64, 16, delta=0.08)
    >>> fb.coupling().shape, fb.unit_probabilities().shape
    ((64, 16), (2, 2, 16))
    """

    learnable_fields: ClassVar[tuple[str, ...]] = ("delta", "kappa_o", "task_logits")
    non_negative_fields: ClassVar[tuple[str, ...]] = ("delta", "kappa_o")

    delta: Float[Array, ""]
    kappa_o: Float[Array, ""]
    kappa_g: Float[Array, ""]
    task_logits: Float[Array, " tasks"]
    n_neurons: int = eqx.field(static=True)
    n_units: int = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int = 256,
        n_units: int = 64,
        *,
        delta: float = 0.08,
        kappa_o: float = 1.0,
        kappa_g: float = 3.0,
        task_logits=(0.0, 0.0),
    ):
        _check_sizes(n_neurons, n_units)
        self.n_neurons, self.n_units = n_neurons, n_units
        self.delta = jnp.asarray(delta, dtype=float)
        self.kappa_o = jnp.asarray(kappa_o, dtype=float)
        self.kappa_g = jnp.asarray(kappa_g, dtype=float)
        self.task_logits = jnp.asarray(task_logits, dtype=float)
        if self.task_logits.shape != (len(TASKS),):
            raise ValueError(
                f"task_logits: expected shape ({len(TASKS)},), got {self.task_logits.shape}"
            )

    def coupling(self):
        phi_x = preferred_orientations(self.n_neurons)
        phi_g = preferred_orientations(self.n_units)
        return self.delta * _von_mises_bump(self.kappa_g, phi_x[:, None] - phi_g[None, :])

    def unit_probabilities(self):
        phi_g = preferred_orientations(self.n_units)
        bump = _von_mises_bump(
            self.kappa_o, CATEGORY_ORIENTATIONS[:, :, None] - phi_g[None, None, :]
        )
        return jnp.minimum(1.0, bump / self.n_units)

    def task_log_prior(self):
        return jax.nn.log_softmax(self.task_logits)


class FreeFormFeedback(AbstractFeedback):
    """Free-form feedback: the whole coupling matrix and unit table are parameters.

    ``coupling_matrix`` is used as ``C`` directly (keep it non-negative, e.g. by projecting
    after each optimiser step); ``unit_logits`` give ``p(g_k = 1 | T, O) = sigmoid(logit)``.
    """

    learnable_fields: ClassVar[tuple[str, ...]] = ("coupling_matrix", "unit_logits", "task_logits")
    non_negative_fields: ClassVar[tuple[str, ...]] = ("coupling_matrix",)

    coupling_matrix: Float[Array, "neurons units"]
    unit_logits: Float[Array, "tasks categories units"]
    task_logits: Float[Array, " tasks"]
    n_neurons: int = eqx.field(static=True)
    n_units: int = eqx.field(static=True)

    def __init__(self, coupling_matrix, unit_logits, task_logits=(0.0, 0.0)):
        self.coupling_matrix = jnp.asarray(coupling_matrix, dtype=float)
        self.unit_logits = jnp.asarray(unit_logits, dtype=float)
        self.task_logits = jnp.asarray(task_logits, dtype=float)
        if self.coupling_matrix.ndim != 2:
            raise ValueError("coupling_matrix: expected a (neurons, units) matrix")
        self.n_neurons, self.n_units = self.coupling_matrix.shape
        _check_sizes(self.n_neurons, self.n_units)
        expected = (len(TASKS), 2, self.n_units)
        if self.unit_logits.shape != expected:
            raise ValueError(
                f"unit_logits: expected shape {expected}, got {self.unit_logits.shape}"
            )
        if self.task_logits.shape != (len(TASKS),):
            raise ValueError(
                f"task_logits: expected shape ({len(TASKS)},), got {self.task_logits.shape}"
            )

    def coupling(self):
        return self.coupling_matrix

    def unit_probabilities(self):
        return jax.nn.sigmoid(self.unit_logits)

    def task_log_prior(self):
        return jax.nn.log_softmax(self.task_logits)
