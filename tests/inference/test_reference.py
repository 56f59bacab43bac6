"""The x-block samplers (exact Gibbs, reflected MALA) against numpyro NUTS on one posterior."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size
from numpyro.infer.util import log_density

from bayescortex.inference import gibbs, mala
from bayescortex.inference.reference import numpyro_model, nuts_neurons
from bayescortex.models import reference_model

CONTRAST = 1.0


@pytest.fixture(scope="module")
def posterior():
    model = reference_model(4, 2, delta=0.5)
    latents, image = model.sample(jax.random.key(7), contrast=CONTRAST, context=0)
    draws = nuts_neurons(
        jax.random.key(8),
        model,
        latents.units,
        image,
        CONTRAST,
        num_warmup=500,
        num_samples=4000,
        num_chains=2,
    )
    draws = np.asarray(draws)
    ess = np.asarray(effective_sample_size(draws))
    flat = draws.reshape(-1, draws.shape[-1])
    return model, latents, image, flat, ess


@pytest.mark.parametrize("cue", [0, 1])
@pytest.mark.parametrize("context", [0, 1, 2])
def test_numpyro_model_log_density_equals_ours(cue, context):
    logits = [[0.4, -0.2, 0.1], [-1.0, 0.3, 1.5]]
    model = reference_model(8, 4, delta=0.3, kappa_o=(1.0, 2.0), context_logits=logits)
    latents, image = model.sample(jax.random.key(context), contrast=0.7, context=context, cue=cue)
    values = {
        "context": latents.context,
        "category": latents.category,
        "units": latents.units,
        "neurons": latents.neurons,
    }
    theirs, _ = log_density(numpyro_model, (model, 0.7, image, cue), {}, values)
    np.testing.assert_allclose(theirs, model.log_joint(latents, image, cue), rtol=1e-5)
    # The cue enters through log p(K | q) alone (float32 slack on densities ~ 1e3).
    other, _ = log_density(numpyro_model, (model, 0.7, image, 1 - cue), {}, values)
    log_k = jax.nn.log_softmax(jnp.asarray(logits), axis=1)[:, context]
    np.testing.assert_allclose(other - theirs, log_k[1 - cue] - log_k[cue], atol=2e-3)


def _iid_draws(posterior, x_update, n_chains=4000):
    model, latents, image, _, _ = posterior
    cond = gibbs.conditionals(model)
    projection = model.project(image)
    tau = model.means(latents.units)

    def chain(key):
        x0 = tau * jax.random.exponential(jax.random.fold_in(key, 0), tau.shape)
        return jax.lax.fori_loop(
            0,
            60,
            lambda t, x: x_update(jax.random.fold_in(key, t + 1), x, tau, projection, cond),
            x0,
        )

    return np.asarray(jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(9), n_chains)))


def _compare(draws, posterior):
    _, _, _, ref, ess = posterior
    se = np.sqrt(draws.var(0) / draws.shape[0] + ref.var(0) / ess)
    # Means within 4 combined standard errors; variances within 15%.
    np.testing.assert_array_less(np.abs(draws.mean(0) - ref.mean(0)), 4 * se)
    np.testing.assert_allclose(draws.var(0), ref.var(0), rtol=0.15)


def test_gibbs_x_block_matches_nuts(posterior):
    def update(key, x, tau, projection, cond):
        return gibbs.update_neurons_gibbs(key, x, tau, jnp.asarray(CONTRAST), projection, cond)

    _compare(_iid_draws(posterior, update), posterior)


def test_reflected_mala_matches_nuts(posterior):
    def update(key, x, tau, projection, cond):
        def logdensity(z):
            return gibbs.neurons_log_density(z, tau, jnp.asarray(CONTRAST), projection, cond)

        return mala.reflected_mala_step(key, x, logdensity, 0.05, 5)[0]

    _compare(_iid_draws(posterior, update), posterior)
