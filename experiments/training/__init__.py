"""``bayescortex train``: learn the top-down feedback over sessions (see :mod:`.run`)."""

from ..protocol import DEFAULT_LEARNING_RATE
from .config import LEGACY, RESUMABLE, TrainConfig
from .run import drive_alignment, learning_curves, load_model, main, summary_text, train

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "LEGACY",
    "RESUMABLE",
    "TrainConfig",
    "drive_alignment",
    "learning_curves",
    "load_model",
    "main",
    "summary_text",
    "train",
]
