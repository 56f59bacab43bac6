"""Estimators for brain-computer-interface imaging: behaviour, somato-dendritic residuals,
signed instructive signals.

Pure numpy functions (numpy or jax arrays in, numpy arrays out), written for real two-photon
data as much as for the simulation of :mod:`bayescortex.models.bci_session`. Shapes:
``frames`` is any set of imaging frames (flatten trials x time and drop frames outside trials
first); ``neurons`` the imaged neurons with their soma and dendrite traces; ``signs`` the
causal role of each neuron in the decoder (+1: P+, pushes toward the target; -1: P-; 0: not a
target).

- Behaviour: :func:`hit_and_reward_rates` per session, :func:`group_means` (P+ and P-
  activity), :func:`learning_speed`.
- The somato-dendritic residual (:func:`somatodendritic_residual`): each dendrite regressed by
  least squares on its own soma with an intercept (``degree`` 2 adds the squared soma, which
  removes a convex soma-to-dendrite coupling a linear fit would leave behind; ``others`` adds
  the other neurons' somata as regressors). What remains is the dendritic activity the soma
  does not predict.
- What the residual carries: :func:`residual_coupling` (correlation with a task signal, e.g.
  the distance from the target), :func:`error_change_contrast` (the residual's event-locked
  response to error decreases minus increases), :func:`group_mean_sign`,
  :func:`sign_recovery` (does the sign of the effect give each neuron's causal role?),
  :func:`signed_mode_energy` (how much of the population pattern lies along the signed
  decoder mode rather than a shared one); decoding the trial's outcome from it is in
  :mod:`bayescortex.analysis.bci_outcome`.
- :func:`feedback_alignment`: the correlation of learned feedback weights with the decoder.
- Whether a neuron's residual predicts its own later change:
  :mod:`bayescortex.analysis.bci_residual_change`.
- :data:`POLARITY`: the fixed sign convention of the group effects (the paper's).

Bad input raises ``ValueError`` naming the argument (wrong shape, NaN, too few frames or
trials for an estimate).
"""

from __future__ import annotations

import numpy as np

POLARITY = {"contrast": (-1, 1), "coupling": (1, -1)}
"""Signs ``(P+, P-)`` that an instructive signal ``B_i x error`` gives, fixed in advance (the
paper's convention: the error-decrease minus error-increase contrast is negative in P+ and
positive in P-; equivalently the residual's correlation with the error is positive in P+ and
negative in P-). A criterion accepts only this polarity: the reverse pattern, which a soma
correlated with the error leaves in an imperfectly fitted residual, does not pass."""


def _array(name: str, x, ndim: int | tuple[int, ...], *, finite: bool = True) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in allowed:
        raise ValueError(f"{name}: expected {' or '.join(map(str, allowed))} dims, got {a.shape}")
    if finite and not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


def _signs(signs, n: int, name: str = "signs") -> np.ndarray:
    s = np.asarray(signs)
    if s.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one per neuron), got {s.shape}")
    if not np.all(np.isin(s, (-1, 0, 1))):
        raise ValueError(f"{name}: values must be -1, 0 or +1")
    return s.astype(int)


def hit_and_reward_rates(
    hit, session, duration, *, n_sessions: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per session: the fraction of trials that hit, and hits per unit of trial time.

    Args:
        hit: ``(trials,)`` bool, whether each trial hit the target.
        session: ``(trials,)`` int, the session (0, 1, ...) of each trial.
        duration: ``(trials,)`` time in the trial (frames or seconds: the reward rate's unit).
        n_sessions: sessions to report (default ``max(session) + 1``); empty sessions give NaN.

    >>> h, r = hit_and_reward_rates([1, 0, 1, 1], [0, 0, 1, 1], [2.0, 4.0, 1.0, 1.0])
    >>> h.tolist(), r.tolist()
    ([0.5, 1.0], [0.16666666666666666, 1.0])
    """
    h = _array("hit", hit, 1)
    s = np.asarray(session)
    d = _array("duration", duration, 1)
    if s.shape != h.shape or d.shape != h.shape:
        raise ValueError(
            f"session, duration: expected shape {h.shape} like hit, got {s.shape}, {d.shape}"
        )
    if np.any(s < 0) or not np.issubdtype(s.dtype, np.integer):
        raise ValueError("session: expected non-negative integer session indices")
    if np.any(d <= 0):
        raise ValueError("duration: must be positive")
    n = int(s.max()) + 1 if n_sessions is None else n_sessions
    trials = np.bincount(s, minlength=n)[:n].astype(float)
    hits = np.bincount(s, weights=h, minlength=n)[:n]
    time = np.bincount(s, weights=d, minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / np.where(trials > 0, trials, np.nan), hits / np.where(time > 0, time, np.nan)


def group_means(values, signs) -> tuple[np.ndarray | np.float64, np.ndarray | np.float64]:
    """Means over the P+ neurons and over the P- neurons of ``values`` (``(..., neurons)``):
    arrays of shape ``...``, numpy floats for 1-d ``values``.

    >>> p, m = group_means([[1.0, 3.0, 10.0, 0.0]], [1, 1, -1, 0])
    >>> p.tolist(), m.tolist()
    ([2.0], [10.0])
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 1:
        raise ValueError(f"values: expected (..., neurons), got shape {v.shape}")
    s = _signs(signs, v.shape[-1])
    if not np.any(s > 0) or not np.any(s < 0):
        raise ValueError("signs: need at least one P+ (+1) and one P- (-1) neuron")
    return v[..., s > 0].mean(axis=-1), v[..., s < 0].mean(axis=-1)


def group_mean_sign(values, signs) -> tuple[np.ndarray | np.float64, np.ndarray | np.float64]:
    """Mean of ``sign(values)`` over the P+ and over the P- neurons (each in ``[-1, 1]``)."""
    return group_means(np.sign(np.asarray(values, dtype=float)), signs)


def learning_speed(hit_rate) -> np.ndarray | np.float64:
    """Mean rise of the hit rate over the learning sessions above the baseline session 0:
    ``mean_{s >= 1} (h_s - h_0)``, the area under the learning curve per session. For
    ``hit_rate`` of shape ``(..., sessions)``: an array of shape ``...`` (a numpy float for
    one learning curve).

    >>> round(float(learning_speed([0.2, 0.4, 0.6])), 6)
    0.3
    """
    h = np.asarray(hit_rate, dtype=float)
    if h.ndim < 1 or h.shape[-1] < 2:
        raise ValueError(f"hit_rate: need (..., sessions) with sessions >= 2, got {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("hit_rate: contains NaN or infinite values")
    return (h[..., 1:] - h[..., :1]).mean(axis=-1)


def somatodendritic_residual(
    dendrite, soma, *, others: bool = False, degree: int = 1
) -> np.ndarray:
    """The dendritic activity not predicted by the soma, per neuron.

    Each dendrite ``d_i`` is fit by least squares on ``[1, s_i, ..., s_i^degree]`` (and, with
    ``others``, every other soma ``s_j``); the residual is ``d_i`` minus the fit.

    Args:
        dendrite: ``(frames, neurons)`` dendritic signal.
        soma: ``(frames, neurons)`` somatic signal of the same neurons.
        others: add the other neurons' somata as regressors.
        degree: polynomial degree in the own soma (1: linear; 2: adds the square).

    Returns:
        ``(frames, neurons)`` residuals (each column has mean 0).

    >>> s = np.arange(6.0)[:, None]
    >>> np.allclose(somatodendritic_residual(2 * s + 1, s), 0)
    True
    """
    d = _array("dendrite", dendrite, 2)
    s = _array("soma", soma, 2)
    if s.shape != d.shape:
        raise ValueError(f"soma: expected the shape of dendrite {d.shape}, got {s.shape}")
    if degree not in (1, 2, 3):
        raise ValueError(f"degree: 1, 2 or 3, got {degree}")
    frames, n = d.shape
    columns = 1 + degree + (n - 1 if others else 0)
    if frames < columns + 2:
        raise ValueError(f"dendrite: need at least {columns + 2} frames for {columns} "
                         f"regressors, got {frames}")  # fmt: skip
    # Standardise the somata so that powers and other neurons are well conditioned; every
    # neuron's design is (frames, columns) and all are solved at once by normal equations.
    scale = s.std(axis=0)
    z = (s - s.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    parts = [np.ones((n, frames, 1))]
    parts += [(z.T**k)[:, :, None] for k in range(1, degree + 1)]
    if others and n > 1:
        rest = np.array([[j for j in range(n) if j != i] for i in range(n)])
        parts.append(np.transpose(z[:, rest], (1, 0, 2)))
    x = np.concatenate(parts, axis=2)  # (neurons, frames, columns)
    gram = np.einsum("nfp,nfq->npq", x, x)
    # A tiny ridge keeps a constant soma (a zero column) solvable; it does not move the fit.
    gram += 1e-10 * frames * np.eye(gram.shape[-1])[None]
    coef = np.linalg.solve(gram, np.einsum("nfp,fn->np", x, d)[..., None])[..., 0]
    return d - np.einsum("nfp,np->fn", x, coef)


def residual_coupling(residual, signal) -> np.ndarray:
    """Pearson correlation of each neuron's residual with a task signal (``(frames,)``, e.g.
    the distance from the target); 0 for a neuron whose residual is constant.

    >>> r = np.array([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    >>> residual_coupling(r, [0.0, 1.0, 2.0]).tolist()
    [1.0, -1.0]
    """
    r = _array("residual", residual, 2)
    g = _array("signal", signal, 1)
    if g.shape[0] != r.shape[0]:
        raise ValueError(f"signal: expected {r.shape[0]} frames like residual, got {g.shape[0]}")
    if r.shape[0] < 3:
        raise ValueError(f"residual: need at least 3 frames, got {r.shape[0]}")
    if np.std(g) == 0:
        raise ValueError("signal: constant, no correlation is defined")
    rc = r - r.mean(axis=0)
    gc = g - g.mean()
    norm = np.sqrt((rc**2).sum(axis=0) * (gc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, gc @ rc / np.where(norm > 0, norm, 1.0), 0.0)


def error_change_contrast(residual, error, *, locked: bool = True, min_events: int = 2):
    """Per neuron: the residual's response to error decreases minus its response to error
    increases.

    Frames are those where ``residual`` and ``error`` are finite (pad trials of unequal length
    with NaN). An event is a frame ``t`` whose error differs from frame ``t - 1`` of the same
    trial. With ``locked`` (the default) the response is event-locked, ``res_t - res_{t-1}``
    (the change of the residual at the event, free of slow drifts and of the residual's level);
    otherwise it is the level ``res_t`` at the event frame.

    Args:
        residual: ``(trials, time, neurons)``, NaN outside trials.
        error: ``(trials, time)`` distance from the target, NaN outside trials.
        locked: event-locked change (True) or level (False).
        min_events: fewest events of each kind.

    >>> res = np.array([[[0.0], [1.0], [1.0], [3.0]]])
    >>> err = np.array([[0.5, 0.3, 0.3, 0.6]])
    >>> error_change_contrast(res, err, min_events=1).tolist()
    [-1.0]
    """
    r = _array("residual", residual, 3, finite=False)
    e = _array("error", error, 2, finite=False)
    if e.shape != r.shape[:2]:
        raise ValueError(f"error: expected shape {r.shape[:2]} (trials, time), got {e.shape}")
    valid = np.isfinite(e) & np.all(np.isfinite(r), axis=2)
    both = valid[:, 1:] & valid[:, :-1]
    change = np.where(both, e[:, 1:] - e[:, :-1], 0.0)
    response = r[:, 1:] - r[:, :-1] if locked else r[:, 1:]
    down, up = both & (change < 0), both & (change > 0)
    if down.sum() < min_events or up.sum() < min_events:
        raise ValueError(
            f"error: need at least {min_events} error decreases and increases, got "
            f"{int(down.sum())} and {int(up.sum())}"
        )
    return response[down].mean(axis=0) - response[up].mean(axis=0)


def sign_recovery(estimate, signs, *, flip: bool = False) -> np.ndarray | np.float64:
    """Fraction of target neurons (``signs != 0``) whose ``sign(estimate)`` equals their
    causal sign. With ``flip``, the better of the two global sign conventions (for data where
    the convention relating the effect to the role is not known in advance).

    Args:
        estimate: ``(..., neurons)`` per-neuron effects (e.g. :func:`residual_coupling`).
        signs: ``(neurons,)`` causal roles.

    Returns:
        The fraction, shape ``...`` (a numpy float for 1-d ``estimate``).

    >>> float(sign_recovery([0.3, 0.1, -0.2, 0.4], [1, 1, -1, -1]))
    0.75
    """
    e = _array("estimate", estimate, tuple(range(1, 8)))
    s = _signs(signs, e.shape[-1])
    targets = s != 0
    if not np.any(targets):
        raise ValueError("signs: no target neurons (all 0)")
    frac = (np.sign(e[..., targets]) == s[targets]).mean(axis=-1)
    return np.maximum(frac, 1.0 - frac) if flip else frac


def signed_mode_energy(values, signs) -> np.ndarray:
    """Fraction of the energy of a population pattern along the signed decoder mode:
    ``(s . v)^2 / (|s|^2 |v|^2)`` over the target neurons; 1 when the pattern is the decoder
    signs (up to scale), 0 when orthogonal to it (e.g. the same value for every neuron of two
    equal groups). 0 for an all-zero pattern.

    >>> float(signed_mode_energy([2.0, 2.0, -2.0, -2.0], [1, 1, -1, -1]))
    1.0
    >>> float(signed_mode_energy([1.0, 1.0, 1.0, 1.0], [1, 1, -1, -1]))
    0.0
    """
    v = _array("values", values, tuple(range(1, 8)))
    s = _signs(signs, v.shape[-1])
    targets = s != 0
    vt, st = v[..., targets], s[targets].astype(float)
    energy = (vt**2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(energy > 0, (vt @ st) ** 2 / (st @ st * np.where(energy > 0, energy, 1)),
                        0.0)  # fmt: skip


def feedback_alignment(learned, decoder) -> np.ndarray:
    """Pearson correlation, over neurons, of learned feedback weights with the decoder;
    0 where the learned weights are all equal (e.g. still zero).

    Args:
        learned: ``(..., neurons)`` feedback weights.
        decoder: ``(neurons,)`` decoder weights.

    >>> feedback_alignment([[0.0, 0.0, 0.0], [2.0, -2.0, 0.0]], [1.0, -1.0, 0.0]).tolist()
    [0.0, 1.0]
    """
    b = _array("learned", learned, tuple(range(1, 8)))
    d = _array("decoder", decoder, 1)
    if b.shape[-1] != d.shape[0]:
        raise ValueError(f"decoder: expected {b.shape[-1]} neurons like learned, got {d.shape[0]}")
    if np.std(d) == 0:
        raise ValueError("decoder: constant, no correlation is defined")
    bc = b - b.mean(axis=-1, keepdims=True)
    dc = d - d.mean()
    norm = np.sqrt((bc**2).sum(axis=-1) * (dc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, bc @ dc / np.where(norm > 0, norm, 1.0), 0.0)
