"""Choice-related measures: choice probability and psychophysical kernels.

- Choice probability (CP) of a neuron: the area under the ROC curve separating its counts
  before choice 1 from those before choice 0, ``P(x1 > x0) + P(x1 = x0) / 2`` over all pairs
  of trials, computed on zero-signal trials so the stimulus does not drive it. Ties count one
  half (spike counts tie often); computed exactly by counting, in ``O(T log T)``.
- Psychophysical kernel: how strongly each stimulus frame's energy pushes the choice; the
  choice-conditioned average of frame energies, or the weights of a logistic or linear
  regression of choice on frame energies.

Choices are 0/1 (or bool). With the simulator's convention (``TrialRecord.choice``: 0 = the
first category, the one positive signals and positive frame energies stand for) a neuron
firing more for the first category has CP < 0.5; pass ``preferred`` (or ``1 - choice``) to
orient it.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike, Bool, Float

from .fisher import spd_solve
from .recording import as_choices, as_counts, as_float_array, as_trial_vector, check_finite


def _auc(x: Float[Array, " trials"], chose_one: Bool[Array, " trials"]) -> Float[Array, ""]:
    # Count, for each choice-1 trial, the choice-0 trials below and level with it. Choice-1
    # entries become +inf in the reference set so searchsorted only sees choice-0 counts.
    reference = jnp.sort(jnp.where(chose_one, jnp.inf, x))
    below = jnp.searchsorted(reference, x, side="left")
    level = jnp.searchsorted(reference, x, side="right") - below
    n1 = jnp.sum(chose_one)
    n0 = x.shape[0] - n1
    wins = jnp.sum(jnp.where(chose_one, below + 0.5 * level, 0.0))
    return wins / (n1 * n0)


@jax.jit
def roc_auc(
    x: Float[Array, " trials *rest"], chose_one: Bool[Array, " trials"]
) -> Float[Array, "*rest"]:
    """ROC AUC of ``x`` for choice 1 against choice 0, ties one half; traceable, batched.

    NaN when a choice never occurs.

    >>> auc = roc_auc(jnp.array([1.0, 2.0, 2.0, 2.0, 0.0]), jnp.array([1, 1, 1, 0, 0]) == 1)
    >>> round(float(auc), 6)  # pairs: 1<2, 1>0, 2=2, 2>0, 2=2, 2>0 -> 4/6
    0.666667
    """
    flat = x.reshape(x.shape[0], -1)
    auc = jax.vmap(_auc, in_axes=(1, None))(flat, chose_one)
    return auc.reshape(x.shape[1:])


def choice_probability(
    counts: Float[ArrayLike, "trials *time neurons"] | xr.DataArray,
    choices: ArrayLike | xr.DataArray,
    *,
    preferred: ArrayLike | None = None,
) -> Float[Array, "*time neurons"]:
    """Choice probability of every neuron (and time bin) as a proper ROC AUC.

    Pass only zero-signal trials (or counts with the signal's effect removed), or the CP
    mixes choice with stimulus.

    Args:
        counts: (trial, neuron) or (trial, time, neuron) counts, or a DataArray with dims
            ``trial``, ``neuron`` (optionally ``time``).
        choices: 0/1 per trial.
        preferred: optional per-neuron preferred choice (0/1); CP is then oriented so that
            CP > 0.5 means more spikes before the preferred choice (``1 - AUC`` where the
            preferred choice is 0).

    Returns:
        CP in [0, 1], ``P(x | choice 1 > x | choice 0) + ties / 2`` (oriented by
        ``preferred`` when given); 0.5 means no choice-related activity.

    Raises:
        ValueError: naming ``counts``/``choices``/``preferred`` for NaN counts, non-binary
            choices, a choice that never occurs, or mismatched lengths.

    >>> cp = choice_probability(jnp.array([[1.0], [2.0], [2.0], [2.0], [0.0]]),
    ...                         jnp.array([1, 1, 1, 0, 0]))
    >>> round(float(cp[0]), 4)
    0.6667
    """
    c = as_counts(counts)
    ch = as_choices(choices, c.values.shape[0])
    n1 = int(ch.sum())
    if n1 == 0 or n1 == ch.size:
        raise ValueError(f"choices: both choices must occur; {n1} of {ch.size} trials chose 1")
    cp = roc_auc(c.values, jnp.asarray(ch == 1))
    if preferred is None:
        return cp
    pref = as_float_array(preferred, "preferred")
    if pref.shape != cp.shape[-1:] or not bool(jnp.all((pref == 0) | (pref == 1))):
        raise ValueError(
            f"preferred: expected one 0/1 per neuron ({cp.shape[-1]}), got shape {pref.shape}"
        )
    return jnp.where(pref.reshape((1,) * (cp.ndim - 1) + pref.shape) == 1, cp, 1.0 - cp)


KernelMethod = Literal["average", "logistic", "linear"]


@functools.partial(jax.jit, static_argnames=("n_iter",))
def _logistic_weights(x, y, l2, n_iter):
    # Newton's method on the penalised log-likelihood; the intercept (column 0) is not
    # penalised. Energies are of modest dimension (frames x channels), so the exact Hessian
    # is cheap and converges in a few steps.
    d = x.shape[1]
    penalty = l2 * jnp.diag(jnp.ones(d).at[0].set(0.0))

    def step(_, w):
        p = jax.nn.sigmoid(x @ w)
        grad = x.T @ (y - p) - penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        return w + spd_solve(hess + 1e-9 * jnp.eye(d), grad)

    return jax.lax.fori_loop(0, n_iter, step, jnp.zeros(d, x.dtype))


def psychophysical_kernel(
    energy: Float[ArrayLike, "trials frames *channels"],
    choices: ArrayLike,
    *,
    signal: ArrayLike | None = None,
    method: KernelMethod = "average",
    l2: float = 1e-3,
    n_iter: int = 25,
) -> Float[Array, " frames *channels"]:
    """Psychophysical kernel: the weight of each frame's stimulus energy on the choice.

    Args:
        energy: per-frame stimulus energy, (trials, frames) or (trials, frames, channels),
            e.g. :meth:`bayescortex.models.stimuli.Stimulus.energy` per trial.
        choices: 0/1 per trial; the kernel describes evidence for choice 1.
        signal: optional signal level per trial; the mean energy of each level is removed
            first, so only the noise fluctuations drive the kernel (use it when trials with
            signal are included).
        method: ``"average"``: ``mean(E | choice 1) - mean(E | choice 0)`` per frame
            (energy units); ``"logistic"``: weights of a logistic regression of choice on all
            frame energies with an intercept (log-odds per energy unit); ``"linear"``:
            least-squares weights of choice on the energies (choice per energy unit).
        l2: ridge penalty on the regression weights (keeps separable data finite).
        n_iter: Newton steps for ``"logistic"``.

    Returns:
        The kernel, shape (frames,) or (frames, channels).

    >>> import jax
    >>> e = jax.random.normal(jax.random.key(0), (4000, 5))
    >>> w = jnp.array([1.0, 0.8, 0.6, 0.4, 0.2])
    >>> choice = (e @ w + jax.random.normal(jax.random.key(1), (4000,)) > 0).astype(int)
    >>> k = psychophysical_kernel(e, choice, method="logistic")
    >>> bool(jnp.corrcoef(k, w)[0, 1] > 0.95)
    True
    """
    e = as_float_array(energy, "energy")
    if e.ndim not in (2, 3):
        raise ValueError(
            f"energy: expected (trial, frame) or (trial, frame, channel), got shape {e.shape}"
        )
    check_finite(e, "energy")
    n_trials = e.shape[0]
    ch = as_choices(choices, n_trials)
    n1 = int(ch.sum())
    if n1 == 0 or n1 == n_trials:
        raise ValueError(f"choices: both choices must occur; {n1} of {n_trials} trials chose 1")
    x = e.reshape(n_trials, -1)
    if signal is not None:
        sig = as_trial_vector(signal, "signal", n_trials)
        _, level = np.unique(sig, return_inverse=True)
        n_levels = int(level.max()) + 1
        sums = jax.ops.segment_sum(x, level, num_segments=n_levels)
        sizes = np.bincount(level, minlength=n_levels).astype(float)[:, None]
        x = x - (sums / sizes)[level]
    y = jnp.asarray(ch, dtype=x.dtype)
    if method == "average":
        kernel = (jnp.sum(x * y[:, None], axis=0) / n1) - (
            jnp.sum(x * (1 - y)[:, None], axis=0) / (n_trials - n1)
        )
    elif method in ("logistic", "linear"):
        if not l2 >= 0:
            raise ValueError(f"l2: expected a non-negative penalty, got {l2}")
        design = jnp.concatenate([jnp.ones((n_trials, 1), x.dtype), x], axis=1)
        if method == "logistic":
            kernel = _logistic_weights(design, y, l2, n_iter=n_iter)[1:]
        else:
            xc = x - jnp.mean(x, axis=0, keepdims=True)
            gram = xc.T @ xc + l2 * jnp.eye(x.shape[1])
            kernel = spd_solve(gram, xc.T @ (y - jnp.mean(y)))
    else:
        raise ValueError(f"method: expected 'average', 'logistic' or 'linear', got {method!r}")
    return kernel.reshape(e.shape[1:])


__all__ = ["KernelMethod", "choice_probability", "psychophysical_kernel", "roc_auc"]
