"""The redundancy experiment's figures on a small fabricated results Dataset (the names and
dimensions of ``results.nc``, effects and bands from :func:`effect_sizes.with_effects`):
every figure is built and saves, the summary lists every criterion with its verdict, and a run
without the controls and baselines gets only the figures whose data exist."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.text import Text

from bayescortex.experiments.criteria import INCONCLUSIVE
from bayescortex.experiments.redundancy import acceptance, effect_sizes
from bayescortex.experiments.redundancy.figures import STATUS, figures

SESSIONS, RESAMPLES, SEEDS = 3, 6, 2
MODES = ("engaged", "passive")
TRAILING = {
    "time": np.arange(4),
    "coherence": np.array([3.0, 6.0, 9.0, 12.0]),
    "frame": np.arange(5),
    "orientation_row": np.arange(22.5, 180, 45.0),
    "orientation_column": np.arange(22.5, 180, 45.0),
}
GROUPS = ("relevant", "irrelevant", "dprime_top", "dprime_bottom")
FAMILY = ("information", "information_shuffled", "redundancy", "percent_redundancy")
SCALARS = FAMILY + (
    "fraction_along_fprime", "accuracy", "psychometric_slope", "choice_probability",
    "noise_correlation_same_minus_different", "kernel_mean", "kernel_late_minus_early",
    "within_trial_slope",
) + tuple(f"redundancy_{g}" for g in GROUPS)  # fmt: skip
MEASURES = (
    {n: () for n in SCALARS}
    | {f"{n}_by_time": ("time",) for n in FAMILY + tuple(f"redundancy_{g}" for g in GROUPS)}
    | {f"{n}_by_coherence": ("coherence",) for n in FAMILY}
    | {"kernel": ("frame",), "noise_correlation_binned": ("orientation_row", "orientation_column")}
)
CONDITIONS = (
    "passive_cut", "coupling_only", "no_accumulation", "switch_engaged", "frozen_engaged",
    "frozen_passive",
)  # fmt: skip
EXPECTED = {"redundancy", "controls", "frozen_noise", "baselines", "analyses", "summary"}


def _levels(name: str, rng, shape) -> np.ndarray:
    """Plausible point estimates: engaged redundancy rises with the session, shuffled
    information falls, accuracy ends near 0.9; the rest is noise around a level."""
    session = np.arange(SESSIONS).reshape((SESSIONS,) + (1,) * (len(shape) - 1))
    base = rng.normal(0.0, 0.05, shape)
    if name.startswith("redundancy"):
        return base + 0.2 * session
    if name.startswith("information_shuffled"):
        return base + 1.0 - 0.2 * session
    if name == "accuracy":
        return 0.5 + 0.2 * session + np.zeros(shape)
    if name == "choice_probability":
        return 0.5 + 0.03 * session + base
    if name.startswith("percent"):
        return 100 * base + 5 * session
    return base + 0.1


def _measures(prefix: str, lead: dict, rng) -> dict:
    """``prefix<name>`` with ``_resampled`` and ``_per_seed`` for every measure."""
    out = {}
    for name, trailing in MEASURES.items():
        dims = tuple(lead) + trailing
        shape = tuple(len(v) for v in lead.values()) + tuple(len(TRAILING[d]) for d in trailing)
        if "session" in lead:
            point = _levels(name, rng, shape)
        else:
            point = rng.normal(0.1, 0.05, shape)
        rep = point[None] + rng.normal(0.0, 0.01, (RESAMPLES,) + shape)
        per_seed = point[None] + rng.normal(0.0, 0.02, (SEEDS,) + shape)
        out[f"{prefix}{name}"] = (dims, point)
        out[f"{prefix}{name}_resampled"] = (("resample",) + dims, rep)
        out[f"{prefix}{name}_per_seed"] = (("seed",) + dims, per_seed)
    return out


def _network(rng) -> dict:
    lead = ("session", "baseline", "noise")
    shape = (SESSIONS, 2, 2)
    out = {}
    for name in FAMILY + ("fraction_along_fprime", "accuracy", "psychometric_slope"):
        point = _levels(name, rng, shape) * (0.05 if "information" in name else 1.0)
        if name.startswith("percent"):
            point = point * np.array([1.0, 0.2])[None, None, :]  # frozen near 0
        out[f"network_{name}"] = (lead, point)
        out[f"network_{name}_resampled"] = (
            ("resample",) + lead,
            point[None] + rng.normal(0.0, 0.01, (RESAMPLES,) + shape),
        )
        out[f"network_{name}_per_seed"] = (("seed",) + lead, np.repeat(point[None], SEEDS, 0))
    steps = 4
    loss = rng.uniform(0.5, 1.0, (SEEDS, 2, steps * (SESSIONS - 1)))
    loss[:, :, 3] = np.nan  # a step not taken
    out["network_loss"] = (("seed", "baseline", "step"), loss)
    n_steps = np.full((SEEDS, SESSIONS, 2), steps - 1)
    n_steps[:, 0] = 0
    out["network_steps"] = (("seed", "session", "baseline"), n_steps)
    out["network_private_fraction"] = (("seed", "session", "baseline"), np.full(n_steps.shape, 0.7))
    out["network_shared_fraction"] = (("seed", "session", "baseline"), np.full(n_steps.shape, 0.1))
    return out


def fabricate(controls: bool = True, seed: int = 0) -> xr.Dataset:
    """A small results Dataset with the experiment's names and dims, effects and bands; the
    naive session's kernel is NaN (a model that guesses) and one effect is NaN."""
    rng = np.random.default_rng(seed)
    lead = {"session": np.arange(SESSIONS), "mode": list(MODES)}
    data = _measures("", lead, rng)
    for name in ("kernel", "kernel_mean", "kernel_late_minus_early"):
        for suffix, axis in (("", 0), ("_resampled", 1), ("_per_seed", 1)):
            values = data[name + suffix][1]
            index = [slice(None)] * values.ndim
            index[axis] = 0
            values[tuple(index)] = np.nan
    post = rng.dirichlet(np.ones(3), (SEEDS, SESSIONS, 2, 4))
    data["context_posterior"] = (("seed", "session", "mode", "time", "context"), post)
    data["accuracy_by_contrast"] = (
        ("seed", "session", "mode", "contrast"),
        rng.uniform(0.5, 1.0, (SEEDS, SESSIONS, 2, 3)),
    )
    coords = {
        **lead, **TRAILING, "seed": np.arange(SEEDS), "context": ["cardinal", "oblique", "none"],
        "contrast": [0.0, 3.0, -3.0],
    }  # fmt: skip
    if controls:
        data |= _measures("control_", {"phase": ["before", "after"], "condition": CONDITIONS}, rng)
        data |= _network(rng)
        coords |= {
            "phase": ["before", "after"], "condition": list(CONDITIONS),
            "baseline": ["discriminative", "efficient"], "noise": ["fresh", "frozen"],
        }  # fmt: skip
    ds = _with_effects(xr.Dataset(data, coords=coords, attrs={"task": "cardinal"}))
    nan = ds.effect == "change_dprime_top_minus_bottom_engaged"
    return ds.assign(effect_value=ds.effect_value.where(~nan))


def _with_effects(ds: xr.Dataset) -> xr.Dataset:
    """:func:`effect_sizes.with_effects`, with the bands computed in numpy (the same centred
    percentile interval, without compiling a jax function per shape: seconds). The
    baselines get no bands: the figures then take them from the resamples."""
    found = effect_sizes.effects(ds)
    values = np.array(list(found.values()))
    ds = ds.assign(
        effect_value=("effect", values[:, 0]),
        effect_low=("effect", values[:, 1]),
        effect_high=("effect", values[:, 2]),
    ).assign_coords(effect=list(found))
    bands = {}
    for name in list(ds.data_vars):
        if f"{name}_resampled" in ds and "session" in ds[name].dims:
            if name.startswith("network_"):
                continue
            rep = np.asarray(ds[f"{name}_resampled"].transpose("resample", *ds[name].dims))
            rep = rep - rep.mean(axis=0) + np.asarray(ds[name])
            low, high = np.quantile(rep, [0.025, 0.975], axis=0)
            bands[f"{name}_low"] = (ds[name].dims, low)
            bands[f"{name}_high"] = (ds[name].dims, high)
    return ds.assign(bands)


@pytest.fixture(scope="module")
def full():
    ds = fabricate()
    return ds, figures(ds)


def test_every_figure_is_built_and_saves(full, tmp_path):
    ds, figs = full
    assert set(figs) == EXPECTED
    for stem, fig in figs.items():
        assert isinstance(fig, Figure), stem
        fig.savefig(tmp_path / f"{stem}.png", dpi=20)
        assert (tmp_path / f"{stem}.png").stat().st_size > 0, stem


def _by_gid(fig: Figure) -> dict[str, Text]:
    return {t.get_gid(): t for t in fig.findobj(Text) if t.get_gid()}


SECTIONS = (("criterion", acceptance.CRITERIA, acceptance.criteria),
            ("sanity", acceptance.SANITY_CHECKS, acceptance.sanity_checks))  # fmt: skip
"""The summary's two lists: the paper's claims, then the sanity checks (gid prefixes)."""


def _check_summary(ds, fig):
    texts = _by_gid(fig)
    verdicts = []
    for prefix, listed, evaluate in SECTIONS:
        results = evaluate(ds)
        assert len(results) == len(listed)
        for i, (text, ok) in enumerate(results):
            assert " ".join(texts[f"{prefix}-{i}"].get_text().split()) == text
            status = texts[f"{prefix}-{i}-status"]
            label, color = STATUS[ok]
            assert status.get_text() == label, text
            assert status.get_bbox_patch().get_facecolor() == to_rgba(color)
        verdicts += [ok for _, ok in results]
    # The sanity checks are drawn below their own heading, after every claim.
    heading = texts["sanity-heading"]
    assert "sanity checks" in heading.get_text()
    last_claim = texts[f"criterion-{len(acceptance.CRITERIA) - 1}"].xyann[1]
    assert heading.xyann[1] < last_claim < 0  # offsets in points, downwards
    return verdicts


def test_summary_lists_every_criterion_with_its_verdict(full):
    ds, figs = full
    verdicts = _check_summary(ds, figs["summary"])
    assert True in verdicts and False in verdicts
    assert any(v is INCONCLUSIVE for v in verdicts)  # drawn with its own label and colour
    # The NaN effect: its criterion fails, and the forest plot says it is not finite.
    texts = [c.text for c in acceptance.CRITERIA]
    assert verdicts[next(i for i, t in enumerate(texts) if "passive d'" in t)] is False
    # Sessions 0..2: two learning sessions, too few for the learning-index correlation (n/a).
    assert verdicts[next(i for i, t in enumerate(texts) if "learning index" in t)] is None
    words = [t.get_text() for t in figs["summary"].findobj(Text)]
    assert any("not finite" in w for w in words)


def without_controls(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` as a run with ``controls=False`` records it: no control or baseline variables,
    coordinates or effects (every effect is computed on its own, so the rest are unchanged)."""
    drop = [v for v in ds.data_vars if str(v).startswith(("control_", "network_"))]
    keep = [e for e in ds.effect.values if not str(e).startswith(("control_", "network_"))]
    ds = ds.drop_vars(drop).sel(effect=keep)
    return ds.drop_vars(["phase", "condition", "baseline", "noise", "step"], errors="ignore")


def test_without_controls_only_the_figures_with_data(full):
    ds = without_controls(full[0])
    assert not any(str(v).startswith(("control_", "network_")) for v in ds.data_vars)
    figs = figures(ds)
    assert set(figs) == EXPECTED - {"frozen_noise", "baselines"}
    verdicts = _check_summary(ds, figs["summary"])
    assert None in verdicts  # the controls' and baselines' criteria: n/a
    assert all(isinstance(f, Figure) for f in figs.values())


def test_summary_shows_the_measured_effect_of_every_criterion(full):
    # The "measured effect" column was empty in every run: the figure called a helper that
    # had moved, and a broad except hid the AttributeError.
    ds, figs = full
    texts = _by_gid(figs["summary"])
    words = [t.get_text() for t in figs["summary"].findobj(Text)]
    rows = [(f"{prefix}-{i}", c.text, c.uses) for prefix, listed, _ in SECTIONS
            for i, c in enumerate(listed)]  # fmt: skip
    for gid, text, used in rows:
        expected = "\n".join(
            f"{v[0]:.3g} [{v[1]:.3g}, {v[2]:.3g}]" if v else "n/a"  # n/a: not computed
            for v in (
                tuple(
                    float(ds.sel(effect=n)[k])
                    for k in ("effect_value", "effect_low", "effect_high")
                )
                if n in ds.effect.values
                else ()
                for n in dict.fromkeys(used)
            )
        )
        assert expected, text
        assert expected in words, text
        assert texts[f"{gid}-measured"].get_text() == expected, text
