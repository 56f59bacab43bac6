"""The README as a new user follows it, in a fresh virtual environment.

``python .ci/readme.py command EXTRA...`` prints the first shell command of the
README's set-up section with ``EXTRA`` flags appended to it (a size small enough for CI; the
command itself is taken from the README, so the README and CI cannot drift apart).

``python .ci/readme.py check OUTPUT`` checks a finished run folder the way a user
would read it: ``results.nc`` re-opened, ``summary.txt`` with every criterion, and every file
the manifest lists present with its size and SHA-256 (the figures among them).

``python .ci/readme.py examples [--light]`` runs the README's Python blocks in order as one
script in the current folder (``--light``: only those that need no more than ``pip install .``,
the estimators; they must not import the models, the sampler or the experiments).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
HEAVY = re.compile(r"bayescortex\.(models|inference|experiments)")


def first_command(extra: list[str]) -> str:
    (line,) = [x for x in FENCE.findall(README.read_text())[0].splitlines() if x.strip()]
    install, run = (part.strip() for part in line.split("&&"))
    if not install.startswith("pip install") or not run.startswith("bayescortex run"):
        raise SystemExit(
            f"README's first command is not 'pip install ... && bayescortex run ...': {line!r}"
        )
    return f"{install} && {run} {shlex.join(extra)}"


def check(folder: Path) -> None:
    import xarray as xr

    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    for name, entry in manifest.items():
        data = (folder / name).read_bytes()
        assert len(data) == entry["bytes"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
    figures = [n for n in manifest if n.endswith(".png")]
    assert figures, f"no figures in {folder}"
    with xr.open_dataset(folder / "results.nc", engine="h5netcdf") as ds:
        ds.load()
    text = (folder / "summary.txt").read_text()
    verdicts = len(re.findall(r"\[(PASS|FAIL|INCONCLUSIVE)\]", text))
    assert verdicts > 0, "summary.txt lists no criteria"
    print(
        f"{folder.name}: results.nc ({len(ds.data_vars)} variables), summary.txt "
        f"({verdicts} criteria), {len(figures)} figures, {len(manifest)} files checked"
    )


def examples(light: bool) -> None:
    found = PYTHON.findall(README.read_text())
    chosen = [b for b in found if not (light and HEAVY.search(b))]
    if not chosen:
        raise SystemExit("README: no Python block to run")
    Path("readme_examples.py").write_text("\n\n".join(chosen))
    subprocess.run([sys.executable, "readme_examples.py"], check=True)
    print(f"README: {len(chosen)} of {len(found)} Python blocks ran")


if __name__ == "__main__":
    what, *rest = sys.argv[1:]
    if what == "command":
        print(first_command(rest))
    elif what == "examples":
        examples(light=rest == ["--light"])
    else:
        (folder,) = [p for p in (Path(rest[0]) / "redundancy").iterdir() if p.is_dir()]
        check(folder)
