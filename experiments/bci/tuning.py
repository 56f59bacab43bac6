"""Fair comparison of the learning rules: one tuning procedure for every rule's learning rate.

Every rule gets the same grid of learning rates ``eta`` (:data:`RATES`), run on tuning seeds
(the root seed plus :data:`TUNING_SALT`, never the seeds the rules are then evaluated on). A
rule's tuned rate is the grid value with the largest seed-mean change of the decoder
projection (P+ minus P- mean rate, last session minus baseline), the learning measure that
raising every rate cannot meet. The rules are then run at their tuned rates on the
evaluation seeds (the configuration's own), and the criteria and effects of that combined
run are reported, together with the criteria at every rate of the grid.

Run it as ``python -m bayescortex.experiments.bci.tuning`` (``--quick`` for a smaller
configuration; ``--targets 64`` adds the comparison at ``K = 64`` targets at the rates tuned
at the configuration's ``K``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import xarray as xr

from .config import BCIConfig
from .criteria import RULES, criteria, discrimination
from .report import with_effects
from .run import run_configs

RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
"""The learning-rate grid every rule is tuned on."""
TUNING_SALT = 1000
"""The tuning seeds are ``config.seed + TUNING_SALT`` (disjoint from the evaluation's)."""


def grid(config: BCIConfig, rates=RATES, *, seed: int | None = None) -> list[xr.Dataset]:
    """``config`` at every rate of ``rates`` (one compiled program, a configuration axis),
    on root seed ``seed`` (default: the tuning seeds); datasets with effects, in grid order."""
    root = config.seed + TUNING_SALT if seed is None else seed
    configs = [
        dataclasses.replace(config, learning_rate=float(r), seed=root, compare_targets=0)
        for r in rates
    ]
    return [with_effects(ds) for ds in run_configs(configs, progress=False)]


def _effect(ds: xr.Dataset, name: str) -> float:
    return float(ds.effect_value.sel(effect=name))


def best_rates(datasets: list[xr.Dataset], rates=RATES) -> dict[str, float]:
    """Per rule, the rate of the grid with the largest seed-mean decoder-projection change
    (ties: the smaller rate)."""
    out = {}
    for v in datasets[0].variant.values:
        score = [_effect(ds, f"projection_change_{v}") for ds in datasets]
        out[str(v)] = float(rates[int(np.nanargmax(score))])
    return out


def at_rates(config: BCIConfig, rates: dict[str, float]) -> xr.Dataset:
    """Every rule of ``config`` run at its own rate (``rates[rule]``) on the evaluation seeds,
    combined into one Dataset with effects (variants share their seeds' keys, so paired
    comparisons stay paired); ``learning_rate`` holds each rule's rate."""
    distinct = sorted({rates[v] for v in config.variants})
    runs = run_configs(
        [dataclasses.replace(config, learning_rate=r, compare_targets=0) for r in distinct],
        progress=False,
    )
    parts = [runs[distinct.index(rates[v])].sel(variant=[v]) for v in config.variants]
    combined = xr.concat(parts, dim="variant", data_vars="minimal", coords="minimal",
                         compat="override", combine_attrs="override")  # fmt: skip
    combined["learning_rate"] = ("variant", [rates[v] for v in config.variants])
    return with_effects(combined)


def _cell(ds: xr.Dataset, name: str, digits: int = 2) -> str:
    if name not in ds.effect.values:
        return "-"
    row = ds.sel(effect=name)
    v, lo, hi = (float(row[k]) for k in ("effect_value", "effect_low", "effect_high"))
    return f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def rule_table(ds: xr.Dataset) -> list[str]:
    """Markdown table, one row per rule at its rate: hit rate, decoder-projection change,
    residual signs (coupling and contrast per group), sign recovery, learning speed."""
    lines = [
        "| rule | eta | hit rate s0 -> last | decoder-projection change | coupling sign P+ / P- "
        "| contrast P+ / P- | sign recovery | speed (projection) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in ds.variant.values:
        eta = float(ds.learning_rate.sel(variant=v)) if "learning_rate" in ds else float("nan")
        first, last = (_effect(ds, f"hit_rate_{w}_{v}") for w in ("first", "last"))
        lines.append(
            f"| `{v}` | {eta:g} | {first:.2f} -> {last:.2f} "
            f"| {_cell(ds, f'projection_change_{v}')} "
            f"| {_cell(ds, f'residual_sign_plus_{v}')} / {_cell(ds, f'residual_sign_minus_{v}')} "
            f"| {_cell(ds, f'contrast_plus_{v}', 3)} / {_cell(ds, f'contrast_minus_{v}', 3)} "
            f"| {_cell(ds, f'sign_recovery_{v}')} | {_cell(ds, f'projection_speed_{v}', 3)} |"
        )
    return lines


def criteria_table(datasets: list[xr.Dataset], labels: list[str]) -> list[str]:
    """Markdown table: per criterion (rows) and run (columns), whether it holds on its subject
    rule and on how many of its nulls it fails (``PASS 3/3``: holds, fails on all 3 nulls)."""
    lines = ["| criterion | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    results = []
    for ds in datasets:
        held = dict(criteria(ds))
        nulls = discrimination(ds)
        results.append((held, nulls))
    for c in RULES:
        cells = []
        for held, nulls in results:
            ok = held[c.text]
            mine = [n for t, _, n in nulls if t == c.text]
            tag = "PASS" if ok else "FAIL" if ok is not None else "n/a"
            cells.append(f"{tag} {sum(n is False for n in mine)}/{len(mine)}")
        lines.append(f"| {c.text[:60]}... ({c.subject}) | " + " | ".join(cells) + " |")
    return lines


def speed_table(ds: xr.Dataset, label: str) -> list[str]:
    """One Markdown row per rule: the learning speeds (hit rate and decoder projection)."""
    return [
        f"| {label} | `{v}` | {_cell(ds, f'learning_speed_{v}', 3)} "
        f"| {_cell(ds, f'projection_speed_{v}', 3)} |"
        for v in ds.variant.values
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 4 sessions, 40 trials")
    parser.add_argument("--targets", type=int, default=0, help="also run K targets (e.g. 64)")
    args = parser.parse_args(argv)
    config = BCIConfig(bootstrap=1000)
    if args.quick:
        config = dataclasses.replace(config, seeds=3, sessions=4, trials=40, record_trials=30)
    t0 = time.perf_counter()
    tuned_grid = grid(config)
    best = best_rates(tuned_grid)
    print("tuned rates (tuning seeds):", best)
    final = at_rates(config, best)
    print("\n".join(["", "Rules at their tuned rates (evaluation seeds):", *rule_table(final)]))
    evaluation = grid(config, seed=config.seed)
    labels = [f"eta {r:g}" for r in RATES] + ["tuned"]
    print("\n".join(["", "Criteria across the grid (evaluation seeds) and at the tuned rates:",
                     *criteria_table([*evaluation, final], labels)]))  # fmt: skip
    rows = ["| K | rule | speed (hit rate) | speed (projection) |", "| --- | --- | --- | --- |"]
    rows += speed_table(final, str(config.targets))
    if args.targets:
        big = dataclasses.replace(
            config, targets=args.targets, neurons=config.neurons - config.targets + args.targets,
            variants=("vectorized", "scalar", "scalar_perturbation"),
        )  # fmt: skip
        rows += speed_table(at_rates(big, best), str(args.targets))
    print("\n".join(["", "Learning speed at the tuned rates:", *rows]))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
