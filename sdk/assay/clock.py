"""The prediction logger's clock: what time it is, and every timed wait.

The logger reads time and waits only through a :class:`Clock`, so that a test can hand it a
clock that moves only when told to, and prove a 30 s backoff or a 60 s flush interval without
waiting for either. Production code never needs to pass one: :class:`SystemClock` is the
default.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Waitable"]


class Waitable(Protocol):
    """A ``threading.Event`` or ``threading.Condition`` (whose lock the caller holds)."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until notified or until ``timeout`` seconds pass."""
        ...


class Clock(Protocol):
    """Monotonic time for intervals, wall time for timestamps, and timed waits.

    ``wait`` may return early (as a condition variable may wake spuriously): every caller
    checks the time again and waits once more if it has to.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines and intervals."""
        ...

    def time(self) -> float:
        """Epoch seconds, for the timestamp of a prediction logged without one."""
        ...

    def wait(self, waitable: Waitable, timeout: float) -> None:
        """Wait on ``waitable`` for at most ``timeout`` seconds of this clock."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and the waitable's own timed wait."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def wait(self, waitable: Waitable, timeout: float) -> None:
        """``waitable.wait(timeout)``."""
        waitable.wait(max(0.0, timeout))

    def __repr__(self) -> str:
        return "SystemClock()"
