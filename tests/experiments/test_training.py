"""Training the feedback in sessions: learning, resuming, no recompilation, checkpoint checks.

One tiny run (16 neurons, 8 units, 3 cardinal then 2 oblique sessions, the conditional
objective, named here because its diagnostics are tested, with passive = fixation cue, and
the deterministic choice) is
shared by most tests (a module fixture); it counts traces of the Gibbs sweep as it goes.
"""

import dataclasses

import jax
import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments import cli, results, training
from bayescortex.inference import gibbs

TINY = training.TrainConfig(
    tasks=("cardinal:3", "oblique:2"),
    objective="conditional",
    sessions=5,
    neurons=16,
    units=8,
    trials_per_session=64,
    batch=16,
    learning_rate=0.05,
    record_trials=32,
    contrasts=(9.0, -9.0),
    samples=30,
    presignal=5,
    bins=2,
    seed=3,
    # The deterministic choice: at this size (16 neurons, 30 samples) the final belief stays
    # near 1/2, so a choice sampled from it (the default, 1) is near chance after learning.
    choice_temperature=0.0,
)


def signal_accuracy(ds, session, mode="engaged"):
    return float(ds.accuracy.sel(session=session, mode=mode).mean())


def parameter(ds, session, name):
    return float(ds.parameters.sel(session=session, parameter=name))


def posterior(ds, session, mode, context):
    return float(ds.context_posterior.sel(session=session, mode=mode, context=context).mean())


@pytest.fixture(scope="module")
def uninterrupted():
    """The reference run, counting traces of the Gibbs sweep."""
    traces = []
    original = gibbs.step

    def counting(*args, **kwargs):
        traces.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gibbs, "step", counting)
        model, ds = training.train(TINY, progress=False)
    return model, ds, traces


def test_training_learns_the_task_kernel_and_context_prior(uninterrupted):
    """Naive (kappa_o = 0, a task-free middle layer): chance; after 3 cardinal sessions clearly
    above it. 64 signal trials per mode: the standard error of an accuracy is <= 0.065, bounds
    sit > 3 SE away."""
    _, ds, _ = uninterrupted
    assert abs(signal_accuracy(ds, 0) - 0.5) < 0.15
    assert signal_accuracy(ds, 3) > 0.75
    # The trained task's kernel learns from 0, faster than the other task's; the adult
    # sensory coupling stays fixed (sensory_rate = 0).
    assert parameter(ds, 0, "kappa_o_cardinal") == 0.0
    assert parameter(ds, 3, "kappa_o_cardinal") > 0.3
    assert parameter(ds, 3, "kappa_o_cardinal") > parameter(ds, 3, "kappa_o_oblique") + 0.2
    np.testing.assert_allclose(ds.parameters.sel(parameter="delta"), 0.08, rtol=1e-6)
    # The task cue's prior learned the trained task; the fixation cue saw no training.
    assert parameter(ds, 3, "p_cardinal_given_task") > 1 / 3 + 0.05
    assert float(ds.context_prior.sel(session=3, cue="task", context="cardinal")) > 1 / 3 + 0.05
    np.testing.assert_allclose(ds.context_prior.sel(cue="fixation"), 1 / 3, rtol=1e-5)
    # The drive of the feedback is task-aligned.
    assert float(ds.feedback_alignment.sel(session=3, task="cardinal", axis="cardinal")) > 0.9
    # The objective's path integral rose; the engaged sampler's context follows the trained
    # task, the passive (fixation) one does not.
    assert float(ds.log_likelihood_gain.sel(session=3)) > 0
    assert posterior(ds, 3, "engaged", "cardinal") > posterior(ds, 0, "engaged", "cardinal") + 0.05
    assert posterior(ds, 3, "engaged", "cardinal") > posterior(ds, 3, "passive", "cardinal") + 0.05
    np.testing.assert_allclose(ds.context_posterior.sum("context"), 1.0, rtol=1e-5)


def test_training_diagnostics(uninterrupted):
    """Session 0 has no training (NaN, no change); afterwards every diagnostic is finite and
    the training chains' context moves towards the trained task."""
    _, ds, _ = uninterrupted
    for name in ("train_objective", "train_context_match", "train_correct"):
        assert np.isnan(ds[name].sel(session=0)), name
        assert np.isfinite(ds[name].sel(session=slice(1, None))).all(), name
    assert float(ds.log_likelihood_change.sel(session=0)) == 0.0
    assert (ds.train_objective.sel(session=slice(1, None)) < 0).all()  # log p(O* | y)
    # The free training chains' choices over the 3 cardinal sessions (192 trials, SE <= 0.036):
    # above chance (measured 0.57 under the reference trial layout, 0.61 under presignal).
    assert float(ds.train_correct.sel(session=slice(1, 3)).mean()) > 0.54
    assert float(ds.train_context_match.sel(session=3)) > float(
        ds.train_context_match.sel(session=1)
    )
    np.testing.assert_allclose(np.cumsum(ds.log_likelihood_change), ds.log_likelihood_gain)
    assert ds.attrs["objective"] == "conditional" and ds.attrs["passive"] == "fixation"


def test_switching_task_speeds_up_the_new_kernel(uninterrupted):
    """After the switch the oblique kernel learns faster than while cardinal was trained, its
    table stays aligned with its own axis, and the schedule is recorded."""
    _, ds, _ = uninterrupted
    assert list(ds.trained_task.values) == ["cardinal"] * 4 + ["oblique"] * 2
    before = parameter(ds, 3, "kappa_o_oblique") - parameter(ds, 1, "kappa_o_oblique")
    after = parameter(ds, 5, "kappa_o_oblique") - parameter(ds, 3, "kappa_o_oblique")
    assert after > before + 0.1
    assert float(ds.feedback_alignment.sel(session=5, task="oblique", axis="oblique")) > 0.9
    assert signal_accuracy(ds, 5) > 0.55


def test_summary_names_the_parameters(uninterrupted):
    _, ds, _ = uninterrupted
    text = training.summary_text(ds)
    assert "objective: conditional" in text and "p_none_given_fixation" in text
    assert len(text.splitlines()) == 3 + 6 + 2 + 6 + 2  # ..., a blank line, the wall time
    assert text.splitlines()[-1].startswith("wall time ")
    assert "of which compiling" in text.splitlines()[-1]


def test_sessions_seeds_and_hyperparameters_do_not_recompile(uninterrupted):
    """The training and recording programs are compiled once for the first run; sessions,
    the task switch, another seed and another learning rate reuse them."""
    _, _, traces = uninterrupted
    assert 0 < len(traces) <= 4  # recording once; training's chains
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gibbs, "step", lambda *a, **k: (_ for _ in ()).throw(AssertionError("traced")))
        other = dataclasses.replace(TINY, seed=11, learning_rate=0.02, sessions=1, kappa_o=0.5)
        training.train(other, progress=False)


def test_resume_after_interrupt_equals_uninterrupted(uninterrupted, tmp_path):
    model, ds, _ = uninterrupted
    training.train(dataclasses.replace(TINY, sessions=1), progress=False, checkpoint_dir=tmp_path)
    # Extending a shorter run is resuming too: 3 sessions first, then the rest.
    training.train(dataclasses.replace(TINY, sessions=3), progress=False, checkpoint_dir=tmp_path)
    resumed, ds2 = training.train(TINY, progress=False, checkpoint_dir=tmp_path)

    for a, b in zip(jax.tree.leaves(model), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, ds2[name].values, err_msg=name)
    loaded = training.load_model(tmp_path, 3, TINY)
    np.testing.assert_allclose(
        ds.parameters.sel(session=3, parameter="kappa_o_cardinal"), loaded.feedback.kappa_o[0]
    )

    # A checkpoint that does not match the config is refused, naming the field.
    for change, field in [
        (dict(learning_rate=0.1), "learning_rate"),
        (dict(neurons=24), "neurons"),
        (dict(seed=4), "seed"),
        (dict(tasks=("oblique",)), "tasks"),
        (dict(passive="cut"), "passive"),
        (dict(objective="joint"), "objective"),
    ]:
        with pytest.raises(ValueError, match=field):
            training.train(
                dataclasses.replace(TINY, **change), progress=False, checkpoint_dir=tmp_path
            )


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(batch=7), "batch"),
        (dict(tasks=("square",)), "tasks"),
        (dict(tasks=("cardinal:0",)), "tasks"),
        (dict(train_burn_in=40), "train_burn_in"),
        (dict(neurons=0), "neurons"),
        (dict(record_modes=("engaged", "engaged")), "record_modes"),
        (dict(record_modes=("engaged", "square")), "record_modes"),
        (dict(record_modes=("passive", "cut"), passive="cut"), "record_modes"),
        (dict(contrasts=()), "contrasts"),
        (dict(contrasts=(3.0, 6.0, -6.0)), "contrasts"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(delta=-0.1), "delta"),
        (dict(kappa_o=float("nan")), "kappa_o"),
        (dict(sensory_rate=-1.0), "sensory_rate"),
        (dict(none_logit=float("inf")), "none_logit"),
        (dict(frame_every=-1), "frame_every"),
    ],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(TINY, **change)


def test_defaults_follow_the_objective():
    cfg = training.TrainConfig()
    assert (cfg.objective, cfg.passive, cfg.delta, cfg.kappa_o, cfg.frame_every) == (
        "reward", "fixation", 0.08, 0.0, 8,
    )  # fmt: skip
    assert cfg.step_size == 0.05
    assert dataclasses.replace(cfg, objective="joint").step_size == 0.005
    legacy = training.LEGACY
    assert (legacy.objective, legacy.passive, legacy.delta, legacy.kappa_o) == (
        "joint", "cut", 0.0, 1.0,
    )  # fmt: skip
    assert legacy.recorded() == (("engaged", 0), ("cut", 0))
    assert cfg.recorded() == (("engaged", 0), ("engaged", 1))
    _, cfg, _ = cli._parse(["train", "--legacy", "--sessions", "2"])
    assert cfg == dataclasses.replace(training.LEGACY, sessions=2)


def test_schedule():
    cfg = dataclasses.replace(TINY, tasks=("cardinal:2", "oblique"), sessions=4)
    assert cfg.schedule() == ("cardinal", "cardinal", "oblique", "oblique")
    assert cfg.session_task(0) == "cardinal"
    assert training.TrainConfig(task="oblique", sessions=2).schedule() == ("oblique", "oblique")


@pytest.mark.slow
def test_legacy_joint_objective_learns_the_coupling_from_zero():
    """The first version's definitions stay reachable: joint EM moves delta off 0 (sensory
    rate 1), passive is the cut top-down path, training accuracy is not defined. Slow: the
    joint objective's training program alone compiles for about a minute on 2 cores."""
    cfg = dataclasses.replace(
        training.LEGACY, sessions=1, neurons=16, units=8, trials_per_session=32, batch=16,
        train_sweeps=12, train_burn_in=4, learning_rate=0.05, record_trials=8,
        contrasts=(9.0, -9.0), samples=12, presignal=2, bins=2,
    )  # fmt: skip
    _, ds = training.train(cfg, progress=False)
    assert parameter(ds, 0, "delta") == 0.0 and parameter(ds, 1, "delta") > 0.0
    assert np.isnan(ds.train_correct.sel(session=1))
    assert np.isfinite(ds.train_objective.sel(session=1))
    assert ds.attrs["objective"] == "joint" and "cut" in ds.attrs["modes"]
    # No top-down signal under the cut: the context posterior stays at the prior (none ~ 0).
    assert posterior(ds, 1, "passive", "none") < 1e-6


def test_cli_writes_a_run_folder_and_resumes(tmp_path, capsys):
    flags = [
        "--neurons", "16", "--units", "8", "--trials-per-session", "64", "--batch", "16",
        "--learning-rate", "0.05", "--record-trials", "32", "--contrasts", "9", "-9",
        "--samples", "30", "--presignal", "5", "--bins", "2", "--seed", "3",
        "--tasks", "cardinal:3", "oblique:2", "--output", str(tmp_path), "--run-id", "tiny",
    ]  # fmt: skip
    cli.main(["train", "--sessions", "1", *flags])
    folder = tmp_path / "train" / "tiny"
    for name in ("config.json", "versions.json", "results.nc", "model.eqx", "summary.txt"):
        assert (folder / name).exists(), name
    assert "model.eqx" in results.check_complete(folder)  # the manifest, written last
    assert (folder / "checkpoints" / "session_0001.json").exists()
    cli.main(["train", "--sessions", "2", *flags])  # resumes after session 1
    assert "session" in capsys.readouterr().out
    with xr.open_dataset(folder / "results.nc", engine="h5netcdf") as ds:
        assert ds.sizes["session"] == 3
        assert ds.attrs["experiment"] == "train"
        assert ds.context_posterior.dims == ("session", "mode", "time", "context")


@pytest.mark.slow  # a second training program: about 50 s
def test_free_form_feedback_learns_task_structure_from_near_zero():
    """Free-form task rows start near the uniform rate; cardinal training makes the top-down
    drive align with the cardinal axis and the model accurate. Free-form task tables have no
    built-in orientation, so alignment is taken as the best over tables. The coupling is the
    adult sensory model's and stays fixed (sensory_rate = 0)."""
    cfg = dataclasses.replace(TINY, feedback="free_form", tasks=("cardinal",), sessions=3)
    _, ds = training.train(cfg, progress=False)
    best = ds.feedback_alignment.max("task")
    assert float(best.sel(session=3, axis="cardinal")) > 0.8
    assert float(best.sel(session=3, axis="cardinal")) > float(best.sel(session=0, axis="cardinal"))
    assert signal_accuracy(ds, 0) < 0.65 and signal_accuracy(ds, 3) > 0.75
    assert list(ds.parameter.values)[0] == "p_cardinal_given_task"
    assert float(ds.context_prior.sel(session=3, cue="task", context="cardinal")) > 0.4
    coupling = ds.coupling
    np.testing.assert_array_equal(coupling.sel(session=3), coupling.sel(session=0))
    assert float(coupling.min()) >= 0.0


def test_drive_alignment_of_planted_task_tables():
    """Coupling whose columns are the two tasks' category axes ``cos 2(phi - phi_A0)`` and
    task tables whose category difference is a unit vector: each table's drive is its own
    task's axis (correlation 1 on the diagonal); with 8 evenly spaced preferred orientations
    the cardinal and oblique axes are orthogonal (0 off the diagonal); a table without a
    category difference has no drive (0); the ``none`` row never enters. (The preferred
    orientations are float32: 1e-6.)"""
    from bayescortex.models import CATEGORY_ORIENTATIONS
    from bayescortex.models.stimuli import preferred_orientations

    phi = np.asarray(preferred_orientations(8), dtype=float)
    axes = np.cos(2 * (phi[:, None] - np.asarray(CATEGORY_ORIENTATIONS)[None, :, 0]))
    table = np.full((3, 2, 2), 0.5)  # (contexts, categories, units)
    table[0, 0, 0], table[0, 1, 0] = 0.8, 0.2  # cardinal table: unit 0 tells the category
    table[1, 0, 1], table[1, 1, 1] = 0.7, 0.3  # oblique table: unit 1
    table[2] = [[0.9, 0.1], [0.1, 0.9]]  # the none row: ignored
    np.testing.assert_allclose(training.drive_alignment(axes, table), np.eye(2), atol=1e-6)
    flat = table.copy()
    flat[1] = 0.5
    np.testing.assert_allclose(training.drive_alignment(axes, flat), [[1, 0], [0, 0]], atol=1e-6)
