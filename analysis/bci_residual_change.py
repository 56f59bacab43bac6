"""Does a neuron's somato-dendritic residual predict its own later change of activity?

Over the sessions of a brain-computer-interface experiment: :func:`session_residual_means`
fits one residual per neuron over all sessions (one fit, so that the session means are not
all 0; :func:`~bayescortex.analysis.bci.somatodendritic_residual`) and averages it per session;
:func:`residual_change_prediction` correlates, per neuron and across sessions, the session's
mean residual with the change of activity to the next session. Run it on non-target neurons
too, as the control population.

Pure numpy functions, like :mod:`bayescortex.analysis.bci` (whose input checks they share):
bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np

from .bci import _array, somatodendritic_residual


def session_residual_means(dendrite, soma, session, *, n_sessions: int | None = None):
    """Per session and neuron, the mean somato-dendritic residual, from one fit per neuron
    over the frames of all sessions (a fit per session would give every session mean 0).

    Args:
        dendrite: ``(frames, neurons)``.
        soma: ``(frames, neurons)``.
        session: ``(frames,)`` int, the session of each frame.
        n_sessions: sessions to report (default ``max(session) + 1``); empty ones are NaN.

    Returns:
        ``(sessions, neurons)``.

    >>> s = np.array([[0.0], [1.0], [2.0], [0.0], [1.0], [2.0]])
    >>> d = 2 * s + np.array([[1.0], [1.0], [1.0], [-1.0], [-1.0], [-1.0]])
    >>> session_residual_means(d, s, [0, 0, 0, 1, 1, 1]).round(3).tolist()
    [[1.0], [-1.0]]
    """
    g = np.asarray(session)
    d = _array("dendrite", dendrite, 2)
    if g.shape != (d.shape[0],) or not np.issubdtype(g.dtype, np.integer) or np.any(g < 0):
        raise ValueError(f"session: expected ({d.shape[0]},) non-negative ints, got {g.shape}")
    res = somatodendritic_residual(d, soma)
    n = int(g.max()) + 1 if n_sessions is None else n_sessions
    count = np.bincount(g, minlength=n)[:n].astype(float)
    total = np.stack([np.bincount(g, weights=res[:, i], minlength=n)[:n]
                      for i in range(res.shape[1])], axis=1)  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / np.where(count > 0, count, np.nan)[:, None]


def residual_change_prediction(residual_mean, activity) -> np.ndarray:
    """Per neuron, the Pearson correlation across sessions ``s`` of its mean residual in
    session ``s`` with the change of its own activity from ``s`` to ``s + 1``; 0 where either
    is constant. Positive: the residual predicts the change that follows it.

    Args:
        residual_mean: ``(..., sessions, neurons)``, e.g. :func:`session_residual_means`.
        activity: ``(..., sessions, neurons)`` mean activity per session.

    >>> res = np.array([[1.0], [0.5], [0.2], [0.0]])
    >>> act = np.array([[0.0], [1.0], [1.5], [1.7]])
    >>> residual_change_prediction(res, act).round(3).tolist()
    [1.0]
    """
    x = _array("residual_mean", residual_mean, tuple(range(2, 8)))
    a = _array("activity", activity, tuple(range(2, 8)))
    if a.shape != x.shape:
        raise ValueError(f"activity: expected the shape of residual_mean {x.shape}, got {a.shape}")
    if x.shape[-2] < 3:
        raise ValueError(f"residual_mean: need at least 3 sessions, got {x.shape[-2]}")
    x, y = x[..., :-1, :], np.diff(a, axis=-2)
    xc, yc = x - x.mean(axis=-2, keepdims=True), y - y.mean(axis=-2, keepdims=True)
    norm = np.sqrt((xc**2).sum(axis=-2) * (yc**2).sum(axis=-2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (xc * yc).sum(axis=-2) / np.where(norm > 0, norm, 1.0), 0.0)
