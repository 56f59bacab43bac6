"""The classic hypothesis, measured like the sampling model: two feedforward baselines trained
session by session to the sampling model's accuracy, recorded with fresh and frozen noise.

Baselines (:data:`BASELINES`, one vmapped axis: only the traced weight ``lambda_TC`` differs):
``discriminative`` (``lambda_TC = 0``: cross-entropy and the energy cost) and ``efficient``
(``lambda_TC = hyper.network_tc``: also penalise the total correlation of the responses given
the category, Barlow's redundancy reduction). Both share the seed's initial network
(``nnx.Rngs(seed index)``), its training batches and its recorded images.

Sessions: session 0 is the initial network; session ``s >= 1`` is up to
``static.network_steps`` Adam steps that stop once the network's running training accuracy
reaches ``target_accuracy[seed, s]``, the sampling model's engaged accuracy after its session
``s`` (:mod:`bayescortex.experiments.discriminative`), so the baselines are compared with the
sampling model at matched performance. After every session a block with the recording layout
is recorded twice (:data:`NOISE`): with fresh noise images on every trial, and with frozen
noise (one image per level), whose zero-signal covariance is the variability generated inside
the network alone. The same images, network noise draws, bootstrap weights and neuron subsets
serve every session and both baselines (paired comparisons). Everything is one ``jax.jit``
with ``static`` static: seeds and baselines vmapped, sessions a ``lax.scan``, each session's
blocks reduced to their measures inside the scan (memory does not grow with sessions).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from bayescortex.analysis.moments import moments_from_trials, poisson_weights
from bayescortex.models import Stimulus

from ..blocks import BlockStats, correct_per_level
from ..discriminative import (
    N_SHARED,
    Penalties,
    SessionLog,
    init_train_state,
    initial_network,
    noise_variance,
    record_network,
    train_session,
)
from ..keys import NETWORK_KEY, bootstrap_key
from ..placement import VECTORISED, Placement, over_configs
from ..protocol import Hyper, signed_levels, trial_table
from .config import Static
from .measures import Analysis, replicate_measures

BASELINES = ("discriminative", "efficient")
"""The baseline axis: ``lambda_TC = 0`` and ``lambda_TC = hyper.network_tc``."""

NOISE = ("fresh", "frozen")
"""The noise axis: a new noise image every trial, or one image per level."""


class NetworkOutput(NamedTuple):
    """Measures of the baselines' hidden units (axis orders in the comments)."""

    point: dict  # measure -> Named, leading axes (seed, session, baseline, noise)
    resampled: dict  # measure -> Named, leading axes (seed, session, baseline, noise, resample)
    accuracy: Float[Array, "seed session baseline"]  # = point["accuracy"].value[..., 0] (fresh)
    steps: Int[Array, "seed session baseline"]  # Adam steps applied (session 0: 0)
    loss: Float[Array, "seed baseline step"]  # sessions 1.. concatenated; NaN: no step
    private_fraction: Float[Array, "seed session baseline"]
    shared_fraction: Float[Array, "seed session baseline"]  # |L|_F^2 / total, fresh noise


def network_measures(
    static: Static, hypers: Hyper, keys, target_accuracy, *, n_shared: int = N_SHARED,
    placement: Placement = VECTORISED,
) -> NetworkOutput:  # fmt: skip
    """Train both baselines of every configuration and seed over the sessions and measure
    them after each (outputs with leading axes ``(config, seed)``).

    ``hypers``: a leading configuration axis; ``keys``: ``(config, seed)``;
    ``target_accuracy``: ``(config, seeds, sessions + 1)``, entry ``s`` the accuracy session
    ``s`` trains to (column 0, before training, is not used; NaN: no early stopping). Seed
    ``s`` initialises its network from ``nnx.Rngs(s)``. ``loss``: ``network_steps`` entries per
    session (sessions 1, 2, ... in order), the training loss of each step applied and NaN for
    the steps not taken (``steps`` counts the finite ones). ``private_fraction``: the share of the
    fresh zero-signal noise variance (trace) that is private, from the network's noise model:
    given the image the covariance is ``diag(rates) + L L^T``, so by the law of total
    variance ``tr Cov = sum_i mean(rate_i) + |L|_F^2 + tr Cov_images(rates)``, the three
    terms estimated on the block's zero-signal images; the private share is the first over the
    sum and ``shared_fraction`` the second (internal shared noise); the rest is pixel noise
    carried by the rates. ``n_shared``: dimensions of the internal shared noise (0: none).
    """
    n_configs, n_seeds = keys.shape
    target = jnp.asarray(target_accuracy, jnp.float32)
    if target.shape != (n_configs, n_seeds, static.sessions + 1):
        raise ValueError(
            f"target_accuracy: expected shape (configs, seeds, sessions + 1) = "
            f"{(n_configs, n_seeds, static.sessions + 1)}, got {target.shape}"
        )
    pixels = Stimulus().size ** 2
    nets = [initial_network(pixels, static.network_hidden, s, n_shared) for s in range(n_seeds)]
    graphdef = nets[0][0]
    params = jax.tree.map(lambda *a: jnp.stack(a), *[n[1] for n in nets])
    return _networks(static, graphdef, placement, hypers, keys, target, params)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _networks(static: Static, graphdef, placement: Placement, hypers, keys, target, params):
    one = functools.partial(_networks_one, static, graphdef)
    return over_configs(one, placement, 3)(hypers, keys, target, params)


def _networks_one(static: Static, graphdef, hyper: Hyper, seed_keys, target, params):
    p = static.protocol
    level, contrasts = trial_table(p, hyper.coherences)
    n_levels = p.n_levels
    lv = jnp.asarray(level)
    contrasts = jnp.asarray(contrasts, jnp.float32)
    signal = jnp.asarray(signed_levels(hyper.coherences)[1:], jnp.float32)
    stimulus = Stimulus(noise_sd=hyper.noise_sd)
    analysis = Analysis(
        2.0 * hyper.coherences, min(static.subset_size, static.network_hidden), bins=0
    )
    zero = np.flatnonzero(level == 0)
    lambdas = jnp.stack([jnp.zeros_like(hyper.network_tc), hyper.network_tc])
    steps = static.network_steps

    def one_seed(seed_key, prm, tgt):
        weights = poisson_weights(bootstrap_key(seed_key), jnp.arange(level.size), p.resamples)
        k_rec, k_train, k_measure = (
            jax.random.fold_in(jax.random.fold_in(seed_key, NETWORK_KEY), i) for i in range(3)
        )

        def block(prm, frozen):
            rec = record_network(k_rec, graphdef, prm, stimulus, static.task, lv, contrasts,
                                 frozen)  # fmt: skip
            x = rec.responses[:, None, :]
            # One replicate at a time: vmapped, every replicate's centred trials would be held
            # at once ((resamples + 1) x trials x hidden, 1.3 GiB per seed at paper scale).
            moments = jax.lax.map(
                lambda w: moments_from_trials(x, lv, w, n_levels=n_levels), weights
            )
            hits = correct_per_level(weights, rec.choices, contrasts, lv, n_levels)
            return BlockStats(moments, hits), noise_variance(graphdef, prm, rec.rates[zero])

        def one_baseline(lam_tc):
            penalties = Penalties(lam_tc, hyper.network_energy, hyper.network_learning_rate)

            def session(state, s):
                def train(st):
                    return train_session(
                        jax.random.fold_in(k_train, s), graphdef, st, stimulus, static.task,
                        signal, tgt[s], penalties, steps=steps,
                    )  # fmt: skip

                def skip(st):  # session 0: the initial network
                    nothing = jnp.zeros((steps,), jnp.float32)
                    return st, SessionLog(nothing, jnp.zeros((steps,), bool), nothing)

                state, log = jax.lax.cond(s > 0, train, skip, state)
                stats, variance = jax.vmap(lambda f: block(state.params, f))(
                    jnp.asarray([False, True])
                )
                point, resampled = replicate_measures(
                    analysis, stats, k_measure,
                    n_subsets=static.subsets, boot_subsets=static.bootstrap_subsets,
                )  # fmt: skip
                fresh = jax.tree.map(lambda a: a[0], variance)
                diag = (
                    jnp.sum(log.applied.astype(jnp.int32)),
                    fresh.private / fresh.total,
                    fresh.internal_shared / fresh.total,
                )
                return state, (point, resampled, log.loss, *diag)

            _, out = jax.lax.scan(session, init_train_state(prm), jnp.arange(static.sessions + 1))
            return out

        return jax.vmap(one_baseline)(lambdas)

    point, resampled, loss, n_steps, private, shared = jax.vmap(one_seed)(seed_keys, params, target)
    # (seed, baseline, session, ...) -> (seed, session, baseline, ...)
    swap = lambda a: jnp.swapaxes(a, 1, 2)  # noqa: E731
    point, resampled = jax.tree.map(swap, point), jax.tree.map(swap, resampled)
    loss = loss[:, :, 1:].reshape(loss.shape[0], loss.shape[1], -1)
    return NetworkOutput(
        point, resampled, point["accuracy"].value[..., 0], swap(n_steps), loss, swap(private),
        swap(shared),
    )  # fmt: skip
