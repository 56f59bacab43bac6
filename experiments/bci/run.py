"""Run the BCI experiment: the compiled session programs, the session loop, the imaging
analysis of every recorded block and the results Dataset."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescortex.analysis import bci as analysis
from bayescortex.analysis.bci_outcome import decode_outcome, pre_outcome_features
from bayescortex.analysis.bci_residual_change import session_residual_means
from bayescortex.models.bci_rules import rules
from bayescortex.models.bci_session import init_state, session_step
from bayescortex.models.bci_task import decoder, target_signs

from ..compilation import compile_time
from ..placement import (
    VECTORISED,
    Placement,
    over_configs,
    seed_keys,
    shared_static,
    stack_configs,
    take_config,
)
from ..results import PLACE, config_dict
from ..session import run_sessions
from .config import BCIConfig, Static

RESUMABLE = (*PLACE, "bootstrap", "pre_outcome_window")
"""Config fields that may differ when a run resumes (where it goes; how it is analysed)."""

FITS = {"linear": {}, "quadratic": {"degree": 2}, "with_others": {"others": True}}
"""Residual fits: own soma (linear), own soma and its square, own and other somata."""

LEARNED_MARGIN = 0.2
"""A seed has learned when its last session's hit rate exceeds its baseline's by this much."""


@functools.lru_cache(maxsize=16)
def programs(static: Static, placement: Placement = VECTORISED):
    """The compiled ``init(hypers, keys)`` and ``step(hypers, states, keys, session)`` of a
    static part: configurations (leading axis, laid out by ``placement``) x variants x seeds.
    Variants share their seeds' keys (paired comparisons)."""

    def init_one(hyper, keys):
        table = rules(static.variants)

        def per_variant(rule):
            return jax.vmap(lambda k: init_state(static.task, hyper, rule, k))(keys)

        return jax.vmap(per_variant)(table)

    def step_one(hyper, states, keys, session):
        session_keys = jax.vmap(lambda k: jax.random.fold_in(k, session))(keys)
        per_seed = jax.vmap(lambda s, k: session_step(static.task, hyper, s, k))
        return jax.vmap(per_seed, in_axes=(0, None))(states, session_keys)

    init = jax.jit(over_configs(init_one, placement, 2))
    step = jax.jit(over_configs(step_one, placement, 3))
    return init, step


def simulate(static: Static, hypers, keys, *, placement=VECTORISED, checkpoint_dir=None,
             config: dict | None = None, progress: bool = True,
             ran: dict | None = None):  # fmt: skip
    """Run sessions ``0..static.sessions`` of configurations sharing ``static``; return the
    final states and every session's stats (leading axes config, variant, seed). ``ran`` is
    filled as :func:`~bayescortex.experiments.session.run_sessions` fills it (``start``: the
    first session run in this process)."""
    init, step = programs(static, placement)
    vectorized = static.variants.index("vectorized") if "vectorized" in static.variants else 0

    def run_step(states, session):
        return step(hypers, states, keys, jnp.asarray(session, jnp.int32))

    def describe(session, out):
        hits = np.asarray(out.hits)[:, vectorized].mean() / static.task.trials
        return f"session {session}: {static.variants[vectorized]} hit rate {hits:.2f}"

    states = init(hypers, keys)
    return run_sessions(
        run_step, states, static.sessions, checkpoint_dir=checkpoint_dir, config=config,
        may_differ=RESUMABLE, progress=progress, describe=describe, ran=ran,
        extra={"keys": "seed s: fold_in(key(seed), s); session: fold_in(seed key, session); "
               "trial k: fold_in(session key, k)"},
    )  # fmt: skip


def run(config: BCIConfig, *, progress: bool = True, checkpoint_dir=None) -> xr.Dataset:
    """Run the experiment; returns the results Dataset (dims ``variant``, ``seed``,
    ``session``, ``neuron``, ``target``, ``fit``; see :func:`dataset`).

    With ``checkpoint_dir``, every session is checkpointed there and an interrupted run
    resumes after its last finished session.
    """
    return run_configs([config], progress=progress, checkpoint_dir=checkpoint_dir)[0]


def run_configs(
    configs: list[BCIConfig], *, placement: Placement = VECTORISED, progress: bool = True,
    checkpoint_dir=None,
) -> list[xr.Dataset]:  # fmt: skip
    """Run configurations that share one static part as one compiled program (their
    hyperparameters and seed keys on a leading configuration axis, laid out by
    ``placement``); configuration ``i`` gives the Dataset :func:`run` gives for it alone (to
    float rounding). Padded to a multiple of ``placement.devices`` with copies of the last
    configuration (dropped)."""
    static, padded = shared_static(configs, placement)
    n = len(configs)
    hypers = stack_configs([c.split()[1] for c in padded])
    keys = stack_configs([seed_keys(c.seed, c.seeds) for c in padded])
    saved = config_dict(configs[0]) if n == 1 else {"configs": [config_dict(c) for c in configs]}
    t0 = time.perf_counter()
    ran, ran_compare = {}, {}
    with compile_time() as compiled:
        states, outputs = simulate(
            static, hypers, keys, placement=placement, checkpoint_dir=checkpoint_dir,
            config=saved, progress=progress, ran=ran,
        )  # fmt: skip
        compare = None
        split = configs[0].compare_split()
        if split is not None:
            sub = None if checkpoint_dir is None else Path(checkpoint_dir) / "compare"
            _, compare = simulate(
                split[0], hypers, keys, placement=placement, checkpoint_dir=sub, config=saved,
                progress=progress, ran=ran_compare,
            )  # fmt: skip
    starts = (ran.get("start", 0), ran_compare.get("start", 0))
    seconds = time.perf_counter() - t0
    datasets = []
    for i, config in enumerate(configs):
        t1 = time.perf_counter()
        take = functools.partial(take_config, i=i)
        ds = dataset(
            config,
            static,
            [take(o) for o in outputs],
            take(states.threshold),
            None if compare is None else [take(o.hits) for o in compare],
        )
        ds.attrs.update(
            simulation_seconds=seconds,
            simulation_compile_seconds=compiled.seconds,
            **compiled.cache_attrs(),
            analysis_seconds=time.perf_counter() - t1,
            configurations_together=len(padded),
            # This process's work: a resumed run counts the sessions it ran, not those read.
            trials_simulated=trials_simulated(config, *starts) * len(padded),
            resumed_at_session=starts[0],
        )
        datasets.append(ds)
    return datasets


def trials_simulated(config: BCIConfig, start: int = 0, start_compare: int = 0) -> int:
    """Model trials run by one configuration (calibration and sessions, every variant and
    seed, and the comparison) in a process that ran sessions ``start..sessions`` (and
    ``start_compare..sessions`` of the comparison); a resumed run read the others back."""

    def per(first: int) -> int:
        return config.calibration_trials + (config.sessions + 1 - first) * config.trials

    main = len(config.variants) * config.seeds * per(start)
    return main + (2 * config.seeds * per(start_compare) if config.compare_targets else 0)


def block_measures(record, window: int, targets: int | None = None) -> dict[str, np.ndarray]:
    """Imaging measures of one recorded block (one variant, seed and session).

    ``record``: :class:`~bayescortex.models.bci_task.Frames` with arrays ``(trials, time,
    ...)``. Returns per fit (:data:`FITS`) and target the residual's coupling with the error
    (correlation) and its event-locked error-decrease minus error-increase contrast, and the
    decoding accuracy of the outcome from the pre-outcome linear-fit residuals. Undefined
    values (a constant error, too few events, a single outcome) are NaN.
    """
    active = np.asarray(record.active) > 0
    soma = np.asarray(record.soma)[..., :targets]
    dend = np.asarray(record.dendrite)[..., :targets]
    error = np.where(active, np.asarray(record.error), np.nan)
    k = soma.shape[-1]
    coupling = np.full((len(FITS), k), np.nan)
    contrast = np.full((len(FITS), k), np.nan)
    decoding = np.nan
    if active.sum() < 2 * k + 4:
        return {"coupling": coupling, "contrast": contrast, "decoding": np.asarray(decoding)}
    for j, options in enumerate(FITS.values()):
        res = analysis.somatodendritic_residual(dend[active], soma[active], **options)
        if np.std(error[active]) > 0:
            coupling[j] = analysis.residual_coupling(res, error[active])
        full = np.full(soma.shape, np.nan)
        full[active] = res
        try:
            contrast[j] = analysis.error_change_contrast(full, error)
        except ValueError:
            pass
        if j == 0:
            hit = np.any(np.asarray(record.reward) > 0, axis=1)
            last = active.sum(axis=1)  # frames in the trial, the hit frame included
            outcome = np.where(hit, last - 1, last)
            usable = outcome >= 1
            try:
                feats = pre_outcome_features(full[usable], outcome[usable], window)
                decoding = decode_outcome(feats, hit[usable].astype(int))
            except ValueError:
                pass
    return {"coupling": coupling, "contrast": contrast, "decoding": np.asarray(decoding)}


def session_means(outputs) -> tuple[np.ndarray, np.ndarray]:
    """Per variant, seed, session and neuron (targets and non-targets): the mean imaged
    residual (one linear fit per neuron over the recorded frames of all sessions,
    :func:`~bayescortex.analysis.bci_residual_change.session_residual_means`) and the mean
    imaged soma."""
    soma = np.stack([np.asarray(o.record.soma) for o in outputs], axis=2)
    dend = np.stack([np.asarray(o.record.dendrite) for o in outputs], axis=2)
    active = np.stack([np.asarray(o.record.active) for o in outputs], axis=2) > 0
    n_v, n_s, n_sess = soma.shape[:3]
    session = np.broadcast_to(np.arange(n_sess)[:, None, None], active.shape[2:])
    residual = np.full((n_v, n_s, n_sess, soma.shape[-1]), np.nan)
    rate = np.full_like(residual, np.nan)
    for v in range(n_v):
        for i in range(n_s):
            m = active[v, i]
            if m.sum() < 8:
                continue
            g = session[m]
            residual[v, i] = session_residual_means(
                dend[v, i][m], soma[v, i][m], g, n_sessions=n_sess
            )
            count = np.bincount(g, minlength=n_sess).astype(float)
            total = np.stack([np.bincount(g, soma[v, i][m][:, j], minlength=n_sess)
                              for j in range(soma.shape[-1])], axis=1)  # fmt: skip
            with np.errstate(invalid="ignore", divide="ignore"):
                rate[v, i] = total / np.where(count > 0, count, np.nan)[:, None]
    return residual, rate


def dataset(config: BCIConfig, static: Static, outputs, threshold, compare=None) -> xr.Dataset:
    """The results of one configuration from its sessions' stats (leading axes variant,
    seed): behaviour, rates, feedback weights and their alignment, and the imaging measures
    of every recorded block."""
    task = static.task
    stack_s = lambda get: np.stack([np.asarray(get(o)) for o in outputs], axis=2)  # noqa: E731
    hits = stack_s(lambda o: o.hits)
    frames = stack_s(lambda o: o.active_frames)
    hit_frames = stack_s(lambda o: o.hit_frames)
    soma = stack_s(lambda o: o.soma_mean)
    feedback = stack_s(lambda o: o.feedback)
    signs = target_signs(task)
    dec = np.asarray(decoder(task))
    plus, minus = analysis.group_means(soma[..., : task.targets], signs)
    n_v, n_s, n_sess = hits.shape
    coupling = np.full((n_v, n_s, n_sess, len(FITS), task.targets), np.nan)
    contrast = np.full_like(coupling, np.nan)
    decoding = np.full((n_v, n_s, n_sess), np.nan)
    for s, out in enumerate(outputs):
        for v in range(n_v):
            for i in range(n_s):
                block = jax.tree.map(lambda a, v=v, i=i: np.asarray(a)[v, i], out.record)
                m = block_measures(block, config.pre_outcome_window, task.targets)
                coupling[v, i, s], contrast[v, i, s] = m["coupling"], m["contrast"]
                decoding[v, i, s] = m["decoding"]
    residual_mean, imaged_rate = session_means(outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        time_to_hit = np.where(hits > 0, hit_frames / np.maximum(hits, 1), np.nan)
    data = {
        "hit_rate": (("variant", "seed", "session"), hits / task.trials),
        "reward_rate": (("variant", "seed", "session"), hits / frames),
        "time_to_hit": (("variant", "seed", "session"), time_to_hit),
        "soma_rate": (("variant", "seed", "session", "neuron"), soma),
        "plus_rate": (("variant", "seed", "session"), plus),
        "minus_rate": (("variant", "seed", "session"), minus),
        "feedback": (("variant", "seed", "session", "neuron"), feedback),
        "feedback_alignment": (
            ("variant", "seed", "session"),
            analysis.feedback_alignment(feedback, dec),
        ),
        "bias": (("variant", "seed", "session", "neuron"), stack_s(lambda o: o.bias)),
        "threshold": (("variant", "seed"), np.asarray(threshold)),
        "coupling": (("variant", "seed", "session", "fit", "target"), coupling),
        "contrast": (("variant", "seed", "session", "fit", "target"), contrast),
        "decoding": (("variant", "seed", "session"), decoding),
        "residual_mean": (("variant", "seed", "session", "neuron"), residual_mean),
        "imaged_rate": (("variant", "seed", "session", "neuron"), imaged_rate),
        "decoder": (("neuron",), dec),
    }
    coords = {
        "variant": list(static.variants), "seed": np.arange(config.seeds),
        "session": np.arange(static.sessions + 1), "neuron": np.arange(task.neurons),
        "target": np.arange(task.targets), "fit": list(FITS),
        "role": ("target", np.where(signs > 0, "P+", "P-")),
    }  # fmt: skip
    if compare is not None:
        data["compare_hit_rate"] = (
            ("compare_variant", "seed", "session"),
            np.stack([np.asarray(h) for h in compare], axis=2) / task.trials,
        )
        coords["compare_variant"] = ["vectorized", "scalar"]
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        targets=task.targets, compare_targets=config.compare_targets,
        config=json.dumps(config_dict(config)),
    )  # fmt: skip
    return ds
