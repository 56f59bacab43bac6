"""``bayescortex run redundancy``: task learning raises redundancy only under engagement.

Reproduces Liu, Pletenev, Haefner & Snyder (Science 2026) with a model that learns its own
feedback. For every seed (an "animal"):

1. train the feedback over sessions on the task (:func:`bayescortex.experiments.training.train`);
   before training and after every session record an engaged and a passive block with the
   same stimuli (zero-signal trials plus +-c at every coherence). Passive is the authors'
   passive condition: the top-down path cut (:mod:`bayescortex.inference.modes`), which is
   also the "no feedback at all" ablation;
2. before training and after the last session also record the ablations (feedback without
   evidence accumulation; the belief cut but the learned x-g coupling kept, ``coupling_only``)
   and a task switch (the other task's stimuli);
3. train the discriminative comparison network (the "classic" hypothesis) on the same images
   and labels and record its noisy hidden units before and after.

Every block is analysed with :mod:`bayescortex.analysis`: bias-corrected linear Fisher
information ``I``, shuffled information ``I_shuffle``, redundancy ``I_red = I_shuffle - I`` and
percent redundancy, combined over coherences by inverse-variance weighting, as the median over
random equal-size neuron subsets; the same in 4-8 within-trial time bins, and for task-relevant
vs task-irrelevant neurons (preferred orientation within 22.5 deg of a category orientation, or
not). Confidence intervals (95%) come from a bootstrap over seeds and trials (trials resampled
within signal levels, fresh neuron subsets per resample). The acceptance criteria of the issue
are evaluated on these intervals and written, pass or fail, to ``summary.txt``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from flax import nnx
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from bayescortex.analysis import bootstrap, group_by_signal, percentile_interval
from bayescortex.analysis.redundancy import estimate_redundancy
from bayescortex.models import CATEGORY_ORIENTATIONS, Stimulus, task_index
from bayescortex.models.discriminative import NoisyPerceptron

from .discriminative import record_network, train_network
from .results import check_fields, compile_time
from .training import SessionRecord, TrainConfig, record_session, train

MODES = ("engaged", "passive")
ABLATIONS = ("coupling_only", "no_accumulation")
REFERENCE_SECONDS_PER_TRIAL = 5.0
"""The authors' MATLAB sampler: 5-7 s per trial at N_x = 64..256 on one core (SCIENCE.md).

The lower end, so ratios against it are conservative."""
MEASURES = ("information", "information_shuffled", "redundancy", "percent_redundancy")


@dataclasses.dataclass(frozen=True)
class RedundancyConfig:
    """Train over sessions, record engaged and passive blocks, measure redundancy."""

    task: Literal["cardinal", "oblique"] = "cardinal"
    """The trained task."""
    seeds: int = 3
    """Independent models ("animals")."""
    sessions: int = 4
    """Training sessions after the naive session 0."""
    feedback: Literal["parametric", "free_form"] = "parametric"
    neurons: int = 64
    units: int = 64
    trials_per_session: int = 256
    """Training trials per session."""
    learning_rate: float | None = None
    """Optimiser step size (None: the training default for the parametrisation)."""
    coherences: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    """Unsigned contrasts; each is shown at +c and -c."""
    record_trials: int = 96
    """Recorded trials per signed contrast and mode."""
    zero_blocks: int = 2
    """Zero-signal trials are ``zero_blocks * record_trials`` (the noise covariance)."""
    bins: int = 4
    """Within-trial time bins (4 to 8)."""
    subset_size: int = 32
    """Neurons per random subset (population-size control)."""
    subsets: int = 200
    """Random subsets for the point estimates (median over subsets)."""
    bootstrap: int = 100
    """Bootstrap resamples over seeds and trials."""
    bootstrap_subsets: int = 24
    """Random subsets inside every bootstrap resample."""
    controls: bool = True
    """Record the ablations and the task switch, and train the discriminative network."""
    network_hidden: int = 64
    network_steps: int = 300
    seed: int = 0
    full: bool = False
    """Paper-scale preset: 5 seeds, 10 sessions, 256 neurons, 256 trials per contrast."""
    output: str = "results"

    def __post_init__(self):
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"learning_rate: must be positive, got {self.learning_rate}")
        check_fields(
            self,
            positive=(
                "seeds", "sessions", "neurons", "units", "trials_per_session", "record_trials",
                "zero_blocks", "subset_size", "subsets", "bootstrap", "bootstrap_subsets",
                "network_hidden", "network_steps",
            ),
        )  # fmt: skip
        if not 4 <= self.bins <= 8:
            raise ValueError(f"bins: the within-trial analysis uses 4 to 8 bins, got {self.bins}")
        if not self.coherences or any(not c > 0 for c in self.coherences):
            raise ValueError(f"coherences: need positive unsigned contrasts, got {self.coherences}")
        if self.subset_size > self.neurons:
            raise ValueError(
                f"subset_size: at most neurons ({self.neurons}), got {self.subset_size}"
            )
        if self.zero_blocks * self.record_trials < self.subset_size + 4:
            raise ValueError(
                f"record_trials: zero-signal trials ({self.zero_blocks * self.record_trials}) "
                f"must be at least subset_size + 4 = {self.subset_size + 4}"
            )

    def resolved(self) -> RedundancyConfig:
        """The config with the paper-scale preset applied when ``full`` is set."""
        if not self.full:
            return self
        return dataclasses.replace(
            self,
            seeds=5,
            sessions=10,
            neurons=256,
            record_trials=256,
            zero_blocks=4,
            subsets=1000,
            bootstrap=200,
            full=False,
        )

    def contrasts(self) -> tuple[float, ...]:
        signed = [s * c for c in self.coherences for s in (1.0, -1.0)]
        return (0.0,) * self.zero_blocks + tuple(signed)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            task=self.task,
            sessions=self.sessions,
            feedback=self.feedback,
            neurons=self.neurons,
            units=self.units,
            learning_rate=self.learning_rate,
            trials_per_session=self.trials_per_session,
            record_trials=self.record_trials,
            contrasts=self.contrasts(),
            record_modes=MODES,
            bins=self.bins,
            seed=seed,
            output=self.output,
        )


# -- measures on one block ---------------------------------------------------------------------


def task_relevant(n_neurons: int, task: int) -> np.ndarray:
    """Neurons whose preferred orientation is within 22.5 deg of a category orientation."""
    phi = np.arange(n_neurons)[:, None] * 180.0 / n_neurons  # degrees, exact
    axes = np.degrees(np.asarray(CATEGORY_ORIENTATIONS[task], dtype=float)).round(3)[None, :]
    diff = np.abs((phi - axes + 90.0) % 180.0 - 90.0)
    return diff.min(axis=1) < 22.5


class Analysis:
    """The measures of one recording design, as a jax-traceable function of one block.

    ``measures(block, key, n_subsets)`` takes ``{"counts": (trial, time, neuron),
    "choice": (trial,)}`` with trials in :func:`group_by_signal` order (see :meth:`sort`) and
    returns a dict of scalars and per-time-bin arrays.
    """

    def __init__(self, contrasts, n_neurons: int, task: int, subset_size: int):
        grouped = group_by_signal(np.asarray(contrasts))
        self.order, self.layout = grouped.order, grouped.layout
        self.signal = np.asarray(contrasts)[self.order]
        self.subset_size = subset_size
        relevant = task_relevant(n_neurons, task)
        self.groups = {
            "relevant": np.flatnonzero(relevant),
            "irrelevant": np.flatnonzero(~relevant),
        }
        self.group_size = min(subset_size // 2, *(g.size for g in self.groups.values()))

    def sort(self, counts, choice) -> dict:
        """A block in analysis order: counts (trial, time, neuron) and choices."""
        return {"counts": np.asarray(counts)[self.order], "choice": np.asarray(choice)[self.order]}

    def measures(self, block: dict, key, n_subsets: int) -> dict:
        counts = block["counts"]
        k_total, k_bins, k_group = jax.random.split(key, 3)
        common = dict(layout=self.layout, n_subsets=n_subsets)
        total = estimate_redundancy(
            counts.sum(axis=1), k_total, subset_size=self.subset_size, **common
        )
        binned = estimate_redundancy(counts, k_bins, subset_size=self.subset_size, **common)
        out = {m: getattr(total.combined, m) for m in MEASURES}
        out["fraction_along_fprime"] = jnp.mean(total.fraction_along_fprime)
        out["redundancy_by_time"] = binned.combined.redundancy
        out["information_by_time"] = binned.combined.information
        bins = jnp.arange(counts.shape[1], dtype=counts.dtype)
        bins = bins - jnp.mean(bins)
        out["within_trial_slope"] = jnp.sum(bins * binned.combined.redundancy) / jnp.sum(bins**2)
        for name, idx in self.groups.items():
            est = estimate_redundancy(
                counts.sum(axis=1)[:, idx], k_group, subset_size=self.group_size, **common
            )
            out[f"redundancy_{name}"] = est.combined.redundancy
        signal = jnp.asarray(self.signal)
        hit = jnp.where(signal > 0, block["choice"] == 0, block["choice"] == 1)
        out["accuracy"] = jnp.sum(jnp.where(signal != 0, hit, 0)) / jnp.sum(signal != 0)
        return out


def _is_block(x) -> bool:
    return isinstance(x, dict) and "counts" in x


def _stack_seeds(blocks: list) -> dict:
    return jax.tree.map(lambda *a: np.stack(a), *blocks)


class Estimates(NamedTuple):
    """Measures of a pytree of blocks: per seed, seed-averaged, and bootstrap resamples."""

    per_seed: dict
    point: dict
    samples: dict


def estimate_blocks(
    analysis: Analysis, data: dict, key, *, n_subsets: int, n_boot: int, boot_subsets: int
) -> Estimates:
    """Measures of every block in ``data`` (a pytree of blocks with a leading seed axis).

    The bootstrap resamples seeds and, within every signal level, trials, with the same
    indices in every block of ``data`` (blocks of one design); each resample draws fresh
    neuron subsets. Linear combinations of blocks (changes over learning, interactions) are
    then taken resample by resample.
    """

    def statistic(d, k, n):
        leaves, treedef = jax.tree.flatten(d, is_leaf=_is_block)
        keys = jax.random.split(k, len(leaves))
        return treedef.unflatten(
            [analysis.measures(b, kk, n) for b, kk in zip(leaves, keys, strict=True)]
        )

    # Seeds one after the other (lax.map, not vmap): memory does not grow with the seeds.
    per_seed = jax.jit(lambda d, k: jax.lax.map(lambda one: statistic(one, k, n_subsets), d))(
        data, key
    )
    point = jax.tree.map(lambda a: jnp.mean(a, axis=0), per_seed)
    samples = bootstrap(
        jax.random.fold_in(key, 1),
        lambda d, k: statistic(d, k, boot_subsets),
        data,
        n_resamples=n_boot,
        strata=analysis.layout.block_ids,  # ascending in analysis order: kept as is
        seeds=True,
        keyed=True,
        batch_size=1,  # sequential resamples: half the memory of 4 at once, and no slower
    )
    return Estimates(per_seed, point, samples)


def effect(est: Estimates, fn) -> tuple[float, float, float]:
    """Point value and centred 95% bootstrap interval of ``fn(measures tree)``."""
    value = fn(est.point)
    low, high = percentile_interval(fn(est.samples), 0.95, center=value)
    return float(value), float(low), float(high)


# -- the experiment ----------------------------------------------------------------------------


def _other_task(task: str) -> str:
    return "oblique" if task == "cardinal" else "cardinal"


def _collect_seed(config: RedundancyConfig, seed: int, analysis: Analysis, progress: bool):
    """Train one seed; return its sorted blocks per session, control blocks, and curves."""
    tcfg = config.train_config(seed)
    sessions: dict[int, dict] = {}
    controls: dict[str, dict] = {}

    def on_session(rec: SessionRecord):
        sessions[rec.session] = {
            m: analysis.sort(rec.blocks[m].counts, rec.blocks[m].choice) for m in MODES
        }
        if config.controls and rec.session in (0, config.sessions):
            phase = "before" if rec.session == 0 else "after"
            ab_cfg = dataclasses.replace(tcfg, record_modes=ABLATIONS)
            _, ablated = record_session(ab_cfg, rec.model, rec.session)
            sw_cfg = dataclasses.replace(tcfg, task=_other_task(config.task), tasks=())
            _, switched = record_session(sw_cfg, rec.model, rec.session)
            for m in ABLATIONS:
                block = analysis.sort(ablated[m].counts, ablated[m].choice)
                controls.setdefault(m, {})[phase] = block
            for m in MODES:
                block = analysis.sort(switched[m].counts, switched[m].choice)
                controls.setdefault(f"switch_{m}", {})[phase] = block

    _, curves = train(tcfg, progress=progress, on_session=on_session)
    return sessions, controls, curves


def _network_blocks(config: RedundancyConfig, seed: int, analysis: Analysis):
    """Record the discriminative network before and after training (same images)."""
    task = task_index(config.task)
    contrasts = np.repeat(np.asarray(config.contrasts()), config.record_trials)
    stimulus = Stimulus()
    net = NoisyPerceptron(stimulus.size**2, config.network_hidden, rngs=nnx.Rngs(seed))
    key = jax.random.key(seed)
    blocks = {}
    responses, choices = record_network(jax.random.fold_in(key, 1), net, stimulus, task, contrasts)
    blocks["before"] = analysis.sort(responses[:, None, :], choices)
    losses = train_network(
        jax.random.fold_in(key, 2), net, stimulus, task, contrasts, steps=config.network_steps
    )
    responses, choices = record_network(jax.random.fold_in(key, 1), net, stimulus, task, contrasts)
    blocks["after"] = analysis.sort(responses[:, None, :], choices)
    return blocks, losses


def _curves(est: Estimates, sessions: list[int]) -> xr.Dataset:
    """Per (session, mode) measures: point, 95% interval bounds and per-seed values."""
    low, high = percentile_interval(est.samples, 0.95, center=est.point)
    data = {}
    for name in est.point[sessions[0]][MODES[0]]:

        def grab(tree, name=name):
            return np.stack(
                [np.stack([np.asarray(tree[s][m][name]) for m in MODES]) for s in sessions]
            )

        dims = ("session", "mode") + (("time",) if np.ndim(est.point[0][MODES[0]][name]) else ())
        data[name] = (dims, grab(est.point))
        data[f"{name}_low"] = (dims, grab(low))
        data[f"{name}_high"] = (dims, grab(high))
        per_seed = np.stack(
            [np.stack([np.asarray(est.per_seed[s][m][name]) for m in MODES], 1) for s in sessions],
            1,
        )
        data[f"{name}_per_seed"] = (("seed",) + dims, per_seed)
    return xr.Dataset(data, coords={"session": sessions, "mode": list(MODES)})


def _learning_effects(est: Estimates, last: int) -> dict[str, tuple[float, float, float]]:
    def change(mode, measure):
        return lambda t: t[last][mode][measure] - t[0][mode][measure]

    def interaction(t):
        return change("engaged", "redundancy")(t) - change("passive", "redundancy")(t)

    def relevant_vs_irrelevant(t):
        return change("engaged", "redundancy_relevant")(t) - change(
            "engaged", "redundancy_irrelevant"
        )(t)

    effects = {}
    for mode in MODES:
        for measure in MEASURES + ("fraction_along_fprime", "accuracy"):
            effects[f"change_{measure}_{mode}"] = effect(est, change(mode, measure))
    effects["interaction_redundancy"] = effect(est, interaction)
    effects["change_relevant_minus_irrelevant_engaged"] = effect(est, relevant_vs_irrelevant)
    for mode in MODES:
        effects[f"within_trial_slope_early_{mode}"] = effect(
            est, lambda t, mode=mode: t[0][mode]["within_trial_slope"]
        )
        effects[f"within_trial_slope_late_{mode}"] = effect(
            est, lambda t, mode=mode: t[last][mode]["within_trial_slope"]
        )
    return effects


def _change_effects(est: Estimates, prefix: str) -> dict[str, tuple[float, float, float]]:
    return {
        f"{prefix}_{cond}_{measure}": effect(
            est, lambda t, c=cond, m=measure: t[c]["after"][m] - t[c]["before"][m]
        )
        for cond in est.point
        for measure in ("redundancy", "percent_redundancy", "information_shuffled", "information")
    }


def run(config: RedundancyConfig, *, progress: bool = True) -> xr.Dataset:
    """Run the experiment (see the module docstring); returns the results Dataset.

    Its attributes hold the wall time of the simulation (training and recording) and of the
    analysis, each with the part of it that jax spent compiling.
    """
    config = config.resolved()
    task = task_index(config.task)
    contrasts = np.repeat(np.asarray(config.contrasts()), config.record_trials)
    analysis = Analysis(contrasts, config.neurons, task, config.subset_size)
    net_analysis = Analysis(
        contrasts, config.network_hidden, task, min(config.subset_size, config.network_hidden)
    )
    seeds = [config.seed * 1000 + s for s in range(config.seeds)]
    t_start = time.perf_counter()
    with compile_time() as sim_compile:
        per_seed = []
        for s in tqdm(seeds, desc="animals", unit="seed", disable=not progress):
            collected = _collect_seed(config, s, analysis, progress)
            network = _network_blocks(config, s, net_analysis) if config.controls else None
            per_seed.append((*collected, network))
    t_sim = time.perf_counter() - t_start
    with compile_time() as analysis_compile:
        ds = _analyse(config, analysis, net_analysis, seeds, per_seed)
    ds.attrs["simulation_seconds"] = t_sim
    ds.attrs["simulation_compile_seconds"] = sim_compile.seconds
    ds.attrs["analysis_seconds"] = time.perf_counter() - t_start - t_sim
    ds.attrs["analysis_compile_seconds"] = analysis_compile.seconds
    ds.attrs["trials_simulated"] = _trials_simulated(config)
    return ds


def _trials_simulated(config: RedundancyConfig) -> int:
    """Trials the sampling model ran (training plus every recorded block), all seeds."""
    block = len(config.contrasts()) * config.record_trials
    blocks = (config.sessions + 1) * len(MODES)
    if config.controls:
        blocks += 2 * (len(ABLATIONS) + len(MODES))  # before and after: ablations, task switch
    return config.seeds * (config.sessions * config.trials_per_session + blocks * block)


def _analyse(config: RedundancyConfig, analysis, net_analysis, seeds, per_seed) -> xr.Dataset:
    kw = dict(
        n_subsets=config.subsets, n_boot=config.bootstrap, boot_subsets=config.bootstrap_subsets
    )
    key = jax.random.key(config.seed)
    sessions = list(range(config.sessions + 1))
    data = {s: _stack_seeds([p[0][s] for p in per_seed]) for s in sessions}
    est = estimate_blocks(analysis, data, key, **kw)
    ds = _curves(est, sessions)
    effects = _learning_effects(est, config.sessions)
    if config.controls:
        controls = {c: _stack_seeds([p[1][c] for p in per_seed]) for c in per_seed[0][1]}
        effects |= _change_effects(
            estimate_blocks(analysis, controls, jax.random.fold_in(key, 1), **kw), "control"
        )
        network = {"network": _stack_seeds([p[3][0] for p in per_seed])}
        effects |= _change_effects(
            estimate_blocks(net_analysis, network, jax.random.fold_in(key, 2), **kw), "control"
        )
        ds["network_loss"] = (("seed", "step"), np.stack([p[3][1] for p in per_seed]))
    names = list(effects)
    values = np.array([effects[n] for n in names])
    ds = ds.assign(
        effect_value=("effect", values[:, 0]),
        effect_low=("effect", values[:, 1]),
        effect_high=("effect", values[:, 2]),
    ).assign_coords(effect=names, seed=seeds)
    curves = [p[2] for p in per_seed]
    if "parameters" in curves[0]:
        ds["parameters"] = (
            ("seed", "session", "parameter"),
            np.stack([c.parameters.values for c in curves]),
        )
        ds = ds.assign_coords(parameter=list(curves[0].parameter.values))
    ds["accuracy_by_contrast"] = (
        ("seed", "session", "mode", "contrast"),
        np.stack([c.accuracy.sel(mode=list(MODES)).values for c in curves]),
    )
    return ds.assign_coords(contrast=curves[0].contrast.values)


# -- report ------------------------------------------------------------------------------------

CRITERIA = (
    (
        "engaged redundancy rises with learning (CI > 0)",
        lambda e: e("change_redundancy_engaged")[1] > 0,
    ),
    (
        "engaged single-neuron (shuffled) information rises (CI > 0)",
        lambda e: e("change_information_shuffled_engaged")[1] > 0,
    ),
    (
        "passive redundancy change: CI includes 0",
        lambda e: e("change_redundancy_passive")[1] <= 0 <= e("change_redundancy_passive")[2],
    ),
    (
        "engaged-minus-passive interaction positive (CI > 0)",
        lambda e: e("interaction_redundancy")[1] > 0,
    ),
    (
        "late in learning, engaged redundancy rises within the trial (slope CI > 0)",
        lambda e: e("within_trial_slope_late_engaged")[1] > 0,
    ),
    (
        "before learning, no within-trial rise (slope CI not above 0)",
        lambda e: not e("within_trial_slope_early_engaged")[1] > 0,
    ),
    (
        "population information not significantly lower after learning",
        lambda e: not e("change_information_engaged")[2] < 0,
    ),
    (
        "discriminative network's redundancy does not rise with training",
        lambda e: not e("control_network_redundancy")[1] > 0,
    ),
)


def criteria(ds: xr.Dataset) -> list[tuple[str, bool | None]]:
    """Each acceptance criterion and whether it holds (None where its data were not run)."""

    def e(name):
        row = ds.sel(effect=name)
        return float(row.effect_value), float(row.effect_low), float(row.effect_high)

    out = []
    for text, check in CRITERIA:
        try:
            out.append((text, bool(check(e))))
        except KeyError:
            out.append((text, None))
    return out


def summary_text(config: RedundancyConfig, ds: xr.Dataset) -> str:
    """The statistics as text: effects with 95% CIs, the criteria, timings."""
    lines = [
        "Redundancy with learning, engaged vs passive (Liu, Pletenev, Haefner & Snyder 2026)",
        f"task {config.task}, {config.seeds} seeds, {config.sessions} sessions, "
        f"{config.neurons} neurons, {config.record_trials} trials per contrast, "
        f"{config.subset_size}-neuron subsets",
        "",
        "Changes from session 0 (naive) to the last session; bootstrap 95% CIs over seeds and "
        "trials:",
    ]
    for name in ds.effect.values:
        row = ds.sel(effect=name)
        lines.append(
            f"  {name:46s} {float(row.effect_value):9.4f} "
            f"[{float(row.effect_low):9.4f}, {float(row.effect_high):9.4f}]"
        )
    lines += [
        "",
        "Per session (seed mean):",
        "  session  mode     accuracy  I        I_shuffle  I_red    %red",
    ]
    for s in ds.session.values:
        for m in ds.mode.values:
            p = ds.sel(session=s, mode=m)
            lines.append(
                f"  {s:7d}  {m:8s} {float(p.accuracy):8.3f} {float(p.information):8.4f} "
                f"{float(p.information_shuffled):9.4f} {float(p.redundancy):8.4f} "
                f"{float(p.percent_redundancy):6.1f}"
            )
    if "parameters" in ds:
        last = ds.parameters.isel(session=-1).mean("seed")
        first = ds.parameters.isel(session=0).mean("seed")
        lines += ["", "Learned parameters (seed mean), session 0 -> last:"]
        lines += [
            f"  {p:20s} {float(first.sel(parameter=p)):8.4f} -> {float(last.sel(parameter=p)):8.4f}"
            for p in ds.parameter.values
        ]
    lines += ["", "Acceptance criteria:"]
    for text, ok in criteria(ds):
        lines.append(f"  [{'PASS' if ok else 'FAIL' if ok is not None else 'n/a '}] {text}")
    a = ds.attrs
    per_trial = (a["simulation_seconds"] - a["simulation_compile_seconds"]) / a["trials_simulated"]
    lines += [
        "",
        f"wall time: simulation {a['simulation_seconds']:.0f} s (of which compiling "
        f"{a['simulation_compile_seconds']:.0f} s), analysis {a['analysis_seconds']:.0f} s "
        f"(compiling {a['analysis_compile_seconds']:.0f} s)",
        f"{a['trials_simulated']} model trials (training and recording): "
        f"{1e3 * per_trial:.2f} ms per trial excluding compilation, "
        f"{REFERENCE_SECONDS_PER_TRIAL / per_trial:.0f}x the reference MATLAB "
        f"({REFERENCE_SECONDS_PER_TRIAL:g} s per trial)",
    ]
    return "\n".join(lines) + "\n"


def _band(ax, ds, name, mode, label, color):
    x = ds.session.values
    p = ds[name].sel(mode=mode)
    ax.plot(x, p, "o-", color=color, label=label)
    ax.fill_between(
        x,
        ds[f"{name}_low"].sel(mode=mode),
        ds[f"{name}_high"].sel(mode=mode),
        color=color,
        alpha=0.2,
    )


def figures(ds: xr.Dataset) -> dict:
    """The paper's panels: redundancy, single-neuron and population information over
    sessions (engaged vs passive), within-trial redundancy early vs late, task-relevant vs
    irrelevant neurons, fraction of variance along f', accuracy, and the controls."""
    colors = {"engaged": "C3", "passive": "C0"}
    fig = Figure(figsize=(17, 8), layout="constrained")
    axes = fig.subplots(2, 4)
    panels = [
        ("redundancy", "redundancy I_shuffle - I"),
        ("information_shuffled", "single-neuron information (I_shuffle)"),
        ("information", "population information I"),
        ("percent_redundancy", "% redundancy"),
        ("fraction_along_fprime", "fraction of noise variance along f'"),
        ("accuracy", "accuracy (signal trials)"),
    ]
    for ax, (name, title) in zip(axes.flat, panels, strict=False):
        for mode in ds.mode.values:
            _band(ax, ds, name, mode, mode, colors.get(str(mode), "k"))
        ax.set(title=title, xlabel="session")
        ax.legend()
    ax = axes.flat[6]
    t = np.arange(1, ds.sizes["time"] + 1)
    for s, style in ((ds.session.values[0], "--"), (ds.session.values[-1], "-")):
        for mode in ds.mode.values:
            ax.plot(
                t,
                ds.redundancy_by_time.sel(session=s, mode=mode),
                style,
                color=colors.get(str(mode), "k"),
                label=f"{mode}, session {s}",
            )
    ax.set(title="within-trial redundancy", xlabel="time bin")
    ax.legend(fontsize=7)
    ax = axes.flat[7]
    for name, color in (("redundancy_relevant", "C3"), ("redundancy_irrelevant", "C7")):
        ax.plot(
            ds.session.values,
            ds[name].sel(mode="engaged"),
            "o-",
            color=color,
            label=name.split("_")[1],
        )
        ax.fill_between(
            ds.session.values,
            ds[f"{name}_low"].sel(mode="engaged"),
            ds[f"{name}_high"].sel(mode="engaged"),
            color=color,
            alpha=0.2,
        )
    ax.set(title="engaged: task-relevant vs irrelevant neurons", xlabel="session")
    ax.legend()
    out = {"redundancy": fig}

    names = [str(n) for n in ds.effect.values]
    labels = {
        "change_redundancy_engaged": "engaged",
        "change_redundancy_passive": "passive",
        "interaction_redundancy": "engaged - passive",
    }
    labels |= {
        n: n.removeprefix("control_").removesuffix("_redundancy")
        for n in names
        if n.startswith("control_") and n.endswith("_redundancy") and "percent" not in n
    }
    controls = [n for n in labels if n in names]
    if controls:
        fig2 = Figure(figsize=(9, 4), layout="constrained")
        ax = fig2.subplots()
        rows = ds.sel(effect=controls)
        y = np.arange(len(controls))
        ax.errorbar(
            rows.effect_value,
            y,
            xerr=[rows.effect_value - rows.effect_low, rows.effect_high - rows.effect_value],
            fmt="o",
            color="k",
        )
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, [labels[c] for c in controls])
        ax.set(title="change in redundancy with learning (95% CI)", xlabel="delta I_red")
        out["controls"] = fig2
    return out


def main(config: RedundancyConfig) -> None:
    from .results import save_run

    ds = run(config)
    text = summary_text(config.resolved(), ds)
    figs = figures(ds)
    folder = save_run("redundancy", config, ds, root=config.output, figures=figs, summary=text)
    print(text)
    print(f"written to {folder}")
