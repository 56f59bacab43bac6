"""Projective fields and stimuli: geometry checked against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.models import (
    CATEGORY_ORIENTATIONS,
    Stimulus,
    grating,
    preferred_orientations,
    projective_field,
    projective_fields,
    task_index,
)


def test_fields_are_unit_norm_and_oriented():
    fields = projective_fields(16)
    np.testing.assert_allclose(jnp.linalg.norm(fields, axis=1), 1.0, rtol=1e-5)
    # The field at 0 deg overlaps most with the vertical (0 deg) grating, least with 90 deg.
    overlaps = fields @ grating(jnp.asarray(0.0))
    assert int(jnp.argmax(overlaps)) == 0
    assert int(jnp.argmin(jnp.abs(overlaps))) == 8


def test_field_rotated_by_90_degrees_is_the_transposed_image():
    a = projective_field(jnp.asarray(0.0)).reshape(32, 32)
    b = projective_field(jnp.asarray(np.pi / 2)).reshape(32, 32)
    np.testing.assert_allclose(a, b.T, atol=1e-5)


def test_gram_is_close_to_low_rank():
    """SCIENCE.md: a handful of eigenvalues of PF PF^T hold 99% of its trace."""
    fields = projective_fields(256)
    eig = jnp.sort(jnp.linalg.eigvalsh(fields @ fields.T))[::-1]
    share = jnp.cumsum(eig) / jnp.sum(eig)
    assert int(jnp.searchsorted(share, 0.99)) + 1 <= 12


def test_preferred_orientations():
    np.testing.assert_allclose(preferred_orientations(4), [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4])


def test_signal_and_energy_signs():
    stim = Stimulus()
    for task in (0, 1):
        for c in (5.0, -5.0):
            image = stim.signal(jnp.asarray(task), jnp.asarray(c))[None, :]
            energy = float(stim.energy(jnp.asarray(task), image)[0])
            assert np.sign(energy) == np.sign(c)
    # Oblique gratings are the cardinal ones rotated by 45 degrees.
    np.testing.assert_allclose(CATEGORY_ORIENTATIONS[1] - CATEGORY_ORIENTATIONS[0], np.pi / 4)


def test_frames_have_white_noise_around_the_signal():
    stim = Stimulus(frame_every=2)
    frames = stim.frames(jax.random.key(0), jnp.asarray(0), jnp.asarray(4.0), 200)
    resid = frames - stim.signal(jnp.asarray(0), jnp.asarray(4.0))[None, :]
    assert abs(float(resid.mean())) < 4 / np.sqrt(resid.size)
    assert abs(float(resid.std()) - 1.0) < 0.01
    assert stim.n_frames(5) == 3 and Stimulus().n_frames(100) == 1


def test_task_names():
    assert task_index("cardinal") == 0 and task_index(1) == 1
    with pytest.raises(ValueError, match="task"):
        task_index("diagonal")
    with pytest.raises(ValueError, match="frame_every"):
        Stimulus(frame_every=-1)
