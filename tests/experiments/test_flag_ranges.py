"""Flags are validated where the config is built, before anything runs: every continuous field
with a physical meaning has a range, stated in --help, and an error names the flag and the
range; a flag given twice is refused; run ids follow one rule everywhere. Nothing compiles."""

from __future__ import annotations

import dataclasses

import pytest

from bayescortex.experiments import RunOptions, cli, experiment, results
from bayescortex.experiments.analyse import AnalyseConfig
from bayescortex.experiments.bci import BCIConfig
from bayescortex.experiments.redundancy import RedundancyConfig
from bayescortex.experiments.redundancy.config import RANGES as REDUNDANCY_RANGES
from bayescortex.experiments.simulate import SimulateConfig
from bayescortex.experiments.training import TrainConfig
from bayescortex.experiments.training.config import RANGES as TRAIN_RANGES
from tests.experiments.test_nothing_silent import _help, flag_help

INF = float("inf")


@pytest.fixture
def nothing_runs(monkeypatch):
    """Commands whose main fails the test instead of computing (a refusal that regressed
    would otherwise start a full run)."""

    def ran(config):
        raise AssertionError(f"{type(config).__name__} ran")

    cls, _, presets = cli.COMMANDS["train"]
    monkeypatch.setitem(cli.COMMANDS, "train", (cls, ran, presets))
    exp = experiment.experiment_named("redundancy")
    monkeypatch.setitem(experiment.REGISTRY, "redundancy", dataclasses.replace(
        exp, run=lambda config, **kw: ran(config)))  # fmt: skip


@pytest.mark.parametrize(
    "cls, field, value",
    [
        *[(RedundancyConfig, f, 1e30) for f in REDUNDANCY_RANGES],
        *[(TrainConfig, f, 1e30) for f in TRAIN_RANGES],
        (TrainConfig, "kappa_g", -1.0),
        (TrainConfig, "init_scale", INF),
        (RedundancyConfig, "none_logit", -1e30),
        (RedundancyConfig, "learning_rate", 0.0),
        (RedundancyConfig, "network_learning_rate", -1.0),
        (TrainConfig, "odds_increment", 2.0),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_values_out_of_range_are_refused_naming_the_flag_and_the_range(cls, field, value):
    allowed = {**REDUNDANCY_RANGES, **TRAIN_RANGES}[field]
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ValueError, match=rf"{field} \({flag}\): must lie in " + _escaped(allowed)):
        cls(**{field: value})


def _escaped(allowed) -> str:
    return str(allowed).replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")


def test_the_range_bounds_themselves_are_accepted():
    for cls, ranges in ((RedundancyConfig, REDUNDANCY_RANGES), (TrainConfig, TRAIN_RANGES)):
        for field, allowed in ranges.items():
            cls(**{field: allowed.high})
            if not allowed.low_open:
                cls(**{field: allowed.low})


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--kappa-g", "-1"],
        ["train", "--init-scale", "inf"],
        ["run", "redundancy", "--learning-rate", "1e30"],
        ["run", "redundancy", "--kappa-o", "1e30"],
        ["run", "redundancy", "--none-logit", "1e30"],
        ["run", "redundancy", "--odds-increment", "1e30"],
        ["run", "redundancy", "--sensory-rate", "1e30"],
        ["run", "redundancy", "--network-tc", "1e30"],
        ["run", "redundancy", "--network-energy", "1e30"],
        ["run", "redundancy", "--network-learning-rate", "1e30"],
    ],
)
def test_parse_refuses_what_the_command_would_refuse(argv):
    with pytest.raises((SystemExit, ValueError)):
        cli.parse(argv)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["run", "redundancy", "--seeds", "1", "--seeds", "2"], "--seeds"),
        (["run", "redundancy", "--seeds=1", "--seeds", "2"], "--seeds"),
        (["train", "--kappa-g", "1", "--kappa_g", "2"], "--kappa-g"),
        (["run", "redundancy", "--controls", "--no-controls"], "--controls"),
    ],
)
def test_a_flag_given_twice_is_refused(argv, flag, nothing_runs):
    with pytest.raises(ValueError, match=f"^{flag} given twice$"):
        cli.parse(argv)
    with pytest.raises(SystemExit, match=f"{flag} given twice"):
        cli.main(argv)


@pytest.mark.parametrize("run_id", ["a\nb", "tab\there", "", ".hidden", "..", "a/b", "a\\b"])
def test_one_rule_for_run_ids_everywhere(run_id, tmp_path, nothing_runs):
    rule = results.RUN_ID_RULE
    for make in (
        lambda: RedundancyConfig(run_id=run_id),
        lambda: TrainConfig(run_id=run_id),
        lambda: BCIConfig(run_id=run_id),
        lambda: SimulateConfig(run_id=run_id),
        lambda: AnalyseConfig("x.nwb", "signal", (0.0, 1.0), run_id=run_id),
        lambda: results.check_run_id(run_id),
        lambda: results.save_run("x", TrainConfig(), None, root=tmp_path, run_id=run_id),
    ):
        with pytest.raises(ValueError, match="run_id: ") as info:
            make()
        assert rule in str(info.value)
    with pytest.raises(SystemExit):
        cli.main(["train", "--run-id", run_id, "--output", str(tmp_path)])


def test_every_command_that_writes_a_run_folder_takes_the_run_options():
    """seed, output and run_id are declared once (RunOptions) and mean the same everywhere."""
    for command in (RedundancyConfig, TrainConfig, BCIConfig, SimulateConfig, AnalyseConfig):
        assert issubclass(command, RunOptions), command
        names = [f.name for f in dataclasses.fields(command)]
        assert {"seed", "output", "run_id"} <= set(names), command
        for field in ("seed", "output", "run_id"):
            assert command.__dataclass_fields__[field] is RunOptions.__dataclass_fields__[field]


def test_an_ordinary_run_id_is_accepted():
    assert TrainConfig(run_id="run 2024-01-01_a").run_id == "run 2024-01-01_a"
    results.check_run_id("x" * 200)
    with pytest.raises(ValueError, match="run_id"):
        results.check_run_id("x" * 201)


@pytest.mark.parametrize(
    "argv, ranges",
    [(["train"], TRAIN_RANGES), (["run", "redundancy"], REDUNDANCY_RANGES)],
    ids=["train", "redundancy"],
)
def test_help_states_every_range(argv, ranges):
    flags = flag_help(_help(argv))
    for field, allowed in ranges.items():
        text = flags["--" + field.replace("_", "-")]
        assert f"in {allowed}" in text, (field, text)


def test_where_a_run_goes_may_change_on_resume_and_is_never_swept():
    """The place fields of RunOptions, declared once: every resumable command accepts them
    changed, and a sweep refuses to sweep them."""
    import dataclasses

    from bayescortex.experiments.bci.run import RESUMABLE as bci
    from bayescortex.experiments.redundancy.run import RESUMABLE as redundancy
    from bayescortex.experiments.sweep.points import NOT_SWEPT
    from bayescortex.experiments.training import RESUMABLE as train

    place = set(results.PLACE)
    assert place < {f.name for f in dataclasses.fields(RunOptions)}
    assert all(place <= set(r) for r in (bci, redundancy, train)) and set(NOT_SWEPT) == place
