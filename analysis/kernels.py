"""Psychophysical kernels: how strongly each stimulus frame's energy pushes the choice.

A kernel is the choice-conditioned average of frame energies
(:func:`choice_triggered_average`), or the weights of a logistic or linear regression of the
choice on the frame energies (:func:`psychophysical_kernel`, :func:`logistic_kernel`).
:func:`kernel_shape` summarises a kernel's time course against the ideal observer's flat
kernel (late minus early, slope).

:func:`choice_triggered_average` and :func:`logistic_kernel` are the traceable building
blocks for simulated experiments: they take per-trial non-negative weights (Poisson bootstrap
weights; an integer weight ``k`` counts a trial ``k`` times) and run under ``jax.jit``/``vmap``
(input checks run only on concrete inputs). Choices follow
:mod:`bayescortex.analysis.choice`'s convention (0/1; 0 = the first category, the one
positive frame energies stand for).
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .choice import _choice_mask, _trial_weights
from .linalg import spd_solve
from .recording import ArrayInput, as_choices, as_float_array, as_trial_vector, check_finite

KernelMethod = Literal["average", "logistic", "linear"]


@functools.partial(jax.jit, static_argnames=("n_iter",))
def _logistic_weights(x, y, l2, n_iter, weights=None):
    # Newton's method on the penalised log-likelihood; the intercept (column 0) is not
    # penalised. Energies are of modest dimension (frames x channels), so the exact Hessian
    # is cheap and converges in a few steps. ``weights`` (per trial, None: unit weights)
    # multiply each trial's log-likelihood term, so an integer weight k counts a trial k times.
    d = x.shape[1]
    penalty = l2 * jnp.diag(jnp.ones(d).at[0].set(0.0))

    if weights is None:

        def step(_, w):
            p = jax.nn.sigmoid(x @ w)
            grad = x.T @ (y - p) - penalty @ w
            hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
            return w + spd_solve(hess + 1e-9 * jnp.eye(d), grad)

    else:
        mm = functools.partial(jnp.matmul, precision="highest")  # no TF32 on accelerators

        def step(_, w):
            p = jax.nn.sigmoid(mm(x, w))
            grad = mm(x.T, weights * (y - p)) - mm(penalty, w)
            hess = mm((x * (weights * p * (1 - p))[:, None]).T, x) + penalty
            return w + spd_solve(hess + 1e-9 * jnp.eye(d, dtype=x.dtype), grad)

    return jax.lax.fori_loop(0, n_iter, step, jnp.zeros(d, x.dtype))


def psychophysical_kernel(
    energy: ArrayInput,
    choices: ArrayInput,
    *,
    signal: ArrayInput | None = None,
    method: str = "average",
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


@jax.jit
def _choice_triggered_average(e, chose_one, w):
    flat = e.reshape(e.shape[0], -1)
    w1 = jnp.where(chose_one, w, 0.0)
    w0 = jnp.where(chose_one, 0.0, w)
    mean1 = jnp.matmul(w1, flat, precision="highest") / jnp.sum(w1)
    mean0 = jnp.matmul(w0, flat, precision="highest") / jnp.sum(w0)
    return (mean1 - mean0).reshape(e.shape[1:])


def choice_triggered_average(
    energy: ArrayInput,
    chose_one: ArrayInput,
    weights: ArrayInput | None = None,
) -> Float[Array, " frames *channels"]:
    """The "average" psychophysical kernel with trial weights; traceable.

    ``E_w[energy | choice 1] - E_w[energy | choice 0]`` per frame (and channel), the weighted
    means over the trials of each choice. With unit weights it equals
    ``psychophysical_kernel(energy, choices, method="average")``; integer weights count
    trials that many times. For a linear observer with Gaussian frame energies
    (``choice 1`` when ``sum_f w_f e_f + noise > 0``) it is proportional to ``w``.

    Args:
        energy: (trials, frames, *channels) stimulus energy per frame.
        chose_one: 0/1 (or bool) per trial.
        weights: non-negative weight per trial; None for unit weights.

    Returns:
        The kernel, shape (frames, *channels); NaN when either choice has zero total weight.

    Raises:
        ValueError: naming ``energy``, ``chose_one`` or ``weights`` for mismatched shapes
            and, on concrete inputs only, NaN/inf values, non-binary choices or negative
            weights.

    >>> e = jnp.array([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0], [0.0, 1.0]])
    >>> w = jnp.array([1.0, 1.0, 1.0, 3.0])
    >>> # choice 1: (1 + 3) / 2, (0 + 2) / 2; choice 0: (0 + 3 * 0) / 4, (1 + 3 * 1) / 4
    >>> choice_triggered_average(e, jnp.array([1, 1, 0, 0]), w).tolist()
    [2.0, 0.0]
    """
    e = as_float_array(energy, "energy")
    if e.ndim < 2:
        raise ValueError(f"energy: expected (trials, frames, *channels), got shape {e.shape}")
    check_finite(e, "energy")
    mask = _choice_mask(chose_one, e.shape[0], "chose_one")
    w = _trial_weights(weights, e.shape[0])
    return _choice_triggered_average(e, mask, w)


def logistic_kernel(
    energy: ArrayInput,
    chose_one: ArrayInput,
    weights: ArrayInput | None = None,
    *,
    l2: float = 1e-3,
    n_iter: int = 25,
) -> Float[Array, " frames *channels"]:
    """The "logistic" psychophysical kernel with trial weights; traceable.

    The weights ``b`` of a penalised logistic regression of the choice on every frame's
    (and channel's) energy, with an unpenalised intercept ``a``: they maximise
    ``sum_t w_t [y_t log p_t + (1 - y_t) log(1 - p_t)] - l2 |b|^2 / 2`` with
    ``p_t = sigmoid(a + b . e_t)`` and ``y_t = 1`` where trial ``t`` chose 1 (Newton's
    method from 0, ``n_iter`` steps, the exact Hessian). With unit weights it equals
    ``psychophysical_kernel(energy, choices, method="logistic", l2=l2)`` (to float
    rounding); an integer weight ``k`` counts a trial ``k`` times, so Poisson(1) weights
    give a Poisson bootstrap resample's fit. Unlike :func:`choice_triggered_average`, which
    for correlated frames mixes each frame's weight with its neighbours', the regression
    separates the frames' contributions; for a logistic observer it recovers the observer's
    weights (in log-odds per energy unit) up to the penalty's shrinkage.

    Args:
        energy: (trials, frames, *channels) stimulus energy per frame.
        chose_one: 0/1 (or bool) per trial.
        weights: non-negative weight per trial; None for unit weights.
        l2: ridge penalty on the frame weights (not the intercept): keeps separable data
            finite.
        n_iter: Newton steps.

    Returns:
        The kernel, shape (frames, *channels), in log-odds of choice 1 per unit energy.

    Raises:
        ValueError: naming ``energy``, ``chose_one``, ``weights`` or ``l2`` for mismatched
            shapes, a negative penalty and, on concrete inputs only, NaN/inf values,
            non-binary choices or negative weights.

    >>> import jax
    >>> e = jax.random.normal(jax.random.key(0), (4000, 3))
    >>> p = jax.nn.sigmoid(e @ jnp.array([1.5, 1.0, 0.5]))
    >>> choice = jax.random.uniform(jax.random.key(1), (4000,)) < p
    >>> [round(v, 1) for v in logistic_kernel(e, choice).tolist()]
    [1.5, 1.0, 0.5]
    """
    e = as_float_array(energy, "energy")
    if e.ndim < 2:
        raise ValueError(f"energy: expected (trials, frames, *channels), got shape {e.shape}")
    check_finite(e, "energy")
    if not l2 >= 0:
        raise ValueError(f"l2: expected a non-negative penalty, got {l2}")
    n_trials = e.shape[0]
    mask = _choice_mask(chose_one, n_trials, "chose_one")
    w = _trial_weights(weights, n_trials).astype(e.dtype)
    x = e.reshape(n_trials, -1)
    design = jnp.concatenate([jnp.ones((n_trials, 1), x.dtype), x], axis=1)
    b = _logistic_weights(design, mask.astype(x.dtype), l2, n_iter=n_iter, weights=w)
    return b[1:].reshape(e.shape[1:])


class KernelShape(NamedTuple):
    """The time course of a psychophysical kernel, against the ideal observer's flat kernel.

    ``late_minus_early`` and ``slope`` are in the kernel's own units, so they stay finite and
    smooth where the kernel's mean is near 0 (a ratio to the mean would not: in a bootstrap
    whose replicates put the mean on either side of 0 its interval is unbounded). Divide them
    by ``mean`` for scale-free numbers that compare kernels in different units.

    Attributes:
        mean: the kernel's mean over frames (the height of the flat kernel it is compared to).
        normalized: the kernel divided by ``mean`` (1 everywhere when flat; inf/NaN where
            ``mean`` is 0).
        late_minus_early: mean of the second half of the frames minus the mean of the first
            half (the middle frame of an odd count is left out): 0 for a flat kernel, negative
            for primacy (early frames weigh more), positive for recency.
        slope: least-squares slope of the kernel against the frame index scaled to ``[0, 1]``
            (first frame 0, last 1): 0 when flat, negative for primacy.
    """

    mean: Float[Array, "*channels"]
    normalized: Float[Array, " frames *channels"]
    late_minus_early: Float[Array, "*channels"]
    slope: Float[Array, "*channels"]


@functools.partial(jax.jit, static_argnames=("axis",))
def _kernel_shape(k, axis):
    k = jnp.moveaxis(k, axis, 0)
    n, half = k.shape[0], k.shape[0] // 2
    mean = jnp.mean(k, axis=0)
    late_minus_early = jnp.mean(k[n - half :], axis=0) - jnp.mean(k[:half], axis=0)
    t = jnp.arange(n, dtype=k.dtype) / (n - 1)
    t = (t - jnp.mean(t)).reshape((n,) + (1,) * (k.ndim - 1))
    slope = jnp.sum(t * k, axis=0) / jnp.sum(t**2)
    normalized = k / mean[None]
    return KernelShape(mean, jnp.moveaxis(normalized, 0, axis), late_minus_early, slope)


def kernel_shape(kernel: ArrayInput, *, axis: int = 0) -> KernelShape:
    """Summary numbers of a kernel's time course: mean, normalised kernel, late - early, slope.

    The ideal observer integrates all frames equally (a flat kernel); a kernel that decays
    over the trial (primacy, as from a bottom-up/top-down feedback loop that commits early)
    gives negative ``late_minus_early`` and ``slope``. Both are differences in the kernel's
    units, defined whatever its mean; ``late_minus_early / mean`` is the scale-free version.
    Traceable.

    Args:
        kernel: the kernel, (frames, *channels) with the default ``axis``, e.g. from
            :func:`choice_triggered_average` or :func:`psychophysical_kernel`.
        axis: the frame axis (default 0); the summaries are over it.

    Returns:
        A :class:`KernelShape`. Only ``normalized`` is inf/NaN where the kernel's mean over
        frames is 0.

    Raises:
        ValueError: naming ``kernel`` when it has fewer than 2 frames, or ``axis``.

    >>> s = kernel_shape(jnp.array([4.0, 3.0, 2.0, 1.0]))
    >>> [round(v, 4) for v in s.normalized.tolist()]
    [1.6, 1.2, 0.8, 0.4]
    >>> round(float(s.late_minus_early), 4), round(float(s.slope), 4), float(s.mean)
    (-2.0, -3.0, 2.5)
    """
    k = as_float_array(kernel, "kernel")
    if not -k.ndim <= axis < k.ndim:
        raise ValueError(f"axis: {axis} is out of range for a kernel of shape {k.shape}")
    if k.shape[axis] < 2:
        raise ValueError(f"kernel: needs at least 2 frames along axis {axis}, got {k.shape}")
    check_finite(k, "kernel")
    return _kernel_shape(k, axis % k.ndim)


__all__ = [
    "KernelMethod",
    "KernelShape",
    "choice_triggered_average",
    "kernel_shape",
    "logistic_kernel",
    "psychophysical_kernel",
]
