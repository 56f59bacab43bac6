"""Inference modes (ablations of the top-down path) and sampler settings.

Engagement itself is not a mode: it is the cue of a trial (task or fixation), whose context
prior ``p(K | q)`` the model learns, and what the model infers about the context decides how
much the task structure shapes the responses (see :mod:`bayescortex.models.hierarchical`). An
:class:`InferenceMode` cuts parts of the top-down path, for ablations and for comparison with
the authors' scripts. Its three knobs are arrays, so sweeps can vmap over them:

- ``category_feedback`` (alpha_g): the middle layer's prior is
  ``alpha_g p(g | K, O) + (1 - alpha_g) sum_{K,O} p(K, O | q) p(g | K, O)``, with ``(K, O)``
  the sampled belief. 1 feeds the belief back; 0 leaves the prior mixture.
- ``coupling_feedback`` (alpha_x): scales the x-g coupling, ``tau = 1 + alpha_x C g``.
- ``memory``: 1 accumulates evidence over samples (``log p_t = log p_{t-1} + odds * log p(g|K,O)``);
  0 forgets it (``log p_t = log p(K, O | q) + odds * log p(g|K,O)``).
- ``apical_gain`` (g_a, default 1): how much of the top-down drive reaches the sensory neurons'
  own update, the same parameter as the BCI model's apical gain. The neurons are drawn with
  means ``1 + g_a (tau - 1)`` while the middle layer still reads them through the full
  ``tau`` (bottom-up intact): 0 blocks the apical input of the sensory layer, as silencing
  its dendrites would, without cutting what the layers above infer from it. Unlike the other
  knobs it makes the sampler's updates inconsistent with one joint density (a blocked
  dendrite is not Bayesian inference); at 1 the sampler is exact Gibbs, bit for bit as
  without it.

Named modes:

========================  =======  =======  ======
mode                      alpha_g  alpha_x  memory
========================  =======  =======  ======
``engaged``               1        1        1
``cut``                   0        0        1
``coupling_only``         0        1        1
``no_accumulation``       1        1        0
========================  =======  =======  ======

``engaged`` is full inference, used with either cue. ``cut`` is passive viewing as the
authors' simulations define it (their top-down strength alpha = 0): no top-down signal reaches
the sensory layer, so ``tau = 1`` and the responses do not depend on the learned feedback at
all; the passive null then holds by construction, which is why bayescortex models passive
viewing by the fixation cue instead and keeps ``cut`` as an ablation. ``coupling_only`` cuts
the category belief but keeps the x-g coupling. The reference scripts' top-down strength mixes
toward the *sum* over categories; we mix toward the prior *mixture* so that the belief-cut and
engaged models expect the same overall activity.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


class InferenceMode(eqx.Module):
    """How much task belief is fed back during inference (see the module docstring)."""

    category_feedback: Float[Array, ""]
    coupling_feedback: Float[Array, ""]
    memory: Float[Array, ""]
    apical_gain: Float[Array, ""]

    def __init__(self, category_feedback=1.0, coupling_feedback=1.0, memory=1.0, apical_gain=1.0):
        for name, value in (
            ("category_feedback", category_feedback),
            ("coupling_feedback", coupling_feedback),
            ("memory", memory),
            ("apical_gain", apical_gain),
        ):
            v = jnp.asarray(value, dtype=float)
            if _concrete(v) and not np.all((np.asarray(v) >= 0) & (np.asarray(v) <= 1)):
                raise ValueError(f"{name}: must lie in [0, 1], got {value}")
            setattr(self, name, v)


MODES: dict[str, tuple[float, float, float]] = {
    "engaged": (1.0, 1.0, 1.0),
    "cut": (0.0, 0.0, 1.0),
    "coupling_only": (0.0, 1.0, 1.0),
    "no_accumulation": (1.0, 1.0, 0.0),
}


def check_mode_name(name: str) -> str:
    """``name`` if it names an inference mode (:data:`MODES`), else a ValueError."""
    if name not in MODES:
        raise ValueError(f"mode: unknown inference mode {name!r}; expected one of {tuple(MODES)}")
    return name


def inference_mode(name: str) -> InferenceMode:
    """The named inference mode: 'engaged', 'cut', 'coupling_only' or 'no_accumulation'."""
    return InferenceMode(*MODES[check_mode_name(name)])


LAYOUTS = ("reference", "presignal")
"""Trial layouts of :class:`SamplerSettings` (see its docstring)."""


def check_layout(n_samples: int, n_presignal: int, burn_in: int, n_bins: int, layout: str):
    """ValueError naming the first of a trial layout's sizes that :class:`SamplerSettings`
    refuses (plain integers: configurations check it without building any array)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: one of {LAYOUTS}, got {layout!r}")
    if layout == "reference" and n_samples < 2:
        raise ValueError(
            "n_samples: at least 2 under layout 'reference' (sample 1 is the initial draw), "
            f"got {n_samples}"
        )
    if n_presignal < 0:
        raise ValueError(f"n_presignal: must be >= 0, got {n_presignal}")
    if not 0 <= burn_in < n_samples:
        raise ValueError(f"burn_in: must lie in [0, n_samples), got {burn_in}")
    if n_bins > n_samples - burn_in:
        raise ValueError(f"n_bins: at most n_samples - burn_in, got {n_bins}")


class SamplerSettings(eqx.Module):
    """Layout of a trial (static) and the sampler's continuous constants (traced).

    A trial has ``n_samples`` samples read out (belief, counts) and a pre-signal period of
    ``n_presignal`` samples before the belief starts to accumulate evidence. ``layout`` says
    what that period is:

    - ``"reference"`` (default; the authors' scripts): every sample sees the stimulus. Sample 1
      is the ancestral initial draw (``(K, O)`` from the prior, ``g | K, O``, ``x | g``; its
      belief is the prior), samples ``2 .. n_samples`` are Gibbs sweeps (``n_samples - 1`` of
      them). For samples ``2 .. n_presignal`` the belief is recomputed from the prior, with the
      current sample's evidence alone (no memory); from sample ``n_presignal + 1`` on it
      accumulates, the previous posterior acting as prior. With ``n_presignal >= n_samples``
      no sample accumulates.
    - ``"presignal"`` (bayescortex's first reading): ``n_presignal`` extra sweeps on a
      signal-free image, during which the belief is not updated (the prior is carried into the
      signal), then ``n_samples`` sweeps on the stimulus; the samples are these sweeps (the
      initial draw is not one of them).

    The inference mode's ``memory`` still applies after the pre-signal period (``memory = 0``
    never accumulates). Spike counts sum the neurons' samples ``burn_in + 1 .. n_samples``
    (``burn_in`` samples are discarded from the counts; under ``"reference"`` ``burn_in = 0``
    counts the initial draw), split into ``n_bins`` consecutive time bins.

    ``contrast_prior``: 'clamped' keeps ``s = contrast_init``; 'slow' samples ``s`` under a
    random-walk prior truncated at 0 with step sd ``contrast_step``, starting at
    ``contrast_init``.

    ``x_sampler``: 'gibbs' (exact sequential truncated-normal updates) or 'mala' (``mala_steps``
    Metropolis-adjusted Langevin steps on the whole x block per sweep, reflected at 0).

    ``choice_temperature``: how the choice follows the final belief
    (:func:`~bayescortex.inference.trial.decide`): 0, the deterministic observer (the side the
    belief favours); 1, a sample of the category from the belief.

    Sizes and algorithm choices (the layout included) are static fields (changing one
    recompiles); the continuous constants ``odds_increment``, ``contrast_init``,
    ``contrast_step``, ``mala_step_size`` and ``choice_temperature`` are array leaves, so a
    sweep can vmap over them and changing one never recompiles. Their range checks run where
    the values are concrete (not under ``jit``/``vmap``).

    >>> SamplerSettings().n_sweeps, SamplerSettings(layout="presignal").n_sweeps
    (99, 120)
    """

    n_samples: int = eqx.field(static=True, default=100)
    n_presignal: int = eqx.field(static=True, default=20)
    burn_in: int = eqx.field(static=True, default=3)
    n_bins: int = eqx.field(static=True, default=4)
    # The choices are checked by __check_init__ (its errors list them), so typed as str.
    layout: str = eqx.field(static=True, default="reference")
    contrast_prior: str = eqx.field(static=True, default="slow")
    x_sampler: str = eqx.field(static=True, default="gibbs")
    mala_steps: int = eqx.field(static=True, default=5)
    odds_increment: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=1.0 / 20)
    contrast_init: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.1)
    contrast_step: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.1)
    mala_step_size: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.01)
    choice_temperature: Float[Array, ""] = eqx.field(converter=jnp.asarray, default=0.0)

    def __check_init__(self):
        for name in ("n_samples", "n_bins", "mala_steps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("odds_increment", "contrast_init", "contrast_step", "mala_step_size"):
            value = getattr(self, name)
            if _concrete(value) and not np.all(np.isfinite(value) & (np.asarray(value) > 0)):
                raise ValueError(f"{name}: must be positive and finite, got {value}")
        t = self.choice_temperature
        if _concrete(t) and not np.all(np.isfinite(t) & (np.asarray(t) >= 0)):
            raise ValueError(f"choice_temperature: must be >= 0 and finite, got {t}")
        check_layout(self.n_samples, self.n_presignal, self.burn_in, self.n_bins, self.layout)
        if self.contrast_prior not in ("clamped", "slow"):
            raise ValueError(f"contrast_prior: 'clamped' or 'slow', got {self.contrast_prior!r}")
        if self.x_sampler not in ("gibbs", "mala"):
            raise ValueError(f"x_sampler: 'gibbs' or 'mala', got {self.x_sampler!r}")

    @property
    def n_sweeps(self) -> int:
        """Gibbs sweeps of a trial: ``n_samples - 1`` under ``"reference"`` (the initial draw is
        sample 1), ``n_presignal + n_samples`` under ``"presignal"``."""
        if self.layout == "reference":
            return self.n_samples - 1
        return self.n_presignal + self.n_samples
