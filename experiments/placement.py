"""How a compiled program lays out its leading configuration axis: vectorised, in batches, or
split over local devices.

Sweeps stack the hyperparameters (array pytrees) of many configurations on a leading axis and
run one compiled program over it. :func:`over_configs` lifts a function of one configuration
to that axis: ``vmap`` (every configuration at once), ``lax.map`` with a batch size (memory
bounded by the batch), and ``shard_map`` over a one-axis mesh of local devices (each device
runs its block of configurations; no communication). Every random key derives from a
configuration's own seed, so the layout changes results only by float rounding. The pieces
every experiment's ``run_configs`` shares live here too: :func:`shared_static` (one static
part, padded to the devices), :func:`seed_keys`, :func:`stack_configs` and its inverse
:func:`take_config`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Placement(NamedTuple):
    """How a compiled program lays out its leading configuration axis (static, hashable).

    ``devices``: local devices the configurations are split over (``shard_map``; the number of
    configurations must be a multiple of it); ``batch``: configurations vectorised at once on
    a device (``lax.map`` with that batch size bounds memory; ``None``: all at once, one
    ``vmap``). Results do not depend on the placement beyond float rounding.
    """

    devices: int = 1
    batch: int | None = None


VECTORISED = Placement()
"""One device, every configuration at once."""


def over_configs(fn, placement: Placement, n_mapped: int):
    """Lift ``fn(*mapped, *shared)`` of one configuration to arguments whose first
    ``n_mapped`` have a leading configuration axis (the rest shared by all), laid out by
    ``placement``."""

    def local(*args):
        mapped, shared = args[:n_mapped], args[n_mapped:]
        if placement.batch is None:
            return jax.vmap(lambda *m: fn(*m, *shared))(*mapped)
        return jax.lax.map(lambda m: fn(*m, *shared), mapped, batch_size=placement.batch)

    if placement.devices == 1:
        return local
    devices = jax.devices()[: placement.devices]
    if len(devices) < placement.devices:
        raise ValueError(
            f"devices: {placement.devices} requested, {len(devices)} available "
            f"({jax.default_backend()}); on CPU set XLA_FLAGS="
            f"--xla_force_host_platform_device_count=N before jax starts"
        )
    mesh = jax.sharding.Mesh(np.asarray(devices), ("config",))
    spec = jax.sharding.PartitionSpec

    def sharded(*args):
        specs = (spec("config"),) * n_mapped + (spec(),) * (len(args) - n_mapped)
        return jax.shard_map(
            local, mesh=mesh, in_specs=specs, out_specs=spec("config"), check_vma=False
        )(*args)

    return sharded


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
    (the inverse of :func:`stack_configs`)."""
    return jax.tree.map(lambda a: np.asarray(a[i]), tree)
