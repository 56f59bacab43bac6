"""Ctrl-C during a sweep: stop between shards, whatever swallowed the ``KeyboardInterrupt``.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives; inside a callback that Python calls on its own (jax's garbage-collection callback,
``_xla_gc_callback``) it is reported as "Exception ignored in ..." and dropped, and a sweep
once ran to completion after Ctrl-C that way. :func:`interrupts` records the signal as well,
so the sweep stops at the next shard boundary (:meth:`Interrupts.check`): the finished shards
are on disk and a rerun resumes from them.
"""

from __future__ import annotations

import contextlib
import signal
import threading


class Interrupts:
    """What :func:`interrupts` saw: ``seen`` once SIGINT arrived."""

    def __init__(self) -> None:
        self.seen = False

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if SIGINT arrived (call it between shards)."""
        if self.seen:
            raise KeyboardInterrupt("interrupted (between shards)")


@contextlib.contextmanager
def interrupts():
    """While the block runs, SIGINT is recorded in the :class:`Interrupts` it yields, then
    handled as before (Python's default: ``KeyboardInterrupt`` at once). The previous handler
    is restored afterwards. Nothing is installed outside the main thread (no handler can be
    set there) or where SIGINT is ignored (``SIG_IGN``: the caller chose so)."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        yield state
        return

    def handler(signum, frame):
        state.seen = True
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
