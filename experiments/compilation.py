"""Compilation: how long it took, and a persistent cache so a second run skips it.

Most of a small run's wall time is XLA compiling its two or three programs. :func:`compile_time`
measures that time (jax's own monitoring events), so every run reports compiling and running
separately. :func:`enable_cache` turns on jax's persistent compilation cache in a folder:
a later process that builds the same program (same shapes, same static configuration, same
jax and XLA versions and backend) loads the compiled executable instead of compiling it, and
:func:`compile_time` counts the programs loaded and the compile seconds they saved. Tracing
and lowering still happen (they are what the cache key is computed from); only the XLA
backend compilation is skipped. The command line uses the cache by default, in the user's cache
folder (:func:`default_cache_dir`): compiling is paid once per machine. ``bayescortex
--compile-cache DIR ...`` or the environment variable :data:`CACHE_ENV` moves it;
``--no-compile-cache``, or :data:`CACHE_ENV` set to ``off``, turns it off.

Processes share one cache folder safely: the cache is bounded (:data:`CACHE_BYTES`, least
recently used programs evicted), which is also what makes jax take a file lock around every read
and write. Without a bound, jax writes an entry in place and another process can read it half
written (measured with two processes and a 64 MB entry: 20 of 20 reads partial without the lock,
0 of 20 with it). An abort inside XLA while serialising or loading a program, seen in CI's slow
step, persisted with the lock: its cause is not known (the step now runs without the cache).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from pathlib import Path

import jax
import jax.monitoring

CACHE_ENV = "BAYESCORTEX_COMPILE_CACHE"
"""Environment variable naming the persistent compilation cache folder (see
:func:`enable_cache`), or ``off`` (also ``0``, ``none``, ``false``, empty) for no cache."""

OFF = ("", "0", "off", "none", "false", "no")

CACHE_BYTES = 4 * 2**30
"""The persistent cache's default size bound (4 GiB; a small run's programs take about 1 MB
each): beyond it jax evicts the least recently used programs."""

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_HIT = "/jax/compilation_cache/cache_hits"
_MISS = "/jax/compilation_cache/cache_misses"
_SAVED = "/jax/compilation_cache/compile_time_saved_sec"


@dataclasses.dataclass
class CompileTime:
    """What jax compiled while :func:`compile_time` was open.

    ``seconds``: tracing, lowering and backend compilation; ``cache_hits`` / ``cache_misses``:
    programs the persistent cache supplied / had to compile and store (both 0 without a
    cache); ``saved_seconds``: the compile time the hits saved (as recorded when they were
    stored).
    """

    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    saved_seconds: float = 0.0

    def cache_attrs(self) -> dict:
        """The persistent cache's share, for a results Dataset's attributes (read back by
        :meth:`from_attrs`)."""
        return {
            "compile_cache_hits": self.cache_hits,
            "compile_cache_misses": self.cache_misses,
            "compile_seconds_saved": self.saved_seconds,
        }

    @classmethod
    def from_attrs(cls, seconds: float, attrs) -> CompileTime:
        """The meter a run left in a Dataset's attributes: ``seconds`` and :meth:`cache_attrs`
        (absent in files from before the cache: no cache)."""
        return cls(
            seconds=float(seconds),
            cache_hits=int(attrs.get("compile_cache_hits", 0)),
            cache_misses=int(attrs.get("compile_cache_misses", 0)),
            saved_seconds=float(attrs.get("compile_seconds_saved", 0.0)),
        )

    def describe(self) -> str:
        """E.g. ``'29 s'``, or with a cache ``'6 s (persistent cache: 3 programs loaded, 25 s
        saved, 1 compiled and stored)'``."""
        text = f"{self.seconds:.0f} s"
        if self.cache_hits or self.cache_misses:
            text += (
                f" (persistent cache: {self.cache_hits} programs loaded, "
                f"{self.saved_seconds:.0f} s saved, {self.cache_misses} compiled and stored)"
            )
        return text


@contextlib.contextmanager
def compile_time():
    """Measure compilation while the block runs, to split wall time from run time.

    >>> with compile_time() as ct:
    ...     _ = jax.jit(lambda x: x + 1)(1.0)
    >>> ct.seconds > 0
    True
    """
    meter = CompileTime()

    def on_duration(event, duration, **_):
        if event in _COMPILE_EVENTS:
            meter.seconds += duration
        elif event == _SAVED:
            meter.saved_seconds += duration

    def on_event(event, **_):
        if event == _HIT:
            meter.cache_hits += 1
        elif event == _MISS:
            meter.cache_misses += 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    try:
        yield meter
    finally:
        jax.monitoring.unregister_event_duration_listener(on_duration)
        jax.monitoring.unregister_event_listener(on_event)


def enable_cache(
    directory: str | os.PathLike, *, min_compile_seconds: float = 0.5, max_bytes: int = CACHE_BYTES
) -> Path:
    """Use ``directory`` (created if missing) as jax's persistent compilation cache.

    Programs that took at least ``min_compile_seconds`` to compile are stored; jax's default
    (1 s) would skip several of a small run's programs. The folder holds at most ``max_bytes``
    (least recently used programs evicted); the bound also makes reads and writes take a file
    lock, so processes sharing the folder never load a half-written program. Call before the
    first compilation of the programs to be cached; returns the folder.
    """
    if max_bytes <= 0:
        raise ValueError(f"compile cache: max_bytes must be positive, got {max_bytes}")
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"compile cache: cannot create {path}: {err}") from err
    if not os.access(path, os.W_OK):
        raise ValueError(f"compile cache: {path} is not writable")
    _date_unbounded_entries(path)
    jax.config.update("jax_compilation_cache_dir", os.fspath(path))
    jax.config.update("jax_compilation_cache_max_size", int(max_bytes))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _date_unbounded_entries(path: Path) -> None:
    """Give the entries an unbounded cache wrote (before :data:`CACHE_BYTES`; jax keeps no
    access time for them) an access time, their file's modification time: jax's bounded cache
    reads one for every entry before it stores a new one, and otherwise stores nothing."""
    try:
        from jax._src.lru_cache import _ATIME_SUFFIX, _CACHE_SUFFIX
    except ImportError:  # a jax whose cache files are laid out otherwise: nothing to date
        return
    for entry in path.glob(f"*{_CACHE_SUFFIX}"):
        atime = path / (entry.name.removesuffix(_CACHE_SUFFIX) + _ATIME_SUFFIX)
        if not atime.exists():
            with contextlib.suppress(OSError):  # a read-only entry: jax reports it if used
                atime.write_bytes(int(entry.stat().st_mtime_ns).to_bytes(8, "little"))


def default_cache_dir() -> Path | None:
    """The cache folder the command line uses: :data:`CACHE_ENV` if set (``None`` where it says
    ``off``), else ``$XDG_CACHE_HOME/bayescortex/jax`` (``~/.cache/bayescortex/jax``).

    >>> default_cache_dir() is None or default_cache_dir().is_absolute()
    True
    """
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in OFF else Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bayescortex" / "jax"


def cache_from_environment() -> Path | None:
    """:func:`enable_cache` on :func:`default_cache_dir`, unless it is off. A folder named by
    :data:`CACHE_ENV` that cannot be used is an error; the default folder that cannot be
    created (a read-only home) only warns, and the run compiles as without a cache."""
    directory = default_cache_dir()
    if directory is None:
        return None
    try:
        return enable_cache(directory)
    except ValueError as err:
        if os.environ.get(CACHE_ENV) is not None:
            raise
        warnings.warn(f"{err}; running without a persistent compilation cache", stacklevel=2)
        return None


def cache_if_named() -> Path | None:
    """:func:`enable_cache` on the folder :data:`CACHE_ENV` names, if it names one (never the
    default folder): the benchmarks and the test suite compile cold unless a cache is asked for
    (``.ci/run`` names one fresh folder for all its steps and the processes they start)."""
    directory = default_cache_dir() if os.environ.get(CACHE_ENV) is not None else None
    return None if directory is None else enable_cache(directory)
