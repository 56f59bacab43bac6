"""The compile-time meter and the opt-in persistent compilation cache (fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import pytest

from bayescortex.experiments import cli
from bayescortex.experiments.compilation import CACHE_ENV, CompileTime, compile_time

PROGRAM = """
import json, sys
import jax, jax.numpy as jnp
from bayescortex.experiments.compilation import cache_from_environment, enable_cache, compile_time
if sys.argv[1] == "env":
    cache_from_environment()
else:
    enable_cache(sys.argv[1], min_compile_seconds=0.0)
with compile_time() as ct:
    f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 3.0) @ x)
    jax.block_until_ready(f(jnp.arange(64.0)))
print(json.dumps({"hits": ct.cache_hits, "misses": ct.cache_misses, "seconds": ct.seconds}))
"""


def _run(arg: str, env=None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, arg], capture_output=True, text=True, check=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_program_from_the_cache(tmp_path):
    first = _run(str(tmp_path / "cache"))
    second = _run(str(tmp_path / "cache"))
    assert first["hits"] == 0 and first["misses"] >= 1  # the function (and jnp.arange's)
    assert (second["hits"], second["misses"]) == (first["misses"], 0)
    assert any((tmp_path / "cache").iterdir())
    # Bounded, hence locked: jax takes its file lock around every read and write, so another
    # process never loads a half-written program (experiments/compilation.py).
    assert (tmp_path / "cache" / ".lockfile").exists()


def test_a_folder_an_unbounded_cache_wrote_still_stores_new_programs(tmp_path):
    # An entry as jax's unbounded cache (bayescortex before the bound) left it: no access time.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "jit_old_program-0123abcd-cache").write_bytes(b"an older program")
    first = _run(str(cache))
    second = _run(str(cache))
    assert first["misses"] >= 1
    assert (second["hits"], second["misses"]) == (first["misses"], 0)  # they were stored
    assert len(list(cache.glob("*-cache"))) == 1 + first["misses"]


def test_the_environment_variable_enables_the_cache(tmp_path):
    env = {CACHE_ENV: str(tmp_path / "env-cache")}
    _run("env", env)
    # jax's default minimum compile time (set by enable_cache to 0.5 s) may skip storing this
    # tiny program, so only the folder's creation and the absence of errors are certain here.
    assert (tmp_path / "env-cache").is_dir()


def test_compile_time_counts_compilation_and_nothing_when_cached_in_memory():
    f = jax.jit(lambda x: x * 2.0 + 1.0)
    with compile_time() as first:
        jax.block_until_ready(f(1.0))
    with compile_time() as again:
        jax.block_until_ready(f(2.0))
    assert first.seconds > 0
    assert again.seconds == 0.0


def test_describe_names_the_cache_only_when_used():
    assert CompileTime(seconds=12.4).describe() == "12 s"
    used = CompileTime(seconds=3.0, cache_hits=2, saved_seconds=20.0).describe()
    assert "2 programs loaded" in used and "20 s saved" in used


def test_unwritable_cache_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match="compile cache: cannot create"):
        cli.main(["--compile-cache", str(blocker / "sub"), "run", "redundancy", "--help"])


def test_compile_cache_flag_needs_a_command():
    with pytest.raises(SystemExit, match="must come before a command"):
        cli.main(["--compile-cache", "/tmp/x"])


def _last_line(script: str, home, *args: str, **env: str) -> str:
    """The last line ``python -c script *args`` prints, with no cache variable unless ``env``
    sets one and ``$XDG_CACHE_HOME`` at ``home`` (so the user's own cache folder is untouched)."""
    base = {k: v for k, v in os.environ.items() if k != CACHE_ENV}
    base |= {"XDG_CACHE_HOME": str(home), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         check=True, env={**base, **env}, timeout=120)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_the_command_line_caches_in_the_user_cache_folder_by_default(tmp_path):
    """No flag, no variable: the cache is on, in $XDG_CACHE_HOME/bayescortex/jax; the variable
    set to off, or --no-compile-cache, runs without one."""
    script = (
        "import jax, sys\n"
        "from bayescortex.experiments import cli\n"
        "try:\n"
        "    cli.main([*sys.argv[1:], 'simulate', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(jax.config.jax_compilation_cache_dir)\n"
    )

    def cache_dir(*flags, **extra):
        return _last_line(script, tmp_path, *flags, **extra)

    assert cache_dir() == str(tmp_path / "bayescortex" / "jax")
    assert (tmp_path / "bayescortex" / "jax").is_dir()
    assert cache_dir("--no-compile-cache") == "None"
    assert cache_dir(**{CACHE_ENV: "off"}) == "None"
    assert cache_dir(**{CACHE_ENV: str(tmp_path / "moved")}) == str(tmp_path / "moved")


def test_the_benchmarks_and_tests_cache_only_a_named_folder(tmp_path):
    """``cache_if_named``: no variable or ``off`` -> no cache (not the user's folder); a named
    folder -> that folder."""
    script = (
        "import jax\n"
        "from bayescortex.experiments.compilation import cache_if_named\n"
        "print(cache_if_named(), jax.config.jax_compilation_cache_dir)\n"
    )

    def cache_dir(**extra):
        return _last_line(script, tmp_path, **extra)

    assert cache_dir() == "None None"
    assert cache_dir(**{CACHE_ENV: "off"}) == "None None"
    named = str(tmp_path / "named")
    assert cache_dir(**{CACHE_ENV: named}) == f"{named} {named}"
    assert not (tmp_path / "bayescortex").exists()
