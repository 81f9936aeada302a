"""The prediction logger's worker, its disk side: the spool and the dead letters.

:class:`SpoolSide` is the part of :class:`~assay._delivery.DeliveryWorker` that writes
batches to disk — past the memory bound, while the server fails, at stop — replays them
oldest first, splits a batch the server finds too large, and sets aside a batch it calls
permanently bad. It shares the worker's state (declared here), guarded by ``_cond``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Protocol

from assay._batcher import Batcher
from assay._batches import Batch, split_batch
from assay._dead_letter import DeadLetters
from assay._delivery_stats import StatsKeeper
from assay._spool import Spool
from assay.errors import AssayError

__all__ = ["SpoolSide", "SpoolSideSettings"]

_log = logging.getLogger("assay.logger")


class SpoolSideSettings(Protocol):
    """What the disk side reads of the logger's tunables (see ``DeliverySettings``)."""

    batch_size: int
    max_batch_size: int
    max_queue: int


class SpoolSide:
    """Writing, replaying and splitting batches on disk, for :class:`DeliveryWorker`."""

    settings: SpoolSideSettings
    spool: Spool
    dead_letters: DeadLetters
    stats: StatsKeeper
    batcher: Batcher
    _cond: threading.Condition
    _handoff: deque[Batch]
    _handoff_bytes: int
    _spill: deque[Batch]
    _inflight: dict[int, Batch]
    _own_spooled: set[str]

    def _hand_over(self, batch: Batch) -> None:
        """Queue ``batch`` for the senders (the caller holds ``_cond``)."""
        self._handoff.append(batch)
        self._handoff_bytes += len(batch.body)
        self._cond.notify_all()

    def _to_spool(self, batch: Batch) -> bool:
        """Write ``batch`` to disk (True); when the disk refuses, keep it in memory (bounded).

        A batch larger than the whole spool is written in halves, so that a small spool keeps
        the newest rows rather than drop a large batch whole."""
        if len(batch.body) > self.spool.max_bytes and batch.rows > 1:
            written = True
            for body, rows in split_batch(batch.kind, batch.body):
                name = self.spool.new_name(batch.kind, rows, batch.gzipped)
                written = self._to_spool(Batch(batch.kind, name, body, rows)) and written
            return written
        try:
            dropped = self.spool.write(batch)
        except OSError as exc:
            self.stats.note_error(f"cannot write to the spool {self.spool.directory}: {exc}")
            with self._cond:
                self._hand_over(batch)
                overflow = sum(each.rows for each in self._handoff) - self.settings.max_queue
                while overflow > 0 and len(self._handoff) > 1:
                    oldest = self._handoff.popleft()
                    self._handoff_bytes -= len(oldest.body)
                    overflow -= oldest.rows
                    self.stats.dropped(oldest.rows)
            return False
        with self._cond:
            self._own_spooled.add(batch.name)
            self._cond.notify_all()
        self.stats.add("spooled", batch.rows)
        if dropped:
            self.stats.dropped(dropped)
        return True

    def _spool_leftovers(self) -> None:
        """At stop: put what is still in memory on disk, for a later process to deliver."""
        self.batcher.cut(force=True)
        with self._cond:
            leftovers = [*self._handoff, *self._spill]
            self._handoff.clear()
            self._spill.clear()
            self._handoff_bytes = 0
            inflight = [batch for batch in self._inflight.values() if batch.path is None]
        # maybe they arrive too: then they count as duplicates
        leftovers[:0] = sorted(inflight, key=lambda batch: batch.name)
        for batch in leftovers:
            try:
                dropped = self.spool.write(batch)
            except OSError:
                dropped = batch.rows
            else:
                self._own_spooled.add(batch.name)
                self.stats.add("spooled", batch.rows)
            if dropped:
                self.stats.dropped(dropped)

    # -- the sender thread --------------------------------------------------------------------

    def _spool_head(self) -> Batch | None:
        if not self.spool.acquire_replay_lock():
            self._forget_sent_spool_files()
            return None
        batch = self.spool.next_batch()
        if batch is not None:
            return batch
        self.spool.release_replay_lock()
        with self._cond:
            self._own_spooled.clear()
        return None

    def _forget_sent_spool_files(self) -> None:
        # Another process replays this directory: forget what it has sent of ours.
        with self._cond:
            names = list(self._own_spooled)
        gone = {name for name in names if not (self.spool.directory / name).exists()}
        with self._cond:
            self._own_spooled -= gone

    def _set_aside(self, batch: Batch, error: AssayError | None) -> str | None:
        """Keep a batch the server called permanently bad in the dead-letter directory."""
        path = self.dead_letters.put(batch, error)
        if path is None:
            self.stats.note_error(f"cannot write to {self.dead_letters.directory}; batch lost")
            return None
        self.stats.add("dead_lettered", 1)
        return str(path)

    def _split(self, batch: Batch) -> None:
        """413: the server takes fewer rows (or bytes) per batch; send halves, cut smaller."""
        fewer = max(1, batch.rows // 2)
        self.settings.batch_size = min(self.settings.batch_size, fewer)
        self.settings.max_batch_size = min(self.settings.max_batch_size, fewer)
        _log.warning(
            "assay: the server refused a batch of %d rows as too large; batch_size is now %d",
            batch.rows,
            self.settings.batch_size,
        )
        for body, rows in split_batch(batch.kind, batch.body):
            name = self.spool.new_name(batch.kind, rows, batch.gzipped)
            self._to_spool(Batch(batch.kind, name, body, rows))
