"""Batches the server called permanently bad, set aside where a person can read them.

A batch the server refuses whole (a 4xx other than 408, 413 and 429), or fails on again and
again while it answers its readiness probe (a 500 on that batch only), would otherwise block
every batch behind it in the spool. It is moved here instead: its body as it was sent
(``<name>``, gzipped JSON for predictions) and why (``<name>.reason.json``: status, code,
message, request id, when). The directory is bounded; the oldest entries go first.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay._spool import Batch

__all__ = ["DeadLetters"]

_REASON = ".reason.json"


@dataclass(frozen=True)
class DeadLetters:
    """A bounded directory of set-aside batches (``directory``), oldest evicted first."""

    directory: Path
    max_bytes: int

    def put(self, batch: Batch, reason: dict[str, Any]) -> Path | None:
        """Keep ``batch`` with ``reason``; None when the disk refuses (never raises)."""
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
