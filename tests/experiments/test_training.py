"""Training the feedback in sessions: learning, resuming, no recompilation, checkpoint checks.

One tiny run (16 neurons, 8 units, 3 cardinal then 3 oblique sessions) is shared by most tests
(a module fixture); it counts traces of the Gibbs sweep as it goes.
"""

import dataclasses

import jax
import numpy as np
import pytest

from bayescortex.experiments import cli, training
from bayescortex.inference import gibbs

TINY = training.TrainConfig(
    tasks=("cardinal:3", "oblique:3"),
    sessions=6,
    neurons=16,
    units=8,
    trials_per_session=64,
    batch=16,
    train_sweeps=20,
    train_burn_in=5,
    learning_rate=0.05,
    record_trials=64,
    contrasts=(9.0, -9.0),
    samples=30,
    presignal=5,
    bins=2,
    seed=3,
)


def signal_accuracy(ds, session, mode="engaged"):
    return float(ds.accuracy.sel(session=session, mode=mode).mean())


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


def test_training_raises_accuracy_and_aligns_the_feedback(uninterrupted):
    """Naive (delta = 0): chance; after 3 cardinal sessions clearly above it. 128 signal trials
    per mode: the standard error of an accuracy is <= 0.045, bounds sit > 4 SE away."""
    _, ds, _ = uninterrupted
    assert abs(signal_accuracy(ds, 0) - 0.5) < 0.15
    assert signal_accuracy(ds, 3) > 0.75
    params = ds.parameters.sel(session=3)
    assert float(params.sel(parameter="delta")) > 0.05
    # The task prior learned the trained task; the drive of the feedback is task-aligned.
    assert float(ds.task_prior.sel(session=3, task="cardinal")) > 0.55
    assert float(ds.feedback_alignment.sel(session=3, task="cardinal", axis="cardinal")) > 0.9
    # The likelihood proxy rose; the sampler's task latent followed the prior.
    assert float(ds.log_likelihood_gain.sel(session=3)) > 0
    assert float(ds.task_match.sel(session=3)) > float(ds.task_match.sel(session=1))


def test_switching_task_moves_the_task_prior(uninterrupted):
    """After the switch the sampler's task latent favours the new task and the prior turns
    (slowly: Adam's momentum first has to reverse)."""
    _, ds, _ = uninterrupted
    assert list(ds.trained_task.values) == ["cardinal"] * 4 + ["oblique"] * 3
    prior = ds.task_prior.sel(task="oblique")
    assert float(prior.sel(session=3)) < 0.4
    assert float(prior.sel(session=6)) > float(prior.sel(session=4)) + 0.05
    assert float(ds.task_match.sel(session=6)) > 0.5
    assert signal_accuracy(ds, 6) > 0.75  # the shared category kernel transfers


def test_sessions_seeds_and_hyperparameters_do_not_recompile(uninterrupted):
    """The training and recording programs are compiled once for the first run; sessions,
    the task switch, another seed and another learning rate reuse them."""
    _, _, traces = uninterrupted
    assert 0 < len(traces) <= 4  # recording once; training's burn-in and sampling scans
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gibbs, "step", lambda *a, **k: (_ for _ in ()).throw(AssertionError("traced")))
        other = dataclasses.replace(TINY, seed=11, learning_rate=0.02, sessions=2)
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
        ds.parameters.sel(session=3, parameter="delta"), loaded.feedback.delta
    )

    # A checkpoint that does not match the config is refused, naming the field.
    for change, field in [
        (dict(learning_rate=0.1), "learning_rate"),
        (dict(neurons=24), "neurons"),
        (dict(seed=4), "seed"),
        (dict(tasks=("oblique",)), "tasks"),
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
        (dict(train_burn_in=20), "train_burn_in"),
        (dict(neurons=0), "neurons"),
        (dict(record_modes=("engaged", "engaged")), "record_modes"),
        (dict(contrasts=()), "contrasts"),
        (dict(contrasts=(3.0, 6.0, -6.0)), "contrasts"),
        (dict(learning_rate=-1.0), "learning_rate"),
    ],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(TINY, **change)


def test_schedule():
    cfg = dataclasses.replace(TINY, tasks=("cardinal:2", "oblique"), sessions=4)
    assert cfg.schedule() == ("cardinal", "cardinal", "oblique", "oblique")
    assert cfg.session_task(0) == "cardinal"
    assert training.TrainConfig(task="oblique", sessions=2).schedule() == ("oblique", "oblique")


def test_cli_writes_a_run_folder_and_resumes(tmp_path, capsys):
    flags = [
        "--neurons", "16", "--units", "8", "--trials-per-session", "64", "--batch", "16",
        "--train-sweeps", "20", "--train-burn-in", "5", "--learning-rate", "0.05",
        "--record-trials", "64", "--contrasts", "9", "-9", "--samples", "30",
        "--presignal", "5", "--bins", "2", "--seed", "3", "--tasks", "cardinal:3", "oblique:3",
        "--output", str(tmp_path), "--run-id", "tiny",
    ]  # fmt: skip
    cli.main(["train", "--sessions", "1", *flags])
    folder = tmp_path / "train" / "tiny"
    for name in ("config.json", "versions.json", "results.nc", "model.eqx", "summary.txt"):
        assert (folder / name).exists(), name
    assert (folder / "checkpoints" / "session_0001.json").exists()
    cli.main(["train", "--sessions", "2", *flags])  # resumes after session 1
    assert "session" in capsys.readouterr().out
    import xarray as xr

    with xr.open_dataset(folder / "results.nc", engine="h5netcdf") as ds:
        assert ds.sizes["session"] == 3
        assert ds.attrs["experiment"] == "train"


def test_free_form_feedback_learns_task_structure_from_near_zero():
    """Free-form coupling starts near zero and the unit table near the uniform rate; cardinal
    training makes the top-down drive align with the cardinal axis and the model accurate;
    switching to oblique makes a table align with the oblique axis and accuracy recover (the
    kernels adapt). Free-form task tables have no built-in orientation, so alignment is taken
    as the best over tables."""
    cfg = dataclasses.replace(
        TINY, feedback="free_form", tasks=("cardinal:4", "oblique:4"), sessions=8
    )
    _, ds = training.train(cfg, progress=False)
    best = ds.feedback_alignment.max("task")
    assert float(best.sel(session=4, axis="cardinal")) > 0.5
    assert signal_accuracy(ds, 0) < 0.6 and signal_accuracy(ds, 4) > 0.75
    assert (
        float(best.sel(session=8, axis="oblique"))
        > float(best.sel(session=4, axis="oblique")) + 0.1
    )
    assert signal_accuracy(ds, 8) > 0.75
    coupling = ds.coupling.sel(session=8)
    assert float(coupling.min()) >= 0.0  # projected onto the constraint
