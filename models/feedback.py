"""Top-down feedback: how the context and category beliefs reach the middle layer and the neurons.

A feedback module supplies three things the hierarchical model needs:

- ``coupling()``: the matrix ``C`` (neurons x units) with ``tau = 1 + C g``, the mean of each
  sensory neuron given the middle layer ``g`` (the adult sensory model's coupling);
- ``unit_probabilities()``: ``p(g_k = 1 | K, O)`` as a (contexts x categories x units) table.
  Contexts are the two tasks and ``none`` (:data:`~bayescortex.models.stimuli.CONTEXTS`); under
  ``none`` there is no category and the table's row is task-free (the same rate for both
  categories, ``1 / N_g`` by default);
- ``context_log_prior(cue)``: ``log p(K | q)`` for the cue ``q`` (task trial or fixation,
  :data:`~bayescortex.models.stimuli.CUES`), a softmax of the learnable ``context_logits[q]``.

Two parametrisations share this interface. :class:`ParametricFeedback` is the reference model
(Haefner, Berkes & Fiser 2016) with a few scalars (``delta``, a category kernel ``kappa_o`` per
task, context logits); :class:`FreeFormFeedback` holds the full coupling matrix and the task
rows of the unit table, so task structure must emerge from training. All learnable quantities
are array leaves (so they can be vmapped over in sweeps and trained with optax); sizes are
static.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .stimuli import CATEGORY_ORIENTATIONS, CONTEXTS, CUES, TASKS, preferred_orientations


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


def _context_logits(value) -> Float[Array, "cues contexts"]:
    logits = jnp.zeros((len(CUES), len(CONTEXTS))) if value is None else jnp.asarray(value, float)
    if logits.shape != (len(CUES), len(CONTEXTS)):
        raise ValueError(
            f"context_logits: expected shape ({len(CUES)}, {len(CONTEXTS)}) (cues x contexts "
            f"{CONTEXTS}), got {logits.shape}"
        )
    return logits


def _with_none_row(task_rows: Float[Array, "tasks categories units"], rate):
    """Append the task-free row of context ``none`` (rate ``rate`` for both categories)."""
    none = jnp.full((1, *task_rows.shape[1:]), rate, dtype=task_rows.dtype)
    return jnp.concatenate([task_rows, none], axis=0)


class AbstractFeedback(eqx.Module):
    """Interface of a feedback parametrisation (see the module docstring)."""

    n_neurons: eqx.AbstractVar[int]
    n_units: eqx.AbstractVar[int]

    learnable_fields: ClassVar[tuple[str, ...]] = ()
    """The leaves that task learning fits (everything else is held fixed)."""
    non_negative_fields: ClassVar[tuple[str, ...]] = ()
    """Learnable leaves constrained to ``>= 0`` (see :meth:`project`)."""
    sensory_fields: ClassVar[tuple[str, ...]] = ()
    """The adult sensory model (the x-g coupling): learned, if at all, from all viewing (the
    marginal likelihood of the images) on a slow timescale, never from the task's outcome."""

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
    def unit_probabilities(self) -> Float[Array, "contexts categories units"]:
        """``p(g_k = 1 | K, O)``, each entry in [0, 1]; the ``none`` row is task-free."""

    context_logits: eqx.AbstractVar[Float[Array, "cues contexts"]]

    def context_log_prior(self, cue=0) -> Float[Array, " contexts"]:
        """Normalised ``log p(K | q = cue)``."""
        return jax.nn.log_softmax(self.context_logits[cue])


def _check_sizes(n_neurons: int, n_units: int) -> None:
    if n_neurons <= 0:
        raise ValueError(f"n_neurons: must be positive, got {n_neurons}")
    if n_units <= 0:
        raise ValueError(f"n_units: must be positive, got {n_units}")


class ParametricFeedback(AbstractFeedback):
    """The reference parametrisation, with a category kernel per task and a ``none`` context.

    For the tasks ``t``,
    ``p(g_k = 1 | K = t, O) = min(1, exp(k_t cos 2(phi_{t,O} - phi_k)) / (I0(k_t) N_g))`` with
    ``k_t = kappa_o[t]``, ``p(g_k = 1 | K = none) = 1 / N_g``, and
    ``C_ik = delta exp(kappa_g cos 2(phi_i - phi_k)) / I0(kappa_g)``.

    ``kappa_o = 0`` leaves the middle layer task-free (every context's row is ``1 / N_g``): the
    naive observer. ``delta`` is the sensory coupling (the reference scripts' trained value is
    0.08; 0 removes every top-down effect on the neurons). ``context_logits[q]`` are the
    unnormalised ``log p(K | q)`` for cue ``q`` (default: uniform over the three contexts).
    A scalar ``kappa_o`` is used for both tasks.

    >>> fb = ParametricFeedback(64, 16, delta=0.08)
    >>> fb.coupling().shape, fb.unit_probabilities().shape, fb.kappa_o.shape
    ((64, 16), (3, 2, 16), (2,))
    """

    learnable_fields: ClassVar[tuple[str, ...]] = ("delta", "kappa_o", "context_logits")
    non_negative_fields: ClassVar[tuple[str, ...]] = ("delta", "kappa_o")
    sensory_fields: ClassVar[tuple[str, ...]] = ("delta",)

    delta: Float[Array, ""]
    kappa_o: Float[Array, " tasks"]
    kappa_g: Float[Array, ""]
    context_logits: Float[Array, "cues contexts"]
    n_neurons: int = eqx.field(static=True)
    n_units: int = eqx.field(static=True)

    def __init__(
        self,
        n_neurons: int = 256,
        n_units: int = 64,
        *,
        delta: Float[ArrayLike, ""] = 0.08,
        kappa_o=1.0,
        kappa_g: Float[ArrayLike, ""] = 3.0,
        context_logits=None,
    ):
        _check_sizes(n_neurons, n_units)
        self.n_neurons, self.n_units = n_neurons, n_units
        self.delta = jnp.asarray(delta, dtype=float)
        self.kappa_o = jnp.broadcast_to(jnp.asarray(kappa_o, dtype=float), (len(TASKS),))
        self.kappa_g = jnp.asarray(kappa_g, dtype=float)
        self.context_logits = _context_logits(context_logits)

    def coupling(self):
        phi_x = preferred_orientations(self.n_neurons)
        phi_g = preferred_orientations(self.n_units)
        return self.delta * _von_mises_bump(self.kappa_g, phi_x[:, None] - phi_g[None, :])

    def unit_probabilities(self):
        phi_g = preferred_orientations(self.n_units)
        bump = _von_mises_bump(
            self.kappa_o[:, None, None],
            jnp.asarray(CATEGORY_ORIENTATIONS, phi_g.dtype)[:, :, None] - phi_g[None, None, :],
        )
        return _with_none_row(jnp.minimum(1.0, bump / self.n_units), 1.0 / self.n_units)


class FreeFormFeedback(AbstractFeedback):
    """Free-form feedback: the whole coupling matrix and the tasks' unit table are parameters.

    ``coupling_matrix`` is used as ``C`` directly (kept non-negative by :meth:`project`);
    ``unit_logits`` (tasks x categories x units) give ``p(g_k = 1 | K = t, O) = sigmoid(logit)``;
    the ``none`` context's row is the fixed task-free rate ``1 / N_g``.
    """

    learnable_fields: ClassVar[tuple[str, ...]] = (
        "coupling_matrix", "unit_logits", "context_logits",
    )  # fmt: skip
    non_negative_fields: ClassVar[tuple[str, ...]] = ("coupling_matrix",)
    sensory_fields: ClassVar[tuple[str, ...]] = ("coupling_matrix",)

    coupling_matrix: Float[Array, "neurons units"]
    unit_logits: Float[Array, "tasks categories units"]
    context_logits: Float[Array, "cues contexts"]
    n_neurons: int = eqx.field(static=True)
    n_units: int = eqx.field(static=True)

    def __init__(self, coupling_matrix, unit_logits, context_logits=None):
        self.coupling_matrix = jnp.asarray(coupling_matrix, dtype=float)
        self.unit_logits = jnp.asarray(unit_logits, dtype=float)
        self.context_logits = _context_logits(context_logits)
        if self.coupling_matrix.ndim != 2:
            raise ValueError("coupling_matrix: expected a (neurons, units) matrix")
        self.n_neurons, self.n_units = self.coupling_matrix.shape
        _check_sizes(self.n_neurons, self.n_units)
        expected = (len(TASKS), 2, self.n_units)
        if self.unit_logits.shape != expected:
            raise ValueError(
                f"unit_logits: expected shape {expected}, got {self.unit_logits.shape}"
            )

    def coupling(self):
        return self.coupling_matrix

    def unit_probabilities(self):
        return _with_none_row(jax.nn.sigmoid(self.unit_logits), 1.0 / self.n_units)
