"""``bayescortex train``: learn the top-down feedback over sessions (see :mod:`.run`; the
learning curves and summary text: :mod:`.report`)."""

from ..learning_setup import DEFAULT_LEARNING_RATE
from .config import LEGACY, RESUMABLE, TrainConfig
from .report import drive_alignment, learning_curves, summary_text
from .run import load_model, main, train

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
