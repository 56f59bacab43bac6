"""Decoding a brain-computer-interface trial's outcome (hit or miss) from imaging before it.

Does the somato-dendritic residual (:func:`~bayescortex.analysis.bci.somatodendritic_residual`)
carry the coming outcome? :func:`pre_outcome_features` averages each neuron's residual over
the frames just before the outcome, and :func:`decode_outcome` decodes hit vs miss from those
features by cross-validated linear discriminant analysis (balanced accuracy, chance 0.5).

Pure numpy functions, like :mod:`bayescortex.analysis.bci` (whose input checks they share):
bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np

from .bci import _array


def pre_outcome_features(residual, outcome_frame, window: int) -> np.ndarray:
    """Per trial, the mean residual over the ``window`` frames before the outcome.

    Args:
        residual: ``(trials, time, neurons)``.
        outcome_frame: ``(trials,)`` int, the frame of the outcome (the reward frame of a hit,
            ``time`` for a timeout that ends after the last frame); frames ``[o - window, o)``
            are averaged (fewer when ``o < window``).
        window: frames before the outcome.

    >>> r = np.arange(8.0).reshape(1, 8, 1)
    >>> pre_outcome_features(r, [5], 2).tolist()
    [[3.5]]
    """
    r = _array("residual", residual, 3, finite=False)
    o = np.asarray(outcome_frame)
    if o.shape != (r.shape[0],):
        raise ValueError(f"outcome_frame: expected shape ({r.shape[0]},), got {o.shape}")
    if window < 1:
        raise ValueError(f"window: must be positive, got {window}")
    if np.any(o < 1) or np.any(o > r.shape[1]):
        raise ValueError(f"outcome_frame: must lie in [1, {r.shape[1]}] (a frame before it)")
    t = np.arange(r.shape[1])
    mask = (t[None, :] >= (o[:, None] - window)) & (t[None, :] < o[:, None])
    picked = np.where(mask[:, :, None], r, 0.0)
    if not np.all(np.isfinite(picked)):
        raise ValueError("residual: NaN or infinite values in the pre-outcome window")
    return picked.sum(axis=1) / mask.sum(axis=1)[:, None]


def decode_outcome(features, labels, *, folds: int = 5, shrinkage: float = 0.1) -> float:
    """Cross-validated balanced accuracy of linear discriminant analysis (shrunk pooled
    covariance) decoding a binary outcome from per-trial features; chance is 0.5.

    Folds are stratified and interleaved (deterministic); their number is capped by the
    smaller class.

    Args:
        features: ``(trials, features)``, e.g. :func:`pre_outcome_features`.
        labels: ``(trials,)`` 0/1 outcome (e.g. hit).
        folds: cross-validation folds (at least 2).
        shrinkage: weight of the scaled identity in the covariance, in ``[0, 1]``.
    """
    x = _array("features", features, 2)
    y = np.asarray(labels)
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels: expected shape ({x.shape[0]},), got {y.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels: expected 0/1 values")
    y = y.astype(int)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"labels: need at least 2 trials of each outcome, got {counts.tolist()}")
    if folds < 2:
        raise ValueError(f"folds: at least 2, got {folds}")
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage: in [0, 1], got {shrinkage}")
    k = int(min(folds, counts.min()))
    fold = np.empty(len(y), int)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        fold[idx] = np.arange(len(idx)) % k
    predicted = np.empty(len(y), int)
    for f in range(k):
        train, test = fold != f, fold == f
        predicted[test] = _lda_predict(x[train], y[train], x[test], shrinkage)
    recall = [np.mean(predicted[y == c] == c) for c in (0, 1)]
    return float(np.mean(recall))


def _lda_predict(x, y, x_test, shrinkage):
    mu = np.stack([x[y == c].mean(axis=0) for c in (0, 1)])
    centred = x - mu[y]
    cov = centred.T @ centred / max(len(y) - 2, 1)
    scale = np.trace(cov) / cov.shape[0] if cov.shape[0] else 1.0
    cov = (1 - shrinkage) * cov + shrinkage * (scale if scale > 0 else 1.0) * np.eye(len(cov))
    w = np.linalg.solve(cov, mu[1] - mu[0])
    # Equal priors (the midpoint rule): balanced accuracy is the target, so the class sizes
    # must not set the decision bias.
    return (((x_test - (mu[0] + mu[1]) / 2) @ w) > 0).astype(int)
