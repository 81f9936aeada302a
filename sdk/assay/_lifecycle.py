"""Process hooks of the prediction loggers: each live logger is closed at exit (a bounded
flush, the rest spooled) and reset in a child after ``fork()``.

Registered once, on the first logger; loggers are held weakly, so a logger nobody references
any more is not kept alive for ``atexit``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import weakref
from typing import Protocol

from assay._batches import reseed_prediction_ids

__all__ = ["forget", "watch"]


class Watched(Protocol):
    """What the hooks call on a logger."""

    def close(self, timeout: float | None = None) -> bool:
        """Flush for a bounded time, spool the rest, stop."""
        ...

    def _after_fork_in_child(self) -> None:
        """Start over, empty, in a forked child."""
        ...


_live: weakref.WeakSet[Watched] = weakref.WeakSet()
_registered = False


def watch(logger: Watched) -> None:
    """Close ``logger`` at exit and reset it after a fork, until :func:`forget`."""
    global _registered
    _live.add(logger)
    if _registered:
        return
    _registered = True
    atexit.register(_close_all_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_all_after_fork)


def forget(logger: Watched) -> None:
    """Stop watching ``logger`` (it is closed)."""
    _live.discard(logger)


def _close_all_at_exit() -> None:
    for logger in list(_live):
        with contextlib.suppress(Exception):
            logger.close()


def _reset_all_after_fork() -> None:
    reseed_prediction_ids()
    for logger in list(_live):
        with contextlib.suppress(Exception):
            logger._after_fork_in_child()
