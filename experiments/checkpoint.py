"""Checkpoints of long runs: one complete, atomically written checkpoint per finished session.

A checkpoint folder holds, for every finished session ``s``,

- ``session_{s:04d}.eqx``: a pytree of arrays (e.g. the model and the optimiser state) written
  with :func:`equinox.tree_serialise_leaves`;
- ``session_{s:04d}.nc`` (optional): that session's results as an xarray Dataset;
- ``session_{s:04d}.json``: the format, the session index, the config (as JSON), any extra
  metadata (key derivation, versions). Written last: a session counts as checkpointed only
  when its JSON file exists, so a run killed while writing leaves the previous checkpoint as
  the latest.

Every file is written under a temporary name and renamed into place, and every session's
checkpoint is kept. Loading checks the saved config against the current one and refuses a
mismatch with a ``ValueError`` naming the field; a file that cannot be read (truncated, random
bytes, arrays of other shapes) is an :class:`UnreadableCheckpoint` naming the file, and the
session runner then resumes from the session before it.
No RNG state is stored: runs derive every key from the seed and the session index. A run holds
:func:`exclusive` on its folder while it writes, so a second process given the same folder
(the same run id) is refused instead of interleaving its checkpoints with the first's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

import xarray as xr

FORMAT = 1
_NAME = re.compile(r"^session_(\d{4,})\.json$")


class UnreadableCheckpoint(ValueError):
    """A checkpoint file that exists but cannot be read (the message names the file)."""


def _stem(directory: Path, session: int) -> Path:
    return directory / f"session_{session:04d}"


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a hidden sibling of ``path``, then rename it to ``path`` (readers see
    the old file or the whole new one, never a partial one)."""
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


LOCK_NAME = ".lock"


@contextlib.contextmanager
def exclusive(directory: str | os.PathLike):
    """Hold an exclusive lock on ``directory`` (created if needed) while the block runs.

    The lock is the operating system's (``flock`` on ``directory/.lock``): it is released when
    the block ends or the process dies, so a killed run never leaves a stale lock behind. A
    second holder, in this or another process, gets a ``ValueError`` naming the folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ValueError(
                f"run_id: {directory} is in use by {holder}; wait for it to finish or choose "
                "another run_id"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_checkpoint(
    directory: str | os.PathLike,
    session: int,
    tree: Any,
    *,
    config: dict,
    extra: dict | None = None,
    dataset: xr.Dataset | None = None,
) -> Path:
    """Write session ``session``'s checkpoint into ``directory`` (created if needed).

    ``tree``: a pytree of arrays (serialised with equinox); ``config``: the run's config as a
    JSON-ready dict; ``extra``: further JSON-ready metadata; ``dataset``: optional results of
    this session. Returns the path of the JSON file, which is written last.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = _stem(directory, session)
    import equinox as eqx  # here, so that results.py (used by the estimators' CLI) stays light

    atomic_write(stem.with_suffix(".eqx"), lambda p: eqx.tree_serialise_leaves(p, tree))
    if dataset is not None:
        atomic_write(stem.with_suffix(".nc"), lambda p: dataset.to_netcdf(p, engine="h5netcdf"))
    meta = {"format": FORMAT, "session": session, "config": config, **(extra or {})}
    path = stem.with_suffix(".json")
    atomic_write(path, lambda p: p.write_text(json.dumps(meta, indent=2)))
    return path


def checkpointed_sessions(directory: str | os.PathLike) -> list[int]:
    """Sessions with a complete checkpoint in ``directory`` (sorted; empty if none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = (_NAME.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def latest_session(directory: str | os.PathLike, *, at_most: int | None = None) -> int | None:
    """The last checkpointed session (``<= at_most`` if given), or None."""
    sessions = [s for s in checkpointed_sessions(directory) if at_most is None or s <= at_most]
    return sessions[-1] if sessions else None


def check_config(saved: dict, current: dict, *, may_differ=(), source: str = "checkpoint") -> None:
    """Raise a ``ValueError`` naming the first field where ``saved`` and ``current`` differ.

    Fields in ``may_differ`` are not compared (e.g. the number of sessions, to extend a run).
    """
    for name in sorted(set(saved) | set(current)):
        if name in may_differ:
            continue
        if name not in saved or name not in current:
            where = "the current config" if name not in current else source
            raise ValueError(f"config field {name!r}: missing from {where}")
        if saved[name] != current[name]:
            raise ValueError(
                f"config field {name!r}: {source} was written with {saved[name]!r}, the current "
                f"config has {current[name]!r}; resume with the same value or use a new folder"
            )


def read_meta(directory: str | os.PathLike, session: int) -> dict:
    """The JSON metadata of session ``session``'s checkpoint."""
    path = _stem(Path(directory), session).with_suffix(".json")
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"checkpoint: no checkpoint of session {session} in {directory}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UnreadableCheckpoint(f"checkpoint {path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict) or "config" not in meta:
        raise UnreadableCheckpoint(f"checkpoint {path}: not a checkpoint's metadata")
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path}: format {meta.get('format')!r}, expected {FORMAT}")
    return meta


def load_dataset(directory: str | os.PathLike, session: int) -> xr.Dataset | None:
    """The results saved with session ``session``'s checkpoint (None if it saved none)."""
    nc = _stem(Path(directory), session).with_suffix(".nc")
    if not nc.exists():
        return None
    try:
        with xr.open_dataset(nc, engine="h5netcdf") as opened:
            return opened.load()
    except (OSError, ValueError) as err:
        raise UnreadableCheckpoint(f"checkpoint {nc}: cannot be read ({err})") from err


def load_checkpoint(
    directory: str | os.PathLike,
    session: int,
    like: Any,
    *,
    config: dict,
    may_differ=(),
) -> tuple[Any, dict, xr.Dataset | None]:
    """Load session ``session``'s checkpoint: ``(tree, meta, dataset or None)``.

    ``like`` is a pytree of the same structure, shapes and dtypes as the saved one (e.g. a
    freshly initialised model and optimiser state); ``config`` the current config as a dict,
    checked field by field against the saved one (see :func:`check_config`) before anything
    else is read. A file that cannot be read raises :class:`UnreadableCheckpoint` naming it;
    a config that differs, a plain ``ValueError``.
    """
    meta = read_meta(directory, session)
    stem = _stem(Path(directory), session)
    check_config(meta["config"], config, may_differ=may_differ, source=f"checkpoint {stem}")
    path = stem.with_suffix(".eqx")
    try:
        import equinox as eqx

        tree = eqx.tree_deserialise_leaves(path, like)
    except (OSError, ValueError, EOFError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UnreadableCheckpoint(
            f"checkpoint {path}: cannot be read as this run's state ({reason})"
        ) from err
    return tree, meta, load_dataset(directory, session)
