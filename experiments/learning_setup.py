"""How the feedback learns, around the compiled session: step sizes, optimiser, learned values.

The default Adam step size of every objective and feedback family (:data:`DEFAULT_LEARNING_RATE`,
:func:`learning_rate`, which the experiment configs resolve their ``learning_rate`` with), the
optax optimiser a :class:`~bayescortex.experiments.protocol.Protocol` names
(:func:`optimizer`, the one :func:`~bayescortex.experiments.protocol.train_session` steps
with), and the learned quantities of a feedback as a flat, named vector
(:func:`feedback_parameters`, :func:`parameter_names`), which the experiments record after
every session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from bayescortex.models import CONTEXTS, CUES, TASKS, ParametricFeedback

if TYPE_CHECKING:
    from .protocol import Hyper, Protocol


DEFAULT_LEARNING_RATE = {
    ("conditional", "parametric"): 0.05,
    ("conditional", "free_form"): 0.05,
    ("joint", "parametric"): 0.005,
    ("joint", "free_form"): 0.02,
    ("reward", "parametric"): 0.05,
    ("reward", "free_form"): 0.05,
    ("trial", "parametric"): 0.05,
    ("trial", "free_form"): 0.05,
}
"""Adam step sizes by objective and feedback family. Joint EM: parametric accuracy peaks after
2-5 sessions at N_x = 256, the free-form feedback learns more slowly. Conditional: the kernels
start at 0 and the gradient vanishes as the choices become certain, so larger steps are safe."""


def learning_rate(feedback: str, given: float | None, objective: str = "conditional") -> float:
    """``given``, or the default step size of the objective and feedback family."""
    return DEFAULT_LEARNING_RATE[objective, feedback] if given is None else given


PARAMETER_NAMES = (
    ("delta",)
    + tuple(f"kappa_o_{t}" for t in TASKS)
    + ("kappa_g",)
    + tuple(f"p_{k}_given_{q}" for q in CUES for k in CONTEXTS)
)
"""What :func:`feedback_parameters` returns: the parametric feedback's scalars (free-form: only
the context probabilities) and the context prior ``p(K | q)`` of each cue."""


def feedback_parameters(feedback) -> Float[Array, " parameters"]:
    """The learned quantities as a flat vector named by :func:`parameter_names`."""
    contexts = jax.nn.softmax(feedback.context_logits, axis=-1).reshape(-1)
    if not isinstance(feedback, ParametricFeedback):
        return contexts
    scalars = jnp.concatenate([feedback.delta[None], feedback.kappa_o, feedback.kappa_g[None]])
    return jnp.concatenate([scalars, contexts])


def parameter_names(feedback: str) -> list[str]:
    """Names of :func:`feedback_parameters` for a feedback family."""
    n_ctx = len(CUES) * len(CONTEXTS)
    return list(PARAMETER_NAMES if feedback == "parametric" else PARAMETER_NAMES[-n_ctx:])


def optimizer(protocol: Protocol, hyper: Hyper) -> optax.GradientTransformation:
    """The optax optimiser; its step size is the traced ``hyper.learning_rate``."""
    make = {"adam": optax.adam, "sgd": optax.sgd}[protocol.optimizer]
    return make(hyper.learning_rate)
