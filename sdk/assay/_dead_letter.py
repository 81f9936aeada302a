"""Batches the server called permanently bad, set aside where a person can read them.

A batch the server refuses whole (a final answer: a 4xx other than 408, 413 and 429, or a 5xx
the retry policy does not retry), or fails on again and again while it answers its readiness
probe (a 500 on that batch only), would otherwise block every batch behind it in the spool. It
is moved here instead: its body as it was sent (``<name>``: JSON, gzipped when it ends in
``.gz``) and why (``<name>.reason.json``: status, code, message, request id, when). The directory is
bounded; the oldest entries go first.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assay._batches import Batch
from assay._retries import OUTAGE_STATUSES, RETRY_STATUSES
from assay.errors import AssayError

__all__ = ["DeadLetters", "ServerFailures"]

_REASON = ".reason.json"


@dataclass(frozen=True)
class DeadLetters:
    """A bounded directory of set-aside batches (``directory``), oldest evicted first."""

    directory: Path
    max_bytes: int

    def put(self, batch: Batch, error: AssayError | None) -> Path | None:
        """Keep ``batch`` with why the server refused it; None when the disk refuses it."""
        reason = {
            "status": error.status if error is not None else None,
            "code": error.code if error is not None else None,
            "message": error.message if error is not None else "rejected",
            "request_id": error.request_id if error is not None else None,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._make_room(len(batch.body))
            path = self.directory / batch.name
            path.write_bytes(batch.body)
            note = {"kind": batch.kind, "rows": batch.rows, "at": time.time(), **reason}
            (self.directory / (batch.name + _REASON)).write_text(json.dumps(note, default=str))
        except OSError:
            return None
        return path

    def entries(self) -> list[Path]:
        """The set-aside batches, oldest first."""
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if not entry.name.endswith(_REASON)
            )
        except OSError:
            return []
        return [self.directory / name for name in names]

    def _make_room(self, size: int) -> None:
        entries = self.entries()
        sizes = {path: _size(path) for path in entries}
        total = sum(sizes.values())
        for path in entries:
            if total + size <= self.max_bytes:
                return
            for each in (path, path.with_name(path.name + _REASON)):
                with contextlib.suppress(OSError):
                    each.unlink()
            total -= sizes[path]


class ServerFailures:
    """How often the server failed (500) on each batch: tells a poisoned batch from an outage.

    A 502, 503, 504, 408 or 429 is an outage however often it repeats; a 500 is the batch's
    fault once the same batch got ``limit`` of them while the server answers its readiness
    probe. Used from the sender thread only.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def is_poison(
        self, batch: Batch, error: AssayError | None, *, limit: int, ready: Callable[[], bool]
    ) -> bool:
        """Count this failure of ``batch``; True when it makes the batch permanently bad."""
        status = error.status if error is not None else None
        if status not in RETRY_STATUSES or status in OUTAGE_STATUSES:
            return False
        if len(self._counts) > 1000:  # names of batches evicted from the spool
            self._counts.clear()
        failures = self._counts.get(batch.name, 0) + 1
        self._counts[batch.name] = failures
        return failures >= limit and ready()

    def forget(self, batch: Batch) -> None:
        """The server answered ``batch`` for good: stop counting its failures."""
        self._counts.pop(batch.name, None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
