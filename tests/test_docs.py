"""Every code block of the README and the documentation runs.

- Python blocks run page by page, in order, as one script in a fresh interpreter inside a
  temporary folder (marker ``examples``: ``python -m pytest -m examples``).
- Every ``bayescortex ...`` command of a shell block is parsed by the command line itself:
  its command, experiment, preset and every flag must exist and the resolved config must
  validate (nothing is run; default suite).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(page: Path, languages: tuple[str, ...]) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang in languages]


def commands(page: Path) -> list[list[str]]:
    """The ``bayescortex`` command lines of a page's shell blocks, as argument lists."""
    found = []
    for body in blocks(page, ("bash", "sh", "console")):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                words = shlex.split(part.strip())
                if words and words[0] == "bayescortex":
                    found.append(words[1:])
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


PYTHON_PAGES = [p for p in PAGES if blocks(p, ("python",))]
SHELL_PAGES = [p for p in PAGES if commands(p)]


def test_pages_are_found():
    assert ROOT / "README.md" in PYTHON_PAGES
    assert len(PYTHON_PAGES) >= 6 and len(SHELL_PAGES) >= 5


@pytest.mark.parametrize("page", SHELL_PAGES, ids=_name)
def test_shell_commands_parse(page):
    from bayescortex.experiments.cli import parse

    for argv in commands(page):
        if "--help" in argv:  # help texts: tests/experiments/test_nothing_silent.py
            continue
        try:
            parse(argv)
        except SystemExit as exit_:  # tyro exits on an unknown flag
            raise AssertionError(f"{_name(page)}: bayescortex {shlex.join(argv)}") from exit_


@pytest.mark.examples
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_blocks_run(page, tmp_path):
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(blocks(page, ("python",))))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, f"{_name(page)}:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
