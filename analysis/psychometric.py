"""Psychometric curves and learning: logistic fits, the learning index, correlations over
sessions.

- Psychometric fit: ``p(first category | c) = sigmoid(beta c + bias)`` by maximum likelihood
  on the fraction of "first category" choices at each signed contrast ``c``, with the number
  of trials (or Poisson bootstrap weights) per level as weights. Signed contrast follows the
  experiments: positive ``c`` is evidence for the first category (with the simulator's
  ``TrialRecord.choice``, 0 is the first category, so ``p_first`` is the fraction of
  ``choice == 0``). ``beta`` is the observer's sensitivity: the contrast threshold (e.g. for
  75% correct) is proportional to ``1 / beta``.
- Learning index: ``beta_s - beta_reference`` per session, the gain in psychometric slope
  since the naive session (sensitivity in log-odds per unit contrast). A log ratio of slopes
  (of thresholds) would be scale-free but is undefined when the naive observer is at chance
  (``beta = 0``), as a model that starts without a task is.
- Correlation over sessions: Pearson correlation along the last axis (sessions), batched
  over leading axes (bootstrap resamples), e.g. of redundancy against the learning index.

All functions are traceable (``jax.jit``/``vmap``); value checks that raise a ``ValueError``
naming the argument run only on concrete inputs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .recording import ArrayInput, as_float_array, check_finite, is_concrete

# Step sizes tried along each Newton direction, longest first, and 0 (stay) last.
_STEP_FRACTIONS = tuple(2.0**-k for k in range(10)) + (0.0,)


class PsychometricFit(NamedTuple):
    """A logistic psychometric curve ``p(first | c) = sigmoid(beta c + bias)``.

    Attributes:
        beta: slope, log-odds of choosing the first category per unit signed contrast
            (sensitivity; thresholds scale as ``1 / beta``).
        bias: log-odds of choosing the first category at zero contrast (0: unbiased).
    """

    beta: Float[Array, "*batch"]
    bias: Float[Array, "*batch"]


def _log_likelihood(coef, design, p, n, l2):
    # Penalised weighted Bernoulli log-likelihood of fractions p with n trials per level, for
    # a stack of coefficient vectors (candidates, 2).
    eta = coef @ design.T
    p, n = p[None, :], n[None, :]
    ll = p * jax.nn.log_sigmoid(eta) + (1 - p) * jax.nn.log_sigmoid(-eta)
    return jnp.sum(n * ll, axis=-1) - 0.5 * l2 * jnp.sum(coef**2, axis=-1)


def _fit_one(p, c, n, l2, n_iter):
    # Newton's method with a step-size search on the standardised contrast, so the problem is
    # well scaled whatever the contrast units; the ridge l2 acts on the standardised
    # coefficients (slope and intercept) and keeps separable data finite.
    total = jnp.sum(n)
    centre = jnp.sum(n * c) / total
    scale = jnp.sqrt(jnp.sum(n * (c - centre) ** 2) / total)
    scale = jnp.where(scale > 0, scale, 1.0)
    design = jnp.stack([(c - centre) / scale, jnp.ones_like(c)], axis=1)
    penalty = l2 * jnp.eye(2, dtype=c.dtype)
    fractions = jnp.asarray(_STEP_FRACTIONS, c.dtype)[:, None]

    def step(_, coef):
        q = jax.nn.sigmoid(design @ coef)
        grad = design.T @ (n * (p - q)) - l2 * coef
        hess = (design * (n * q * (1 - q))[:, None]).T @ design + penalty
        det = hess[0, 0] * hess[1, 1] - hess[0, 1] ** 2
        direction = (
            jnp.stack(
                [
                    hess[1, 1] * grad[0] - hess[0, 1] * grad[1],
                    hess[0, 0] * grad[1] - hess[0, 1] * grad[0],
                ]
            )
            / det
        )
        direction = jnp.where(jnp.all(jnp.isfinite(direction)), direction, 0.0)
        candidates = coef[None, :] + fractions * direction[None, :]
        objective = _log_likelihood(candidates, design, p, n, l2)
        # The longest step that does not lower the objective by more than its rounding error
        # (near the optimum the differences are below the error of summing many trials, and
        # comparing them exactly would stall the iteration). The last candidate is coef
        # itself; a singular Hessian (l2 = 0 on degenerate data) gives no step at all.
        slack = jnp.sqrt(jnp.finfo(c.dtype).eps) * (jnp.abs(objective[-1]) + 1)
        acceptable = objective >= objective[-1] - slack
        return candidates[jnp.argmax(acceptable)]

    coef = jax.lax.fori_loop(0, n_iter, step, jnp.zeros(2, c.dtype))
    beta = coef[0] / scale
    return beta, coef[1] - beta * centre


@functools.partial(jax.jit, static_argnames=("n_iter",))
def _fit(p, c, n, l2, n_iter):
    batch = p.shape[:-1]
    flat = [v.reshape(-1, p.shape[-1]) for v in (p, c, n)]
    beta, bias = jax.vmap(_fit_one, in_axes=(0, 0, 0, None, None))(*flat, l2, n_iter)
    return PsychometricFit(beta.reshape(batch), bias.reshape(batch))


def psychometric_fit(
    p_first: ArrayInput,
    signed_contrast: ArrayInput,
    weights: ArrayInput,
    *,
    l2: ArrayLike = 1e-3,
    n_iter: int | np.integer = 50,
) -> PsychometricFit:
    """Maximum-likelihood logistic psychometric curve ``sigmoid(beta c + bias)``; traceable.

    Maximises ``sum_l n_l [p_l log q_l + (1 - p_l) log(1 - q_l)]`` with
    ``q_l = sigmoid(beta c_l + bias)`` by a fixed number of Newton steps (each with a
    step-size search that guards against overshooting), so it runs under ``jax.jit`` and
    ``jax.vmap`` (e.g. over sessions and bootstrap resamples). Integer weights equal
    repeating trials; per-trial 0/1 outcomes with unit weights give the same fit as their
    per-level fractions with the trial counts.

    Args:
        p_first: fraction of "first category" choices per signed-contrast level, in
            ``[0, 1]`` (or one 0/1 outcome per trial).
        signed_contrast: the levels; positive values are evidence for the first category
            (the experiments' convention), so a sensitive observer has ``beta > 0``.
        weights: trials per level (counts, or summed Poisson bootstrap weights), >= 0.
            The three arrays broadcast against each other; leading axes are a batch.
        l2: ridge penalty on the coefficients of the standardised contrast (contrast minus
            its weighted mean, over its weighted standard deviation) and the intercept; it
            keeps the fit finite for separable data (perfect performance) and all-one-choice
            data, and is negligible against the likelihood of a few tens of trials otherwise.
        n_iter: Newton steps (a Python int, static under ``jit``); 50 reach the optimum to
            float precision for non-separable data (separable data give a large finite
            slope, and with ``l2=0`` whatever 50 steps reach).

    Returns:
        :class:`PsychometricFit` ``(beta, bias)``, each of shape ``batch``: the slope (per unit
        contrast) and the log-odds of the first category at zero contrast. NaN when the
        weights sum to 0.

    Raises:
        ValueError: naming the argument for shapes that do not broadcast, a negative ``l2``
            or ``n_iter`` < 1, and on concrete inputs only for NaN/inf values, ``p_first``
            outside ``[0, 1]`` or negative weights.

    >>> c = jnp.linspace(-1.0, 1.0, 9)
    >>> fit = psychometric_fit(jax.nn.sigmoid(2.0 * c + 0.5), c, jnp.full(9, 100.0))
    >>> round(float(fit.beta), 2), round(float(fit.bias), 2)
    (2.0, 0.5)
    """
    arrays = {
        "p_first": as_float_array(p_first, "p_first"),
        "signed_contrast": as_float_array(signed_contrast, "signed_contrast"),
        "weights": as_float_array(weights, "weights"),
    }
    for name, v in arrays.items():
        if v.ndim < 1:
            raise ValueError(f"{name}: expected at least one level (last axis), got a scalar")
        check_finite(v, name)
    try:
        p, c, n = jnp.broadcast_arrays(*arrays.values())
    except ValueError as err:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise ValueError(f"p_first, signed_contrast, weights: shapes differ ({shapes})") from err
    if is_concrete(p, n):
        if not np.all((np.asarray(p) >= 0) & (np.asarray(p) <= 1)):
            raise ValueError("p_first: expected fractions in [0, 1]")
        if not np.all(np.asarray(n) >= 0):
            raise ValueError("weights: expected non-negative trial counts or weights")
    if is_concrete(l2) and not float(l2) >= 0:
        raise ValueError(f"l2: expected a non-negative penalty, got {l2}")
    if not isinstance(n_iter, int | np.integer) or n_iter < 1:
        raise ValueError(f"n_iter: expected at least one Newton step, got {n_iter}")
    return _fit(p, c, n, jnp.asarray(l2, p.dtype), n_iter=int(n_iter))


def learning_index(beta: ArrayInput, reference: int = 0) -> Float[Array, "*batch sessions"]:
    """Learning index per session: ``beta_s - beta_reference``; traceable.

    The gain of each session's psychometric slope over the reference (naive) session's,
    along the last axis: 0 at the reference session, positive as sensitivity rises with
    learning. Thresholds scale as ``1 / beta``, so the scale-free alternative is
    ``log(beta_s / beta_reference)``; it is undefined for an observer that starts at chance
    (``beta = 0``), which is why the difference is used. Leading axes (e.g. bootstrap
    resamples) are a batch.

    Args:
        beta: psychometric slopes, sessions along the last axis (e.g. from
            :func:`psychometric_fit`).
        reference: index of the reference session (default 0, the first); a Python int
            (static under ``jit``).

    Returns:
        The index (log-odds per unit contrast), the shape of ``beta``; exactly 0 at
        ``reference``.

    Raises:
        ValueError: naming ``beta`` for a scalar, ``reference`` when out of range.

    >>> learning_index(jnp.array([0.0, 4.0, 8.0])).tolist()
    [0.0, 4.0, 8.0]
    """
    b = as_float_array(beta, "beta")
    if b.ndim < 1:
        raise ValueError(f"beta: expected sessions along the last axis, got shape {b.shape}")
    if not -b.shape[-1] <= reference < b.shape[-1]:
        raise ValueError(f"reference: {reference} is out of range for {b.shape[-1]} sessions")
    ref = jax.lax.index_in_dim(b, reference, axis=-1, keepdims=True)
    return b - ref


@jax.jit
def _pearson(a, b):
    da = a - jnp.mean(a, axis=-1, keepdims=True)
    db = b - jnp.mean(b, axis=-1, keepdims=True)
    return jnp.sum(da * db, axis=-1) / jnp.sqrt(jnp.sum(da**2, axis=-1) * jnp.sum(db**2, axis=-1))


def correlation_over_sessions(a: ArrayInput, b: ArrayInput) -> Float[Array, "*batch"]:
    """Pearson correlation of ``a`` and ``b`` over the last axis (sessions); traceable.

    Leading axes are a batch (broadcast against each other), e.g. bootstrap resamples of
    redundancy and of the learning index, giving one correlation per resample.

    Args:
        a, b: values per session along the last axis.

    Returns:
        The correlation in ``[-1, 1]``, shape ``batch``; NaN when ``a`` or ``b`` is
        constant over sessions (or has NaN values).

    Raises:
        ValueError: naming ``a``/``b`` for scalars, fewer than 2 sessions, or shapes that do
            not broadcast.

    >>> r = correlation_over_sessions(jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 4.0, 7.0]))
    >>> round(float(r), 4)
    0.9934
    """
    x, y = as_float_array(a, "a"), as_float_array(b, "b")
    for name, v in (("a", x), ("b", y)):
        if v.ndim < 1 or v.shape[-1] < 2:
            raise ValueError(f"{name}: expected at least 2 sessions on the last axis, {v.shape}")
    try:
        x, y = jnp.broadcast_arrays(x, y)
    except ValueError as err:
        raise ValueError(f"a, b: shapes {x.shape} and {y.shape} do not broadcast") from err
    return _pearson(x, y)


__all__ = [
    "PsychometricFit",
    "correlation_over_sessions",
    "learning_index",
    "psychometric_fit",
]
