"""The hierarchical model written once more in numpyro, for reference inference.

:func:`numpyro_model` is the same generative model as
:class:`bayescortex.models.HierarchicalModel`, site by site, so that numpyro's machinery
(log densities, NUTS, diagnostics) can check the hand-written Gibbs kernels. Conditioning it on
the discrete latents leaves the x-block posterior ``p(x | K, O, g, s, y)``, which
:func:`nuts_neurons` samples with NUTS: the reference that tests and benchmarks compare the
Gibbs and MALA x updates against.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

from bayescortex.models.hierarchical import HierarchicalModel


def numpyro_model(model: HierarchicalModel, contrast=1.0, image=None, cue=0):
    """``K -> O -> g -> x -> y`` given the cue, with sites 'context', 'category', 'units',
    'neurons', 'image'."""
    fb = model.feedback
    context = numpyro.sample("context", dist.Categorical(logits=fb.context_log_prior(cue)))
    category = numpyro.sample("category", dist.Categorical(probs=jnp.full(2, 0.5)))
    p = model.unit_probabilities()[context, category]
    units = numpyro.sample("units", dist.Bernoulli(probs=p).to_event(1))
    tau = model.means(units)
    neurons = numpyro.sample("neurons", dist.Exponential(rate=1.0 / tau).to_event(1))
    mean = contrast * (neurons @ model.fields)
    return numpyro.sample("image", dist.Normal(mean, model.sigma_y).to_event(1), obs=image)


def nuts_neurons(
    key,
    model: HierarchicalModel,
    units,
    image,
    contrast=1.0,
    *,
    context=0,
    category=0,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 1,
):
    """NUTS draws of ``x`` from ``p(x | g, s, y)`` (shape: chains x samples x neurons).

    The discrete latents are clamped with ``numpyro.handlers.condition``; NUTS works on
    ``log x`` through numpyro's positive-support transform.
    """
    conditioned = numpyro.handlers.condition(
        numpyro_model,
        {"context": jnp.asarray(context), "category": jnp.asarray(category), "units": units},
    )
    mcmc = MCMC(
        NUTS(conditioned),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(key, model, contrast, image)
    return mcmc.get_samples(group_by_chain=True)["neurons"]
