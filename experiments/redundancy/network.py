"""The classic hypothesis, measured like the sampling model: a discriminative network's hidden
units before and after training, on blocks with the recording layout, in one compiled program
with seeds vmapped."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from bayescortex.analysis.moments import moments_from_trials, poisson_weights
from bayescortex.models import Stimulus

from ..discriminative import initial_network, record_network, train_network
from ..protocol import BlockStats, Hyper, bootstrap_key, correct_per_level, trial_table
from .config import Static
from .measures import Analysis, replicate_measures


def network_measures(static: Static, hyper: Hyper, seed_keys):
    """Train the discriminative network of every seed (one compiled program, seeds vmapped) and
    measure its hidden units before and after training on blocks with the recording layout:
    ``(point, resampled)`` with leading axes ``(seed, phase)``, and the losses ``(seed, step)``.
    Seed ``s`` initialises its network from ``nnx.Rngs(s)``."""
    nets = [initial_network(Stimulus().size ** 2, static.network_hidden, s)
            for s in range(len(seed_keys))]  # fmt: skip
    graphdef = nets[0][0]
    params = jax.tree.map(lambda *a: jnp.stack(a), *[n[1] for n in nets])
    return _networks(static, graphdef, hyper, seed_keys, params)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _networks(static: Static, graphdef, hyper: Hyper, seed_keys, params):
    p = static.protocol
    level, contrasts = trial_table(p)
    contrasts = jnp.asarray(contrasts, jnp.float32)
    signal = jnp.asarray([c for c in p.levels if c != 0], jnp.float32)
    stimulus = Stimulus(noise_sd=hyper.noise_sd)
    analysis = Analysis(
        tuple(2.0 * c for c in p.coherences), min(static.subset_size, static.network_hidden),
        bins=0,
    )  # fmt: skip
    lv = jnp.asarray(level)

    def one(seed_key, prm):
        weights = poisson_weights(bootstrap_key(seed_key), jnp.arange(level.size), p.resamples)
        k_rec, k_train = jax.random.fold_in(seed_key, 5), jax.random.fold_in(seed_key, 6)

        def stats_of(prm):
            responses, choices = record_network(k_rec, graphdef, prm, stimulus, static.task,
                                                contrasts)  # fmt: skip
            x = responses[:, None, :]
            moments = jax.vmap(lambda w: moments_from_trials(x, lv, w, n_levels=len(p.levels)))(
                weights
            )
            hits = correct_per_level(weights, choices, contrasts, lv, len(p.levels))
            return BlockStats(moments, hits)

        before = stats_of(prm)
        trained, losses = train_network(k_train, graphdef, prm, stimulus, static.task, signal,
                                        steps=static.network_steps)  # fmt: skip
        stats = jax.tree.map(lambda *a: jnp.stack(a), before, stats_of(trained))
        point, resampled = replicate_measures(
            analysis, stats, jax.random.fold_in(seed_key, 7),
            n_subsets=static.subsets, boot_subsets=static.bootstrap_subsets,
        )  # fmt: skip
        return point, resampled, losses

    return jax.vmap(one)(seed_keys, params)
