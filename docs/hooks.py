"""mkdocs hook: expose the flat source folders as the ``bayescortex`` package for mkdocstrings.

The repository maps ``models/``, ``inference/``, ``analysis/`` and ``experiments/`` to
``bayescortex.<name>`` at install time (``pyproject.toml``); the API reference reads the
sources statically, so the build links them under ``build/docs-src/bayescortex/``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("models", "inference", "analysis", "experiments")


def link_sources() -> None:
    """Create ``build/docs-src/bayescortex/<name>`` -> ``<name>/`` (idempotent)."""
    package = ROOT / "build" / "docs-src" / "bayescortex"
    package.mkdir(parents=True, exist_ok=True)
    for name in SUBPACKAGES:
        link = package / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)


# At import: mkdocstrings resolves its search paths while the config loads, before any event.
link_sources()
