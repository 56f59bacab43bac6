"""The redundancy experiment end to end on a tiny configuration, and its pieces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescortex.analysis import group_by_signal, moments_from_trials
from bayescortex.experiments import redundancy
from bayescortex.experiments.cli import main as cli_main
from bayescortex.experiments.named import values
from bayescortex.experiments.redundancy.measures import Analysis, block_measures, task_relevant


def test_task_relevant_neurons_split_by_orientation():
    relevant = task_relevant(8, 0)  # orientations 0, 22.5, ..., 157.5 deg
    np.testing.assert_array_equal(relevant, [1, 0, 0, 0, 1, 0, 0, 0])
    relevant = task_relevant(8, 1)
    np.testing.assert_array_equal(relevant, [0, 0, 1, 0, 0, 0, 1, 0])


def test_analysis_finds_information_limiting_redundancy():
    """Gaussian counts with S = I + e f'f'^T: the analysis recovers I = I0 / (1 + e I0)."""
    rng = np.random.default_rng(0)
    n, e = 16, 0.5
    fp = rng.normal(size=n) * 0.3
    contrasts = np.repeat([0.0, 0.0, 1.0, -1.0, 2.0, -2.0], 400)
    cov = np.eye(n) + e * np.outer(fp, fp)
    counts = contrasts[:, None] * fp + rng.multivariate_normal(np.zeros(n), cov, contrasts.size)
    g = group_by_signal(contrasts)
    x = jnp.asarray(counts[g.order], jnp.float32)[:, None, :]
    level = jnp.asarray(g.layout.block_ids)
    moments = moments_from_trials(x, level, jnp.ones(level.shape), n_levels=5)
    an = Analysis(tuple(g.layout.ds.tolist()), subset_size=n, bins=0)
    m = values(block_measures(an, moments, moments.weight, jax.random.key(0), 1))  # all correct
    i0 = fp @ fp
    assert abs(float(m["information"]) - i0 / (1 + e * i0)) < 0.15 * i0 / (1 + e * i0)
    assert abs(float(m["information_shuffled"]) - i0) < 0.15 * i0
    assert float(m["accuracy"]) == 1.0


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="bins"):
        redundancy.RedundancyConfig(bins=5)  # does not divide the 96 read-out samples
    with pytest.raises(ValueError, match="bins"):
        redundancy.RedundancyConfig(bins=1)
    with pytest.raises(ValueError, match="subset_size"):
        redundancy.RedundancyConfig(neurons=16, subset_size=32)
    with pytest.raises(ValueError, match="record_trials"):
        redundancy.RedundancyConfig(record_trials=4, zero_blocks=1)
    with pytest.raises(ValueError, match="none_logit"):
        redundancy.RedundancyConfig(none_logit=float("nan"))


@pytest.mark.slow  # the whole CLI run with controls and the network: about 3 min
def test_tiny_run_writes_a_complete_run_folder(tmp_path):
    cli_main(
        [
            "run",
            "redundancy",
            "--seeds",
            "2",
            "--sessions",
            "1",
            "--neurons",
            "16",
            "--units",
            "8",
            "--trials-per-session",
            "32",
            "--record-trials",
            "24",
            "--subset-size",
            "8",
            "--subsets",
            "8",
            "--bootstrap",
            "8",
            "--bootstrap-subsets",
            "4",
            "--network-steps",
            "20",
            "--network-hidden",
            "16",
            "--output",
            str(tmp_path),
        ]
    )
    (folder,) = (tmp_path / "redundancy").iterdir()
    for name in (
        "config.json",
        "versions.json",
        "results.nc",
        "summary.txt",
        "redundancy.png",
        "redundancy.pdf",
        "controls.png",
    ):
        assert (folder / name).exists(), name
    import xarray as xr

    ds = xr.open_dataset(folder / "results.nc")
    assert ds.redundancy.dims == ("session", "mode")
    assert ds.redundancy_by_time.sizes["time"] == 3  # the default: 3 bins of 32 samples
    assert np.all(np.isfinite(ds.effect_value.values))
    assert np.all(ds.effect_low.values <= ds.effect_high.values)
    text = (folder / "summary.txt").read_text()
    n_criteria = len(redundancy.acceptance.CRITERIA) + len(redundancy.acceptance.SANITY_CHECKS)
    assert "Acceptance criteria" in text and "Sanity checks" in text
    verdicts = sum(text.count(f"[{v}]") for v in ("PASS", "FAIL", "INCONCLUSIVE", "n/a"))
    assert verdicts == n_criteria
    post = ds.context_posterior
    assert post.dims == ("seed", "session", "mode", "time", "context")
    np.testing.assert_allclose(post.sum("context"), 1.0, rtol=1e-5)
    assert set(ds.condition.values) == {
        "passive_cut",
        "coupling_only",
        "no_accumulation",
        "switch_engaged",
        "frozen_engaged",
        "frozen_passive",
    }
    assert ds.network_redundancy.dims == ("session", "baseline", "noise")
    assert ds.kernel.dims == ("session", "mode", "frame")
    assert ds.redundancy_by_coherence.sizes["coherence"] == 4
    # The population sizes label their axis (subset size 8: one size, the subset itself).
    assert ds.information_by_size.dims == ("session", "mode", "size")
    assert list(ds["size"].values) == [8]
    assert (folder / "checkpoints" / "session_0001.json").exists()


def test_passive_dprime_recovers_planted_sensitivities():
    """Unit-variance Gaussian counts with tuning f': each neuron's d' is |f'_i| 2c (averaged
    over coherences); 2000 trials per level: within 0.1 of the truth."""
    from bayescortex.experiments.redundancy.measures import passive_dprime

    rng = np.random.default_rng(1)
    n = 6
    fp = np.linspace(-0.3, 0.3, n)
    contrasts = np.repeat([0.0, 1.0, -1.0, 2.0, -2.0], 2000)
    counts = contrasts[:, None] * fp + rng.normal(size=(contrasts.size, n))
    g = group_by_signal(contrasts)
    x = jnp.asarray(counts[g.order], jnp.float32)[:, None, :]
    moments = moments_from_trials(
        x, jnp.asarray(g.layout.block_ids), jnp.ones(contrasts.size), n_levels=5
    )
    dprime = passive_dprime(moments, g.layout.ds)
    expected = np.abs(fp) * np.mean(g.layout.ds)
    np.testing.assert_allclose(np.asarray(dprime), expected, atol=0.1)


def test_pooled_moments_give_numpys_pooled_covariance():
    """The covariance pooled over levels (each around its own mean, divisor trials - levels)
    from streamed sums equals numpy's on the trials (float32 sums: 1e-4 relative)."""
    from bayescortex.analysis.moments import covariance
    from bayescortex.experiments.redundancy.measures import pooled_moments

    rng = np.random.default_rng(2)
    contrasts = np.repeat([0.0, 1.0, -1.0, 2.0, -2.0], [40, 30, 30, 25, 25])
    counts = 5.0 + contrasts[:, None] * rng.normal(size=4) + rng.normal(size=(contrasts.size, 4))
    g = group_by_signal(contrasts)
    x = counts[g.order]
    level = np.asarray(g.layout.block_ids)
    moments = moments_from_trials(
        jnp.asarray(x, jnp.float32)[:, None, :], jnp.asarray(level), jnp.ones(level.size),
        n_levels=5,
    )  # fmt: skip
    signal = x[level > 0]
    pooled = pooled_moments(moments, jnp.asarray(signal.T @ signal, jnp.float32))
    centred = x - np.stack([x[level == v].mean(0) for v in range(5)])[level]
    expected = centred.T @ centred / (level.size - 5)
    np.testing.assert_allclose(np.asarray(covariance(pooled)), expected, rtol=1e-4, atol=1e-4)
    assert float(pooled.zero_weight) == level.size - 5 + 1


def test_summary_reports_the_apical_block_prediction():
    """The task-cued, top-down-cut condition is reported as the apical block next to the
    engaged change, from whichever of the main pair or the controls recorded it."""
    import xarray as xr

    from bayescortex.experiments.redundancy.report import _apical_block

    names = ["change_redundancy_engaged", "change_redundancy_passive",
             "control_passive_cut_redundancy"]  # fmt: skip
    ds = xr.Dataset(
        {"effect_value": ("effect", [0.27, 0.01, -0.009]),
         "effect_low": ("effect", [0.18, -0.02, -0.03]),
         "effect_high": ("effect", [0.35, 0.03, 0.012])},
        coords={"effect": names},
    )  # fmt: skip
    fixation = "\n".join(_apical_block(redundancy.RedundancyConfig(passive="fixation"), ds))
    assert "-0.009 [-0.030, +0.012] against +0.270 [+0.180, +0.350]" in fixation
    cut = "\n".join(_apical_block(redundancy.RedundancyConfig(passive="cut"), ds))
    assert "+0.010 [-0.020, +0.030]" in cut
    assert _apical_block(redundancy.RedundancyConfig(), ds.isel(effect=[0, 1])) == []
