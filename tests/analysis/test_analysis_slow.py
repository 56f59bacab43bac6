"""Expensive checks (run with ``pytest -m slow``): interval coverage, the paper's regime,
and the docstring examples."""

from __future__ import annotations

import doctest
import importlib

import jax
import numpy as np
import pytest

from bayescortex.analysis import fisher_variance, redundancy_summary

pytestmark = pytest.mark.slow


def test_summary_intervals_cover_the_truth(population):
    """Centred bootstrap intervals cover the true combined I and I_shuffle about 95% of the
    time (100 recordings: the coverage's standard error is about 2%, we require >= 88%)."""
    pop = population(8, eps=0.3, i0=2.0, seed=21)
    levels = np.repeat([-0.4, -0.2, 0.0, 0.2, 0.4], 120)
    hits = {"information": 0, "information_shuffled": 0}
    n_recordings = 100
    for r in range(n_recordings):
        counts = pop.sample(1000 + r, levels)
        ds = redundancy_summary(counts, levels, n_bootstrap=200, key=jax.random.key(r))
        for name, truth in (("information", pop.info), ("information_shuffled", pop.info_shuffled)):
            low, high = ds[f"{name}_combined_ci"].values
            hits[name] += bool(low <= truth <= high)
    for name, n in hits.items():
        assert n / n_recordings >= 0.88, (name, n)


def test_unbiased_in_the_papers_regime(population, repeats):
    """32 neurons, 512 trials per condition, as in the paper's subset analysis."""
    pop = population(32, eps=0.5, i0=1.5, seed=22)
    r = repeats(pop, jax.random.key(22), 2000, 512, 512, 512, 2.0)
    var = float(fisher_variance(pop.info, 32, 512, 512, 512, 2.0, form="authors"))
    assert abs(r.info.mean() - pop.info) < 4 * np.sqrt(var / r.info.size)
    assert r.info.var(ddof=1) == pytest.approx(var, rel=0.15)
    assert abs(r.info_shuffled.mean() - pop.info_shuffled) < 4 * r.info_shuffled.std() / np.sqrt(
        r.info_shuffled.size
    )


@pytest.mark.parametrize(
    "module",
    [
        "fisher",
        "variance",
        "linalg",
        "redundancy",
        "bootstrap",
        "correlations",
        "choice",
        "kernels",
        "recording",
        "psychometric",
    ],  # fmt: skip
)
def test_docstring_examples(module):
    mod = importlib.import_module(f"bayescortex.analysis.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
