"""Generative models: stimuli, projective fields, the hierarchical task model, its feedback;
two-compartment neurons learning a brain-computer-interface task (import them from
:mod:`bayescortex.models.bci`, :mod:`bayescortex.models.bci_rules`,
:mod:`bayescortex.models.bci_task` and :mod:`bayescortex.models.bci_session`).

The models, the sampler and the experiments need the ``[models]`` extra (equinox, numpyro,
optax, flax, matplotlib); the estimators in :mod:`bayescortex.analysis` do not."""

try:
    import equinox  # noqa: F401
except ModuleNotFoundError as error:  # pragma: no cover - exercised in a fresh venv by CI
    raise ModuleNotFoundError(
        "bayescortex.models needs the model stack (equinox, numpyro, optax, flax, matplotlib): "
        "pip install 'bayescortex[models]'",
        name=error.name,
    ) from error

from .feedback import AbstractFeedback, FreeFormFeedback, ParametricFeedback
from .hierarchical import HierarchicalModel, Latents, reference_model
from .stimuli import (
    CATEGORY_ORIENTATIONS,
    CONTEXTS,
    CUES,
    NONE_CONTEXT,
    TASKS,
    Stimulus,
    category_of,
    grating,
    is_correct,
    preferred_orientations,
    projective_field,
    projective_fields,
    task_index,
)

__all__ = [
    "AbstractFeedback",
    "CATEGORY_ORIENTATIONS",
    "CONTEXTS",
    "CUES",
    "NONE_CONTEXT",
    "FreeFormFeedback",
    "HierarchicalModel",
    "Latents",
    "ParametricFeedback",
    "Stimulus",
    "TASKS",
    "category_of",
    "is_correct",
    "grating",
    "preferred_orientations",
    "projective_field",
    "projective_fields",
    "reference_model",
    "task_index",
]
