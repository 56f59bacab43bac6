"""How a compiled program lays out its leading configuration axis: vectorised, in batches, or
split over local devices; and how a recording splits its conditions over devices.

Sweeps stack the hyperparameters (array pytrees) of many configurations on a leading axis and
run one compiled program over it. :func:`over_configs` lifts a function of one configuration
to that axis: ``vmap`` (every configuration at once), ``lax.map`` with a batch size (memory
bounded by the batch), and ``shard_map`` over a mesh of local devices (each device runs its
block of configurations; no communication). A program may also split an axis of one
configuration, the conditions of a recorded block, over a second mesh axis: a single run
then uses two devices (on CPU, two host devices, one core each: the sampler's sequential scan
runs on one core per device, so this is how a run uses two cores). :func:`put` moves a
program's inputs onto its devices; :func:`kernel_placement` is where a program that calls
library kernels (LAPACK, TopK) may run. Every random key derives from a configuration's own
seed, so the layout changes results only by float rounding. The pieces every experiment's
``run_configs`` shares live here too: :func:`shared_static` (one static part, padded to the
devices), :func:`seed_keys`, :func:`stack_configs` and its inverse :func:`take_config`.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Placement(NamedTuple):
    """How a compiled program lays out its leading configuration axis (static, hashable).

    ``devices``: local devices the configurations are split over (``shard_map``; the number of
    configurations must be a multiple of it); ``batch``: configurations vectorised at once on
    a device (``lax.map`` with that batch size bounds memory; ``None``: all at once, one
    ``vmap``); ``conditions``: devices a recorded block's conditions are split over, in the
    programs that record (1 or 2: a block records a pair of conditions), so those programs use
    ``devices * conditions`` devices. Results do not depend on the placement beyond float
    rounding.
    """

    devices: int = 1
    batch: int | None = None
    conditions: int = 1


VECTORISED = Placement()
"""One device, every configuration at once."""


def over_configs(fn, placement: Placement, n_mapped: int, split: tuple[int, int] | None = None):
    """Lift ``fn(*mapped, *shared)`` of one configuration to arguments whose first
    ``n_mapped`` have a leading configuration axis (the rest shared by all), laid out by
    ``placement``. ``split = (argument, axis)``: that argument's condition axis is split over
    ``placement.conditions`` devices, and so is output axis ``axis`` (counting the
    configuration axis as 0) of every output; the condition axis of a shared argument is its
    leading one, of a mapped argument its axis ``axis`` (as in the outputs)."""

    def local(*args):
        mapped, shared = args[:n_mapped], args[n_mapped:]
        if placement.batch is None:
            return jax.vmap(lambda *m: fn(*m, *shared))(*mapped)
        return jax.lax.map(lambda m: fn(*m, *shared), mapped, batch_size=placement.batch)

    mesh = _mesh(placement, split is not None)
    if mesh is None:
        return local
    spec = jax.sharding.PartitionSpec

    def sharded(*args):
        specs = [spec("config")] * n_mapped + [spec()] * (len(args) - n_mapped)
        out = spec("config")
        if split is not None:
            arg, axis = split
            out = spec("config", *[None] * (axis - 1), "condition")
            specs[arg] = out if arg < n_mapped else spec("condition")
        return jax.shard_map(
            local, mesh=mesh, in_specs=tuple(specs), out_specs=out, check_vma=False
        )(*args)

    return sharded


def _mesh(placement: Placement, split: bool) -> jax.sharding.Mesh | None:
    """The mesh ``(config, condition)`` of a program (``None``: one device, no mesh)."""
    if split and placement.conditions not in (1, 2):
        raise ValueError(
            f"conditions: {placement.conditions}; a recorded block has 2 conditions (1 or 2)"
        )
    shape = (placement.devices, placement.conditions if split else 1)
    if shape == (1, 1):
        return None
    n = shape[0] * shape[1]
    devices = jax.devices()[:n]
    if len(devices) < n:
        raise ValueError(
            f"devices: {n} requested ({shape[0]} for the configurations x {shape[1]} for the "
            f"conditions), {len(devices)} available ({jax.default_backend()}); on CPU set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N before jax starts"
        )
    return jax.sharding.Mesh(np.asarray(devices).reshape(shape), ("config", "condition"))


def put(args: tuple, placement: Placement, n_mapped: int, split: bool = False) -> tuple:
    """``args`` moved onto the devices of a program of ``placement`` (``split``: one that
    splits the conditions): the first ``n_mapped`` split by configuration, the rest
    replicated. Arrays another program left on other devices must move before the call (a
    compiled program refuses inputs committed to a different set of devices)."""
    mesh = _mesh(placement, split)
    if mesh is None:
        return jax.device_put(args, jax.devices()[0])
    named = jax.sharding.NamedSharding
    spec = jax.sharding.PartitionSpec
    return tuple(
        jax.device_put(a, named(mesh, spec("config") if i < n_mapped else spec()))
        for i, a in enumerate(args)
    )


def kernel_placement(placement: Placement) -> Placement:
    """Where a program that calls library kernels (XLA custom calls: LAPACK's LU or Cholesky,
    TopK) runs: on CPU, one device, its configurations vectorised; elsewhere split by
    configuration as ``placement`` says. On several CPU host devices at once, jaxlib's batched
    LAPACK kernels deadlocked (both devices waiting on the thread pool, whose workers sat idle:
    docs/performance.md); a program with a TopK hung once the same way. The recording calls
    none (a test checks its lowered program), so it may split."""
    if jax.default_backend() == "cpu":
        return Placement(batch=placement.batch)
    return placement._replace(conditions=1)


def for_devices(available: int, n_configs: int = 1) -> Placement:
    """``n_configs`` configurations on ``available`` devices: the configurations split over
    all of them (or as many as there are configurations), and a recording's two conditions
    over two where twice as many devices as that are available."""
    devices = max(1, min(available, n_configs))
    return Placement(devices=devices, conditions=2 if available >= 2 * devices else 1)


def like_runs(available: int, n_configs: int = 1) -> Placement:
    """``n_configs`` configurations on ``available`` devices, each computed by the program a
    run of it alone computes it with (:func:`one_run`): its recordings' conditions split over
    two devices where two are available, and the configurations one at a time on each group
    of devices (``lax.map``, batch 1; as many groups as there are devices for them). A sweep's
    default: vectorising configurations (``batch`` > 1) or moving the conditions compiles
    another program, whose float rounding the sampler's discrete draws (a spike, a choice)
    amplify into different trials, so a point would give other numbers than its run.

    >>> like_runs(2, 5), like_runs(2, 1) == for_devices(2)
    (Placement(devices=1, batch=1, conditions=2), True)
    """
    alone = for_devices(available)
    if n_configs <= 1:
        return alone
    groups = max(1, min(available // alone.conditions, n_configs))
    return Placement(devices=groups, batch=1, conditions=alone.conditions)


def one_run() -> Placement:
    """The placement of a single run (:func:`for_devices` of one configuration on the local
    devices): its blocks' two conditions split over two devices where two are available (on
    CPU, :func:`split_cpu` makes them), one device otherwise."""
    return for_devices(jax.local_device_count())


def split_cpu(n: int | None = None) -> int | None:
    """Split the CPU into ``n`` host devices (default: 2 where the machine has 2 cores or
    more) so that :func:`one_run` uses two cores. Does nothing, and returns ``None``, where the
    user chose (``XLA_FLAGS=--xla_force_host_platform_device_count``, ``JAX_NUM_CPU_DEVICES``)
    or jax has already started its backends (the number cannot change then); otherwise
    returns the number set. Call it before jax's first computation (importing bayescortex
    and building its configurations start none); the command line does. Called too late with
    one CPU device, it says so in a ``RuntimeWarning``."""
    from jax._src import xla_bridge  # backends_are_initialized: no public equivalent

    chosen = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    if chosen or jax.config.jax_num_cpu_devices >= 0:
        return None
    if xla_bridge.backends_are_initialized():
        if len(jax.devices("cpu")) == 1 and (os.cpu_count() or 1) > 1:
            warnings.warn(
                "split_cpu: jax had already started with one CPU device, so a run's recordings "
                "use one core; call split_cpu() before the first jax computation, or set "
                "JAX_NUM_CPU_DEVICES=2",
                RuntimeWarning,
                stacklevel=2,
            )
        return None
    n = min(2, os.cpu_count() or 1) if n is None else n
    jax.config.update("jax_num_cpu_devices", n)
    return n


def shared_static(configs, placement: Placement):
    """The static part every config of ``configs`` shares (``config.split()[0]``, a
    NamedTuple), and ``configs`` padded to a multiple of ``placement.devices`` by repeating the
    last one (the copies' results are dropped). A ValueError names the fields that differ."""
    if not configs:
        raise ValueError("configs: need at least one configuration")
    static = configs[0].split()[0]
    for c in configs[1:]:
        other = c.split()[0]
        if other != static:
            diff = [f for f in type(static)._fields if getattr(other, f) != getattr(static, f)]
            raise ValueError(
                f"configs: one compiled program needs one static part; {diff} differ "
                f"(group configurations by their static part first, as sweep() does)"
            )
    return static, list(configs) + [configs[-1]] * (-len(configs) % placement.devices)


def seed_keys(root_seed: int, n_seeds: int) -> jax.Array:
    """Seed ``s`` of a run (an "animal"): ``fold_in(key(root_seed), s)``, for ``s < n_seeds``."""
    root = jax.random.key(root_seed)
    return jax.vmap(lambda s: jax.random.fold_in(root, s))(jnp.arange(n_seeds))


def stack_configs(trees):
    """Stack pytrees (hyperparameters, keys) on a new leading configuration axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def take_config(tree, i: int):
    """Configuration ``i`` of a pytree with a leading configuration axis, as numpy arrays
    (the inverse of :func:`stack_configs`). Each array is copied to the host once (jax keeps
    that copy), then indexed there: taking every configuration in turn costs one transfer,
    not one device gather per configuration and leaf."""
    return jax.tree.map(lambda a: np.asarray(a)[i], tree)
