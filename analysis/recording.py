"""A recording as the estimators see it: arrays with known axes, trials grouped by signal.

Everything the estimators accept from a user passes through here once, at the boundary:

- spike counts as numpy or jax arrays, or xarray DataArrays with named dims. Plain arrays are
  read as ``(trial, neuron)`` or ``(trial, time, neuron)`` (neurons last, the layout of
  :class:`bayescortex.inference.trial.TrialRecord` batches); DataArrays may hold the dims
  ``trial``, ``neuron`` and optionally ``time`` in any order and are transposed to that layout;
- the checks that give a ``ValueError`` naming the offending argument: NaN counts, mismatched
  neuron counts, zero-variance neurons, non-positive ``ds``, too few zero-signal trials for the
  number of neurons (``T0 < N + 4``, or ``T0 < N + 5`` where the estimator variance is used);
- :func:`group_by_signal`, which sorts trials by signal level so that every group (zero
  signal, ``+c``, ``-c`` for each coherence ``c``) is a contiguous block of static size. That
  makes the estimators jit-compilable with fixed shapes and lets the bootstrap resample
  within groups by index arithmetic alone.

Value checks (NaN, zero variance, sign of ``ds``) need concrete numbers, so they run on eager
calls and are skipped under ``jax.jit``/``vmap`` tracing, where the estimators return NaN
instead; shape checks run in both cases.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, ArrayLike, Float, Int

TRIAL, TIME, NEURON = "trial", "time", "neuron"

ArrayInput: TypeAlias = ArrayLike | Sequence | xr.DataArray
"""An array argument of a public estimator as the user passes it, before its checks: a numpy
or jax array, a Python or numpy scalar, a (nested) list or tuple of numbers, or an xarray
DataArray. The estimators check it themselves (a ``ValueError`` naming the argument); the
expected shape is in each docstring."""


def is_concrete(*values) -> bool:
    """True when none of ``values`` is a jax tracer (so its numbers can be inspected)."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def as_float_array(x: ArrayInput, name: str) -> Array:
    """``x`` as a floating jax array (the default float width), or a ValueError naming it."""
    if isinstance(x, xr.DataArray):
        x = x.values
    try:
        arr = jnp.asarray(x)
    except TypeError as err:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}") from err
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr.astype(jnp.result_type(float))


class Counts(NamedTuple):
    """Spike counts in the canonical layout, with the coordinates they came with.

    ``values`` is ``(trial, neuron)`` or ``(trial, time, neuron)``; ``neuron`` and ``time``
    are coordinate labels (from the DataArray, else ``arange``), ``time`` is None without a
    time axis.
    """

    values: Float[Array, "trials *time neurons"]
    neuron: np.ndarray
    time: np.ndarray | None

    @property
    def has_time(self) -> bool:
        return self.time is not None


def as_counts(counts: ArrayInput, name: str = "counts") -> Counts:
    """Coerce spike counts to ``(trial, neuron)`` or ``(trial, time, neuron)`` and check them.

    Args:
        counts: spike counts (any non-negative or real numbers: counts, rates, z-scores).
            Plain arrays: ``(trial, neuron)`` or ``(trial, time, neuron)``. DataArrays: dims
            ``trial`` and ``neuron``, optionally ``time``, in any order.
        name: the argument name used in error messages.

    Raises:
        ValueError: wrong number of axes or dim names, or NaN/inf values.

    >>> c = as_counts(np.ones((10, 3)))
    >>> c.values.shape, c.has_time
    ((10, 3), False)
    """
    neuron_coord = time_coord = None
    if isinstance(counts, xr.DataArray):
        dims = set(counts.dims)
        allowed = {TRIAL, NEURON, TIME}
        if not {TRIAL, NEURON} <= dims or not dims <= allowed:
            raise ValueError(
                f"{name}: a DataArray needs dims 'trial' and 'neuron' (and optionally 'time'), "
                f"got {counts.dims}"
            )
        order = (TRIAL, TIME, NEURON) if TIME in dims else (TRIAL, NEURON)
        counts = counts.transpose(*order)
        neuron_coord = np.asarray(counts[NEURON].values)
        if TIME in dims:
            time_coord = np.asarray(counts[TIME].values)
    values = as_float_array(counts, name)
    if values.ndim not in (2, 3):
        raise ValueError(
            f"{name}: expected (trial, neuron) or (trial, time, neuron) counts, "
            f"got shape {values.shape}"
        )
    if neuron_coord is None:
        neuron_coord = np.arange(values.shape[-1])
    if time_coord is None and values.ndim == 3:
        time_coord = np.arange(values.shape[1])
    check_finite(values, name)
    return Counts(values, neuron_coord, time_coord)


def align_trials(counts: ArrayInput, other: ArrayInput | None, name: str) -> ArrayInput | None:
    """``other`` (a per-trial DataArray) in the trial order of ``counts``, by ``trial`` label.

    Pairing by position would silently mismatch trials when the two carry the same trials in
    different orders (a permuted signal gave I = -0.355 instead of 9.52). When both are
    DataArrays with a ``trial`` coordinate, ``other`` is reordered to the labels of
    ``counts``; labels that differ, or repeat, raise. Anything else passes through unchanged
    (paired by position, the documented behaviour for plain arrays).

    Raises:
        ValueError: naming ``name``, when the ``trial`` labels are not the same set of
            unique labels.

    >>> c = xr.DataArray(np.zeros((3, 2)), dims=("trial", "neuron"), coords={"trial": [5, 6, 7]})
    >>> s = xr.DataArray([0.7, 0.5, 0.6], dims="trial", coords={"trial": [7, 5, 6]})
    >>> align_trials(c, s, "signal").values.tolist()
    [0.5, 0.6, 0.7]
    """
    if not (
        isinstance(counts, xr.DataArray)
        and isinstance(other, xr.DataArray)
        and TRIAL in counts.coords
        and TRIAL in other.coords
    ):
        return other
    want = np.asarray(counts[TRIAL].values)
    have = np.asarray(other[TRIAL].values)
    if np.array_equal(want, have):
        return other
    unique = len(np.unique(want)) == want.size and len(np.unique(have)) == have.size
    if not unique or want.size != have.size or not np.array_equal(np.sort(want), np.sort(have)):
        missing = np.setdiff1d(want, have)[:5].tolist()
        extra = np.setdiff1d(have, want)[:5].tolist()
        raise ValueError(
            f"{name}: its 'trial' coordinate does not match that of counts (labels must be the "
            f"same unique trials; missing {missing}, extra {extra}); trials are paired by "
            "label, never by position, when both carry a 'trial' coordinate"
        )
    return other.sel({TRIAL: want})


def as_trial_vector(x: ArrayInput, name: str, n_trials: int) -> np.ndarray:
    """A per-trial vector (signal levels, choices) as numpy, checked against ``n_trials``."""
    if isinstance(x, xr.DataArray):
        if x.dims != (TRIAL,):
            raise ValueError(f"{name}: a DataArray needs the single dim 'trial', got {x.dims}")
        x = x.values
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n_trials:
        raise ValueError(
            f"{name}: expected one value per trial ({n_trials}), got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr.astype(float))):
        raise ValueError(f"{name}: contains NaN or inf values")
    return arr


def as_choices(
    choices: ArrayInput, n_trials: int, name: str = "choices"
) -> Int[np.ndarray, " trials"]:
    """Binary choices (0/1 or bool) per trial as a numpy int array."""
    arr = as_trial_vector(choices, name, n_trials)
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name}: expected binary choices (0/1 or bool), got {np.unique(arr)}")
    return arr.astype(np.int32)


def check_finite(x: Array, name: str) -> None:
    """ValueError naming ``name`` if ``x`` (when concrete) holds NaN or inf."""
    if not is_concrete(x):
        return
    bad = ~np.isfinite(np.asarray(x))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: {int(bad.sum())} NaN/inf values (first at index {first}); drop or "
            "impute them before estimating (NaN is never averaged away silently)"
        )


def check_same_neurons(**arrays: Array) -> None:
    """ValueError if the arrays' last axes (neurons) differ in length, naming them all."""
    sizes = {k: v.shape[-1] for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k} has {n}" for k, n in sizes.items())
        raise ValueError(f"{', '.join(sizes)}: mismatched neuron counts ({listed})")


def check_trials(x: Array, name: str, minimum: int = 1) -> None:
    """ValueError if ``x`` (trials first) has fewer than ``minimum`` trials."""
    if x.ndim < 2 or x.shape[0] < minimum:
        raise ValueError(
            f"{name}: expected at least {minimum} trials as (trial, neuron), got shape {x.shape}"
        )


def check_enough_zero_trials(t0: int, n_neurons: int, name: str, *, variance: bool = False) -> None:
    """ValueError if the covariance set is too small for the bias-corrected estimator.

    The bias-corrected information needs ``T0 >= N + 4``. With ``variance=True`` its sampling
    variance must also be finite, which needs ``T0 >= N + 5``: the variance
    (:func:`bayescortex.analysis.variance.fisher_variance`, ``nu = T0 - 1``, ``p = N``) has the
    factor ``1 / (nu - p - 3) = 1 / (T0 - N - 4)``, infinite at ``T0 = N + 4``, which gives
    every coherence inverse-variance weight 0 and makes every combined value NaN.
    """
    extra = 5 if variance else 4
    if t0 < n_neurons + extra:
        advice = (
            f"estimate on neuron subsets of at most {t0 - extra} neurons instead"
            if t0 > extra
            else "more trials are needed"
        )
        need = (
            "the inverse-variance combination over coherences needs a finite variance of I "
            "(infinite at T0 = N + 4):"
            if variance
            else "the bias-corrected Fisher information needs"
        )
        raise ValueError(
            f"{name}: {t0} trials are too few for {n_neurons} neurons; {need} "
            f"T0 >= N + {extra} = {n_neurons + extra} ({advice})"
        )


def check_variance(x: Float[Array, "trials *time neurons"], name: str) -> None:
    """ValueError naming ``name`` and the neurons whose counts are constant across trials."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    flat = arr.reshape(arr.shape[0], -1)
    constant = np.ptp(flat, axis=0).reshape(arr.shape[1:]) == 0
    if constant.ndim == 2:
        constant = constant.any(axis=0)
    if constant.any():
        idx = np.flatnonzero(constant)
        raise ValueError(
            f"{name}: {idx.size} neuron(s) have zero variance across trials (indices "
            f"{idx[:10].tolist()}{' ...' if idx.size > 10 else ''}); their information is "
            "undefined, drop them"
        )


def check_ds(ds: ArrayLike, name: str = "ds") -> None:
    """ValueError if ``ds`` (when concrete) is not a finite positive number."""
    if not is_concrete(ds):
        return
    arr = np.asarray(ds, dtype=float)
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"{name}: the signal difference must be finite and > 0, got {ds}")


class SignalLayout(NamedTuple):
    """Static description of trials sorted into contiguous signal-level blocks.

    Block order: the zero-signal block, then for each coherence ``c`` (ascending) the ``+c``
    block and the ``-c`` block. Hashable, so it can be a static argument of ``jax.jit``.

    Attributes:
        coherences: the unsigned coherences ``c > 0`` with both ``+c`` and ``-c`` trials.
        t0: number of zero-signal trials.
        t_plus, t_minus: trials at ``+c`` and ``-c`` per coherence.
    """

    coherences: tuple[float, ...]
    t0: int
    t_plus: tuple[int, ...]
    t_minus: tuple[int, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Block sizes in block order."""
        pairs = [n for pm in zip(self.t_plus, self.t_minus, strict=True) for n in pm]
        return (self.t0, *pairs)

    @property
    def n_trials(self) -> int:
        return sum(self.sizes)

    @property
    def block_ids(self) -> np.ndarray:
        """Block index of every (sorted) trial."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)

    @property
    def block_starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def ds(self) -> np.ndarray:
        """``ds = 2 c`` per coherence."""
        return 2.0 * np.asarray(self.coherences, dtype=float)


class GroupedTrials(NamedTuple):
    """Trial order and layout from :func:`group_by_signal`.

    ``order`` indexes the original trials: ``counts[order]`` is sorted into the blocks of
    ``layout``. Trials at unpaired signal levels are left out of ``order``.
    """

    order: Int[np.ndarray, " sorted"]
    layout: SignalLayout


def group_by_signal(signal: ArrayInput, *, rtol: float = 1e-6) -> GroupedTrials:
    """Sort trials into zero-signal, ``+c`` and ``-c`` blocks.

    Args:
        signal: signed signal level per trial (e.g. coherence or contrast); ``0`` marks
            zero-signal trials. ``+c`` and ``-c`` are paired when they agree to ``rtol``.
        rtol: relative tolerance for pairing ``+c`` with ``-c``.

    Returns:
        The trial order and the static :class:`SignalLayout`. Levels without their opposite
        are dropped with a warning.

    Raises:
        ValueError: no zero-signal trials, or no ``+c``/``-c`` pair.

    >>> g = group_by_signal(np.array([0.0, 0.1, -0.1, 0.0, 0.1]))
    >>> g.order.tolist(), g.layout.t0, g.layout.t_plus, g.layout.t_minus
    ([0, 3, 1, 4, 2], 2, (2,), (1,))
    """
    signal = np.asarray(signal, dtype=float)
    zero = np.flatnonzero(signal == 0)
    if zero.size == 0:
        raise ValueError(
            "signal: no zero-signal trials (signal == 0); the noise covariance is estimated "
            "from them"
        )
    levels = np.unique(signal[signal > 0])
    negatives = np.unique(signal[signal < 0])
    blocks, coherences, t_plus, t_minus, used_neg = [zero], [], [], [], set()
    for c in levels:
        match = np.flatnonzero(np.isclose(negatives, -c, rtol=rtol, atol=0.0))
        if match.size == 0:
            warnings.warn(
                f"signal: level {c} has no matching {-c}; its trials are not used", stacklevel=3
            )
            continue
        neg = negatives[match[0]]
        used_neg.add(float(neg))
        plus, minus = np.flatnonzero(signal == c), np.flatnonzero(signal == neg)
        blocks += [plus, minus]
        coherences.append(float(c))
        t_plus.append(plus.size)
        t_minus.append(minus.size)
    for neg in negatives:
        if float(neg) not in used_neg:
            warnings.warn(
                f"signal: level {neg} has no matching {-neg}; its trials are not used", stacklevel=3
            )
    if not coherences:
        raise ValueError("signal: needs at least one pair of levels +c and -c besides zero")
    layout = SignalLayout(tuple(coherences), int(zero.size), tuple(t_plus), tuple(t_minus))
    return GroupedTrials(np.concatenate(blocks), layout)


def bin_time(counts: ArrayInput, n_bins: int) -> Float[Array, "trials bins neurons"]:
    """Sum time-resolved counts into ``n_bins`` consecutive, nearly equal bins.

    ``counts``: (trial, samples, neuron). For within-trial analysis (the same measures in
    each bin of the trial). Sample ``s`` goes to bin ``floor(s * n_bins / samples)``, so
    every sample lands in exactly one bin.

    >>> bin_time(jnp.ones((2, 10, 3)), 4)[0, :, 0].tolist()
    [3.0, 2.0, 3.0, 2.0]
    """
    x = as_float_array(counts, "counts")
    if x.ndim != 3:
        raise ValueError(f"counts: expected (trial, time, neuron), got shape {x.shape}")
    n_samples = x.shape[1]
    if not 1 <= n_bins <= n_samples:
        raise ValueError(f"n_bins: must be between 1 and {n_samples}, got {n_bins}")
    bin_of = (np.arange(n_samples) * n_bins) // n_samples
    return jax.vmap(lambda s: jax.ops.segment_sum(s, bin_of, num_segments=n_bins))(x)
