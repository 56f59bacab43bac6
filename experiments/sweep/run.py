"""Sweeps: many configurations of an experiment in one compiled program per shape, in shards
that resume, on local devices or on a Ray cluster.

A sweep is an experiment (:mod:`bayescortex.experiments.experiment`), a base config and a set of
points (a grid, random draws, or both), each a few fields of the config set to other values.
Points are grouped by the static part of their config (:meth:`split`: shapes, counts, choices):
each group is one compiled program whose hyperparameters (arrays) and seed keys are a leading
configuration axis, laid out by a :class:`~bayescortex.experiments.placement.Placement`
(vectorised, batched with ``lax.map``, split over local devices). A group is cut into shards of
at most ``shard_size`` configurations; each shard is run, checked and written on its own
(``shards/<hash>.nc``, the hash of the shard's configs and the package version), so a resumed
sweep skips the finished shards and a killed one loses at most the shard in flight. The driver
merges the shards into one Dataset with a ``config`` dimension: one coordinate per swept field,
a ``status`` per configuration (``ok``, ``nan``: a required measure is not finite; ``invalid``:
the config was rejected; ``error``: its shard failed) and a ``message``.

Keys: every configuration uses the seeds of its own ``seed`` field (seed ``s`` is
``fold_in(key(seed), s)``): configurations share their "animals" and stimuli (common random
numbers), and no key depends on the shard, the index or the neighbours of a configuration.
Numbers: by default (:func:`~bayescortex.experiments.placement.like_runs`) each configuration
is computed one at a time by the program that ``run`` computes it with alone, so a point of a
sweep gives the numbers of its run (to float32 rounding of a few measures: measured, 1e-8).
Vectorising configurations (``batch``) or choosing ``devices`` compiles other programs: their
float rounding differs, and the sampler's discrete draws (a spike, a choice) can amplify it
into different trials and intervals (measured: a training choice in 32 flipped, a percent
redundancy resample moved by 20).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import jax
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..checkpoint import atomic_write
from ..compilation import enable_cache
from ..experiment import Experiment, experiment_named
from ..placement import Placement
from ..results import config_dict, load_config, versions
from .interrupts import interrupts
from .points import NOT_SWEPT, points

STATUSES = ("ok", "nan", "invalid", "error", "pending")


# -- shards -------------------------------------------------------------------------------------


def _identity(config) -> dict:
    return {k: v for k, v in config_dict(config).items() if k not in NOT_SWEPT}


def shard_name(experiment: str, configs) -> str:
    """Content address of a shard: a hash of the experiment, its configs (what they compute)
    and the package version."""
    text = json.dumps(
        {"experiment": experiment, "configs": [_identity(c) for c in configs],
         "version": versions().get("bayescortex")}, sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _effects_dataset(found: list[dict | None]) -> xr.Dataset:
    """Effects per configuration (``{name: (value, low, high)}``, None where not computed) as
    ``effect_<name>`` over (``config``, ``interval``), NaN where a configuration lacks one."""
    nan = (np.nan,) * 3
    names = dict.fromkeys(name for f in found if f for name in f)
    data = {
        f"effect_{name}": (("config", "interval"),
                           np.array([(f or {}).get(name, nan) for f in found], float))
        for name in names
    }  # fmt: skip
    return xr.Dataset(data, coords={"interval": ["value", "low", "high"]})


def shard_effects(exp: Experiment, datasets: list[xr.Dataset], stacked: xr.Dataset, ok):
    """The effects of a shard's configurations (``datasets``, and ``stacked`` along
    ``config``) that passed :func:`check` (``ok``), NaN for the others: an ``effect_<name>``
    Dataset over (``config``, ``interval``), and per configuration the error met computing them
    (``""`` for none). Computed once over the stacked configurations where the experiment's
    effects take a ``config`` dimension (``Experiment.stacked_effects``), else one
    configuration at a time."""
    found: list[dict | None] = [None] * len(datasets)
    errors = [""] * len(datasets)
    chosen = [i for i, good in enumerate(ok) if good]
    if exp.stacked_effects and chosen:
        try:
            together = exp.effects(stacked.isel(config=chosen))
        except Exception as err:  # noqa: BLE001 - reported per configuration
            error = f"effects: {_describe(err)}"
            return _effects_dataset(found), [error if good else "" for good in ok]
        for j, i in enumerate(chosen):
            found[i] = {name: np.asarray(v, float)[:, j] for name, v in together.items()}
        return _effects_dataset(found), errors
    for i in chosen:
        try:
            found[i] = exp.effects(datasets[i])
        except Exception as err:  # noqa: BLE001 - reported per configuration
            errors[i] = f"effects: {_describe(err)}"
    return _effects_dataset(found), errors


def check(exp: Experiment, ds: xr.Dataset) -> tuple[str, str]:
    """``(status, message)`` of one configuration's Dataset: ``nan`` naming the required
    variables that are not finite, else ``ok``."""
    bad = [v for v in exp.required if v in ds and not np.all(np.isfinite(ds[v].values))]
    if bad:
        return "nan", f"not finite: {', '.join(bad)}"
    return "ok", ""


def compute_shard(
    experiment: str, configs: list[dict], placement: Placement | None, progress: bool = False
) -> xr.Dataset:
    """One shard (configs sharing a static part, as JSON dicts) computed: the configurations'
    Datasets and effects on a ``config`` axis (local index), with ``status``/``message``.
    ``placement`` None: the experiment's ``layout`` of the local devices (each configuration
    computed as its run computes it)."""
    import jax

    exp = experiment_named(experiment)
    loaded = [load_config(exp.config, c) for c in configs]
    if placement is None:
        placement = exp.layout(jax.local_device_count(), len(loaded))
    t0 = time.perf_counter()
    datasets = exp.run_configs(loaded, placement=placement, progress=progress)
    checked = [check(exp, ds) for ds in datasets]
    shard = xr.concat(datasets, dim="config", join="outer", combine_attrs="drop_conflicts")
    ok = [status == "ok" for status, _ in checked]
    effects, errors = shard_effects(exp, datasets, shard, ok)
    status = [("error", e) if e else c for c, e in zip(checked, errors, strict=True)]
    shard = xr.merge([shard, effects], compat="override").assign(
        status=("config", [s for s, _ in status]), message=("config", [m for _, m in status])
    )
    shard = shard.assign_coords(config=np.arange(len(datasets)))
    shard.attrs.update(
        experiment=experiment, configs=json.dumps(configs), shard_seconds=time.perf_counter() - t0,
        placement=json.dumps(placement._asdict()), versions=json.dumps(versions()),
    )  # fmt: skip
    return shard


def _write_shard(shard: xr.Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: shard.to_netcdf(p, engine="h5netcdf"))


def use_cache(folder: str | None) -> None:
    """Turn on the persistent compilation cache in ``folder`` unless this process has one
    already (or ``folder`` is ``None``)."""
    if folder and not jax.config.jax_compilation_cache_dir:
        enable_cache(folder)


def run_shard(
    experiment: str, configs: list[dict], path: str | os.PathLike, placement: Placement | None,
    progress: bool = False, compile_cache: str | None = None,
) -> str:  # fmt: skip
    """:func:`compute_shard`, written atomically to ``path``; returns ``path``. (What a Ray
    task runs.) ``compile_cache``: the persistent compilation cache folder to use where this
    process has none yet (a Ray worker is a fresh process: the driver passes its own folder,
    so the workers of one machine compile each program once between them)."""
    use_cache(compile_cache)
    _write_shard(compute_shard(experiment, configs, placement, progress), Path(path))
    return str(path)


def _load_shard(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


# -- the sweep ----------------------------------------------------------------------------------


def sweep(
    experiment: str,
    base,
    grid: dict[str, list] | None = None,
    *,
    seeds: int | None = None,
    random: dict[str, list] | None = None,
    folder: str | os.PathLike | None = None,
    shard_size: int | None = None,
    devices: int | None = None,
    batch: int | None = None,
    executor: str = "local",
    ray_gpus: float = 0.0,
    part: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> xr.Dataset:
    """Run ``experiment`` at every point of ``grid`` (and ``random``, see :func:`points`) on
    top of the config ``base``; return one Dataset with a ``config`` dimension.

    ``seeds`` overrides ``base.seeds``. Configurations are grouped by static part (one
    compilation each), cut into shards of at most ``shard_size`` (default: a group is one
    shard), each run with its configuration axis split over ``devices`` local devices and
    vectorised ``batch`` at a time (default, neither given: each configuration alone, as
    ``run`` runs it, on every local device: see the module docstring). With ``folder``, each
    finished shard is written to ``folder/shards/`` and found again by a later call (resume).
    ``executor="ray"`` runs each shard as a Ray task (``ray.init()`` must reach a cluster, or
    starts a local one; ``folder`` must be shared by the workers), ``ray_gpus`` GPUs each.
    A configuration that is rejected, fails or gives non-finite required measures is reported
    in ``status``/``message`` and its values are NaN; the others complete. ``part=(i, n)``:
    run only the shards ``k`` with ``k % n == i`` (process ``i`` of ``n`` sharing ``folder``);
    points whose shard is neither run nor on disk are ``pending``. Ctrl-C (SIGINT) raises
    ``KeyboardInterrupt`` at once or, if that was swallowed (:mod:`.interrupts`), at the next
    shard boundary; the shards written so far are kept, so a later call resumes.
    """
    exp = experiment_named(experiment)
    if not isinstance(base, exp.config):
        raise ValueError(f"base: expected a {exp.config.__name__}, got {type(base).__name__}")
    if executor not in ("local", "ray"):
        raise ValueError(f"executor: 'local' or 'ray', got {executor!r}")
    if executor == "ray" and folder is None:
        raise ValueError("executor='ray': a folder shared by the workers is needed (folder=)")
    i_part, n_part = part
    if not (n_part >= 1 and 0 <= i_part < n_part):
        raise ValueError(f"part: need 0 <= i < n, got {i_part}/{n_part}")
    if n_part > 1 and folder is None:
        raise ValueError("part: the parts meet in a shared folder (folder=)")
    if shard_size is not None and shard_size < 1:
        raise ValueError(f"shard_size: must be positive, got {shard_size}")
    common = {} if seeds is None else {"seeds": seeds}
    pts = points(grid, random) or [{}]
    names = list(dict.fromkeys(k for p in pts for k in p))
    configs, status, message = [], [], []
    for p in pts:
        try:
            configs.append(dataclasses.replace(base, **common, **p))
            status.append("ok")
            message.append("")
        except (ValueError, TypeError) as err:
            configs.append(None)
            status.append("invalid")
            message.append(str(err))
    groups: dict = {}
    for i, c in enumerate(configs):
        if c is not None:
            groups.setdefault(c.split()[0], []).append(i)
    size = shard_size or max((len(g) for g in groups.values()), default=1)
    shards = [g[j : j + size] for g in groups.values() for j in range(0, len(g), size)]
    folder = None if folder is None else Path(folder)
    shard_dir = None if folder is None else folder / "shards"
    placement = None
    if devices is not None or batch is not None:
        import jax

        placement = Placement(devices or jax.local_device_count(), batch)
    # Without a folder nothing is written: the shards stay in memory (None: no file).
    names_of = [shard_name(experiment, [configs[i] for i in s]) for s in shards]
    paths = [None if shard_dir is None else shard_dir / f"{n}.nc" for n in names_of]
    exists = [p is not None and p.exists() for p in paths]
    todo = [k for k in range(len(shards)) if not exists[k] and k % n_part == i_part]
    n_done = sum(len(shards[k]) for k in range(len(shards)) if exists[k])
    bar = tqdm(
        total=n_done + sum(len(shards[k]) for k in todo), initial=n_done, unit="config",
        desc=f"sweep {experiment}", disable=not progress,
    )  # fmt: skip
    failed: dict[int, str] = {}
    computed: dict[int, xr.Dataset] = {}
    with bar, interrupts() as interrupted:
        if n_done:
            bar.set_postfix_str(f"{sum(exists)} finished shards reused")
        jobs = [(k, [config_dict(configs[i]) for i in shards[k]]) for k in todo]
        if executor == "local":
            for k, dicts in jobs:
                interrupted.check()
                try:
                    computed[k] = compute_shard(experiment, dicts, placement, progress=False)
                    if paths[k] is not None:
                        _write_shard(computed[k], paths[k])
                except Exception as err:  # noqa: BLE001 - reported per configuration
                    failed[k] = _describe(err)  # (a KeyboardInterrupt is no Exception)
                bar.update(len(shards[k]))
            interrupted.check()
        else:
            failed |= _run_ray(
                experiment, jobs, paths, placement, ray_gpus, bar, shards, interrupted
            )
    for k, why in failed.items():
        for i in shards[k]:
            status[i], message[i] = "error", why
    parts, order = [], []
    for k, s in enumerate(shards):
        if k in failed:
            continue
        if k not in computed and not (paths[k] is not None and paths[k].exists()):
            for i in s:  # another part's shard, not written yet
                status[i], message[i] = "pending", f"shard {k} belongs to another part"
            continue
        shard = computed[k] if k in computed else _load_shard(paths[k])
        for local, i in enumerate(s):
            status[i] = str(shard.status.values[local])
            message[i] = str(shard.message.values[local])
        parts.append(shard.drop_vars(["status", "message"]))
        order.extend(s)
    return _merge(pts, names, configs, parts, order, status, message, base)


def _describe(err: BaseException) -> str:
    """``Type: message`` of an exception, without the notes (jax adds one on traceback
    filtering, which ``format_exception_only`` would put last)."""
    text = str(err).strip()
    return (f"{type(err).__name__}: {text}" if text else type(err).__name__)[:500]


def _run_ray(
    experiment, jobs, paths, placement, gpus, bar, shards, interrupted=None
) -> dict[int, str]:  # fmt: skip
    """Run shards as Ray tasks; ``{shard: error message}`` of those that failed."""
    try:
        import ray
    except ImportError as err:
        raise ValueError("executor='ray' needs Ray: pip install -e '.[ray]'") from err
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(run_shard)
    cache = jax.config.jax_compilation_cache_dir  # the driver's, for the workers
    futures = {
        task.remote(experiment, dicts, str(paths[k]), placement, False, cache): k
        for k, dicts in jobs
    }
    failed = {}
    pending = list(futures)
    while pending:
        if interrupted is not None and interrupted.seen:
            for future in pending:
                ray.cancel(future)
            interrupted.check()
        done, pending = ray.wait(pending, num_returns=1)
        k = futures[done[0]]
        try:
            ray.get(done[0])
        except Exception as err:  # noqa: BLE001 - reported per configuration
            failed[k] = _describe(getattr(err, "cause", None) or err)
        bar.update(len(shards[k]))
    return failed


def _aligned(parts: list[xr.Dataset]) -> list[xr.Dataset]:
    """``parts`` with an index coordinate on every coordinate-less dimension whose size differs
    between them (e.g. ``time`` in a sweep over ``bins``), so that an outer join pads the
    shorter ones with NaN instead of refusing to align them."""
    sizes: dict[str, set[int]] = {}
    for ds in parts:
        for dim, n in ds.sizes.items():
            sizes.setdefault(dim, set()).add(n)
    ragged = [d for d, n in sizes.items() if len(n) > 1 and all(d not in ds.coords for ds in parts)]
    return [ds.assign_coords({d: np.arange(ds.sizes[d]) for d in ragged if d in ds.dims})
            for ds in parts]  # fmt: skip


def _merge(pts, names, configs, parts, order, status, message, base) -> xr.Dataset:
    """One Dataset over every point (``config`` dimension) from the shards ``parts``, whose
    configurations are the points ``order`` (in turn); missing configurations NaN, and so are
    the positions a configuration lacks along a dimension whose size varies (e.g. the later
    time bins of a configuration with fewer bins)."""
    if parts:
        ds = xr.concat(_aligned(parts), dim="config", join="outer", combine_attrs="drop_conflicts")
        ds = ds.assign_coords(config=order).sortby("config")
        ds = ds.reindex(config=np.arange(len(pts)))
    else:
        ds = xr.Dataset(coords={"config": np.arange(len(pts))})
    coords = {}
    for name in names:
        values = [p.get(name, getattr(base, name)) for p in pts]
        if any(isinstance(v, (tuple, list)) for v in values):  # e.g. coherences: JSON text
            values = [json.dumps(list(v)) if isinstance(v, (tuple, list)) else v for v in values]
        coords[name] = ("config", np.asarray(values, dtype=object if _mixed(values) else None))
    ds = ds.assign_coords(coords)
    ds["status"] = ("config", np.asarray(status, dtype=str))
    ds["message"] = ("config", np.asarray(message, dtype=str))
    ds.attrs.update(
        swept=json.dumps(names),
        base_config=json.dumps(config_dict(base)),
        configs=json.dumps([None if c is None else config_dict(c) for c in configs]),
    )
    return ds


def _mixed(values) -> bool:
    return any(v is None for v in values) or len({type(v) for v in values}) > 1
