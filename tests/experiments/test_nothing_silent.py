"""Nothing silent, nothing lost: bad inputs refused at the boundary before any computation,
non-finite results reported (never averaged, never written as if fine), one-line CLI errors,
run folders written as one unit, and help texts that describe every flag.

Every test here fails before compiling anything (the CLI's work is replaced where it would
compute), so the file costs a few seconds."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import xarray as xr

from bayescortex.experiments import cli, criteria, experiment, redundancy, results, simulate
from bayescortex.experiments.bci import BCIConfig
from bayescortex.experiments.redundancy import RedundancyConfig
from bayescortex.experiments.simulate import SimulateConfig
from bayescortex.experiments.training import TrainConfig
from bayescortex.inference.trial import TrialRecord
from bayescortex.models import reference_model

NAN, INF = float("nan"), float("inf")
TINY = "--trials 2 --neurons 8 --units 4 --samples 12 --presignal 2 --bins 2".split()


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: SimulateConfig(delta=NAN), "delta"),
        (lambda: SimulateConfig(delta=INF), "delta"),
        (lambda: SimulateConfig(delta=1e30), "delta"),
        (lambda: SimulateConfig(contrasts=(3.0, 1e30)), "contrasts"),
        (lambda: SimulateConfig(contrasts=(NAN,)), "contrasts"),
        (lambda: SimulateConfig(kappa_o=(NAN,)), "kappa_o"),
        (lambda: RedundancyConfig(coherences=(3.0, 1e30)), "coherences"),
        (lambda: RedundancyConfig(delta=1e30), "delta"),
        (lambda: TrainConfig(kappa_g=NAN), "kappa_g"),
        (lambda: TrainConfig(train_contrasts=(3.0, -1e30)), "train_contrasts"),
        (lambda: BCIConfig(learning_rate=1e30), "learning_rate"),
        (lambda: BCIConfig(baseline_bias=-1e30), "baseline_bias"),
        (lambda: BCIConfig(mean_timescale=INF), "mean_timescale"),
        (lambda: reference_model(8, 4, delta=NAN), "delta"),
        (lambda: reference_model(8, 4, kappa_o=NAN), "kappa_o"),
        (lambda: reference_model(8, 4, kappa_o=(NAN, 0.0)), "kappa_o"),
        (lambda: reference_model(8, 4, kappa_g=INF), "kappa_g"),
        (
            lambda: reference_model(8, 4, context_logits=[[NAN, 0, 0], [0, 0, 0]]),
            "context_logits",
        ),
    ],
)
def test_non_finite_or_absurd_inputs_are_refused_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--delta", "nan"],
        ["simulate", "--contrasts", "1e30"],
        ["run", "redundancy", "--coherences", "3", "1e30"],
        ["train", "--kappa-g", "nan"],
        ["train", "--run-id", "../../x"],
        ["run", "bci", "--apical-gain", "1e30"],
    ],
)
def test_the_cli_refuses_them_before_computing(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code != 0


def test_config_json_never_holds_nan():
    @dataclasses.dataclass(frozen=True)
    class Loose:
        rate: float = NAN

    with pytest.raises(ValueError, match="rate: must be finite"):
        results.config_dict(Loose())


def _fake_record(n, bins, neurons, nan_trials=()):
    counts = np.ones((n, bins, neurons), np.float32)
    counts[list(nan_trials)] = np.nan
    return TrialRecord(
        counts=counts, belief=np.zeros((n, 4), np.float32), choice=np.zeros(n, np.int32),
        context=np.full((n, bins, 3), 1 / 3, np.float32), energy=np.zeros((n, 1), np.float32),
        acceptance=np.ones(n, np.float32),
    )  # fmt: skip


def test_non_finite_trials_are_an_error_and_nothing_is_written(tmp_path, monkeypatch):
    """A NaN count is never averaged into the accuracy table nor written: the run stops with a
    one-line error counting the trials."""

    def fake(key, model, stimulus, tasks, contrasts, *args, **kw):
        return _fake_record(len(contrasts), 2, 8, nan_trials=(1, 2))

    monkeypatch.setattr(simulate, "simulate_chunked", fake)
    with pytest.raises(SystemExit, match=r"2 of 4 trials gave non-finite counts"):
        cli.main(["simulate", *TINY, "--contrasts", "0", "6", "--output", str(tmp_path)])
    assert not any((tmp_path / "simulate").iterdir())


def test_too_many_trials_are_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "available_bytes", lambda: 2**30)
    config = SimulateConfig(trials=10**6, neurons=256)
    assert simulate.output_bytes(config) > 2**30
    with pytest.raises(ValueError, match=r"trials: 9000000 trials need about .* GiB"):
        simulate.check_memory(config)
    with pytest.raises(SystemExit, match="GiB available"):
        cli.main(["simulate", "--trials", "100000000", "--output", str(tmp_path)])
    assert not (tmp_path / "simulate").exists()  # refused before the run folder was made


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", *TINY],
        ["train", "--sessions", "1"],
        ["run", "redundancy", "--seeds", "1"],
        ["run", "bci", "--seeds", "1"],
        ["sweep", "redundancy", "--grid", "seed=0,1"],
    ],
)
def test_an_unwritable_output_fails_in_one_line_before_computing(argv, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--output", str(blocker / "below")])
    message = str(exit_info.value.code)
    assert "output: cannot write run folders" in message and "\n" not in message


def test_a_preset_with_explicit_flags_validates_and_records_the_final_values():
    _, config, _ = cli._parse(["run", "redundancy", "--full", "--seeds", "1", "--neurons", "48"])
    saved = results.config_dict(config)
    assert (saved["seeds"], saved["neurons"], saved["sessions"]) == (1, 48, 10)
    with pytest.raises(SystemExit):  # validation sees the final neurons (48 < subset_size 64)
        cli._parse(["run", "redundancy", "--full", "--neurons", "48", "--subset-size", "64"])


def _effects(value):
    names = ["good", "broken"]
    return xr.Dataset(
        {
            "effect_value": ("effect", [1.0, value]),
            "effect_low": ("effect", [0.5, value]),
            "effect_high": ("effect", [1.5, value]),
        },
        coords={"effect": names},
    )


CRITERIA = (
    criteria.Criterion("good is positive", ("good",), lambda e: e[0] > 0),
    criteria.Criterion("broken is positive", ("broken",), lambda e: e[0] > 0),
)


def test_a_criterion_on_nan_fails_and_the_run_exits_non_zero(tmp_path, monkeypatch):
    assert criteria.evaluate_criteria(_effects(NAN), CRITERIA) == [
        ("good is positive", True),
        ("broken is positive", False),
    ]

    def summary(config, ds):
        return "\n".join(f"[{'PASS' if ok else 'FAIL'}] {t}"
                         for t, ok in criteria.evaluate_criteria(ds, CRITERIA))  # fmt: skip

    nan_run = dataclasses.replace(
        experiment.experiment_named("redundancy"), run=lambda c, **kw: _effects(NAN),
        with_effects=lambda ds: ds, summary=summary, figures=lambda ds: {}, criteria=CRITERIA,
    )  # fmt: skip
    monkeypatch.setitem(experiment.REGISTRY, "redundancy", nan_run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "redundancy", "--output", str(tmp_path), "--run-id", "nan"])
    message = str(exit_info.value.code)
    assert "1 acceptance criteria not evaluable" in message and "broken is positive" in message
    folder = tmp_path / "redundancy" / "nan"
    assert "[FAIL] broken is positive" in (folder / "summary.txt").read_text()  # nothing lost
    assert set(results.check_complete(folder)) >= {"config.json", "results.nc", "summary.txt"}


def test_a_report_that_fails_after_the_run_says_how_to_resume(tmp_path):
    """A bug in the summary, met after every session ran, names the checkpoints folder and the
    run id that resumes there (the sessions are not lost)."""

    def broken(config, ds):
        raise KeyError("config")

    config = redundancy.RedundancyConfig(output=str(tmp_path))
    with pytest.raises(RuntimeError, match=r"KeyError.*checkpointed in .*--run-id \S+") as info:
        results.run_and_save("redundancy", config, lambda c, **kw: _effects(NAN),
                             summary=broken, figures=lambda ds: {})  # fmt: skip
    run_id = str(info.value).split("--run-id ")[1].split()[0]
    assert (tmp_path / "redundancy" / f"{run_id}.checkpoints").is_dir()


def test_a_second_train_with_the_same_run_id_is_refused(tmp_path):
    from bayescortex.experiments import checkpoint

    flags = ["--sessions", "1", "--neurons", "8", "--units", "4", "--trials-per-session", "8",
             "--batch", "8", "--record-trials", "2", "--samples", "12", "--presignal", "2",
             "--bins", "2", "--output", str(tmp_path), "--run-id", "same"]  # fmt: skip
    with checkpoint.exclusive(tmp_path / "train" / "same" / "checkpoints"):
        with pytest.raises(SystemExit, match=r"train: run_id: .* is in use by process"):
            cli.main(["train", *flags])


def test_floating_point_errors_and_interrupts_end_the_run_in_one_line(monkeypatch):
    def overflow(config):
        raise FloatingPointError("invalid value (nan) encountered in mul\nwith a long trace")

    def interrupt(config):
        raise KeyboardInterrupt

    cls, _, presets = cli.COMMANDS["simulate"]
    monkeypatch.setitem(cli.COMMANDS, "simulate", (cls, overflow, presets))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["simulate"])
    message = str(exit_info.value.code)
    assert "non-finite numbers" in message and "invalid value (nan)" in message
    assert "\n" not in message and "learning" not in message
    monkeypatch.setitem(cli.COMMANDS, "simulate", (cls, interrupt, presets))
    with pytest.raises(SystemExit, match="simulate: interrupted"):
        cli.main(["simulate"])


def test_final_files_are_written_as_one_unit(tmp_path):
    results.write_together(tmp_path, {
        "a.txt": lambda p: p.write_text("first"), "b.json": lambda p: p.write_text("{}"),
    })  # fmt: skip
    assert results.check_complete(tmp_path) == ["a.txt", "b.json"]
    (tmp_path / "a.txt").write_text("fir")  # a torn write
    with pytest.raises(ValueError, match="a.txt differs"):
        results.check_complete(tmp_path)
    (tmp_path / results.MANIFEST).unlink()  # killed before the manifest
    with pytest.raises(ValueError, match="incomplete run folder"):
        results.check_complete(tmp_path)
    assert json.loads((tmp_path / "b.json").read_text()) == {}


# -- help texts ---------------------------------------------------------------------------------

COMMANDS = (["simulate"], ["train"], ["run", "redundancy"], ["run", "bci"], ["analyse"])


def _help(argv) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer), pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return buffer.getvalue()


def flag_help(text: str) -> dict[str, str]:
    """Each flag of a help text and its description (continuation lines joined), without the
    ``(default: ...)`` note."""
    flags: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"^\s{1,4}-", line) and not set(stripped) <= {"-"}:
            spec, *description = re.split(r"\s{2,}", stripped, maxsplit=1)
            current = re.findall(r"--?[\w-]+", spec)[-1]
            flags[current] = " ".join(description)
        elif current and line.startswith(" " * 6) and stripped:
            flags[current] += " " + stripped
        else:
            current = None
    return {
        k: re.sub(r"\((default|fixed to): [^)]*\)|\(required\)", "", v).strip()
        for k, v in flags.items()
    }


@pytest.mark.parametrize("argv", [*COMMANDS, ["sweep", "redundancy"]], ids=" ".join)
def test_help_describes_every_flag_without_markup(argv):
    text = _help(argv)
    assert "``" not in text and ":class:" not in text
    flags = flag_help(text)
    assert len(flags) > 5
    assert not [name for name, description in flags.items() if not description]
    if argv[0] != "sweep":
        # The description ends a sentence (a docstring line starting with ':' once cut it).
        head = text.split("options")[0].strip().splitlines()
        assert head[-1].rstrip().endswith("."), head[-1]
