"""Samplers as pure init/step kernels, the run loop, trial simulation, the numpyro reference."""

from . import gibbs, mala
from .gibbs import Conditionals, GibbsInfo, GibbsState, conditionals
from .loop import sample_chain
from .modes import LAYOUTS, MODES, InferenceMode, SamplerSettings, inference_mode
from .trial import TrialRecord, simulate_chunked, simulate_trial, simulate_trials
from .truncnorm import positive_normal

__all__ = [
    "Conditionals",
    "GibbsInfo",
    "GibbsState",
    "InferenceMode",
    "LAYOUTS",
    "MODES",
    "SamplerSettings",
    "TrialRecord",
    "conditionals",
    "gibbs",
    "inference_mode",
    "mala",
    "positive_normal",
    "sample_chain",
    "simulate_chunked",
    "simulate_trial",
    "simulate_trials",
]
