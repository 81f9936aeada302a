"""The prediction logger's batcher: the memory queues ``log()`` appends to, cut into encoded
batches — when a queue holds ``batch_size`` rows, on a flush, or every ``flush_interval`` —
each handed to the worker (:mod:`assay._delivery`), which sends or spools it."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from assay._batches import Batch, Label, Namer, Row, label_batch, prediction_batch, take
from assay._delivery_stats import DeliveryError, StatsKeeper
from assay.clock import Clock

__all__ = ["BatchSettings", "Batcher"]

_log = logging.getLogger("assay.logger")
_Item = TypeVar("_Item")


class BatchSettings(Protocol):
    """The tunables the batcher reads from its logger each time it needs them."""

    batch_size: int
    flush_interval: float
    max_queue: int


class Batcher:
    """The two memory queues (predictions, labels) and the loop that cuts them into batches."""

    def __init__(
        self,
        settings: BatchSettings,
        *,
        name: Namer,
        dispatch: Callable[[Batch], None],
        stats: StatsKeeper,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self._name = name
        self._dispatch = dispatch
        self._stats = stats
        self._clock = clock
        #: What log() and log_label() append to; bounded, the oldest dropped.
        self.queue: deque[Row] = deque(maxlen=settings.max_queue)
        self.labels: deque[Label] = deque(maxlen=settings.max_queue)
        #: Set by log() when a queue holds a full batch, by flush() and by stop().
        self.wake = threading.Event()
        #: True while rows taken from a queue are being encoded or held back: in neither place.
        self.busy = False
        self._flushes = 0
        self._stopping = threading.Event()

    def queued(self) -> int:
        """Rows waiting in the queues."""
        return len(self.queue) + len(self.labels)

    def flush(self) -> None:
        """Cut a batch of whatever is queued now, however few rows."""
        self._flushes += 1
        self.wake.set()

    def stop(self) -> None:
        """End :meth:`run` once the queues are cut."""
        self._stopping.set()
        self.wake.set()

    def thread(self) -> threading.Thread:
        """The thread that runs the batcher; a flush() from now on is one it honours."""
        return threading.Thread(
            target=self.run, args=(self._flushes,), name="assay-logger-batcher", daemon=True
        )

    def run(self, flushes_seen: int) -> None:
        """Wait for a full queue, a flush or the next interval; cut; until stopped."""
        next_cut = self._clock.monotonic() + self.settings.flush_interval
        while True:
            self._clock.wait(self.wake, next_cut - self._clock.monotonic())
            self.wake.clear()
            stopping = self._stopping.is_set()
            now = self._clock.monotonic()
            force = stopping or now >= next_cut or flushes_seen != self._flushes
            flushes_seen = self._flushes
            if now >= next_cut:
                next_cut = now + self.settings.flush_interval
            try:
                self.cut(force)
            except Exception:  # a bug here must not stop delivery for good
                _log.exception("assay: the prediction logger's batcher failed")
            if stopping and not (self.queue or self.labels):
                return

    def cut(self, force: bool) -> None:
        """Cut full batches (every queued row when ``force``) and dispatch them.

        Labels go after their predictions: the labels to send are taken first, then every
        prediction queued at that moment is cut and dispatched ahead of them. A label is
        logged after its prediction, so that prediction is in an earlier batch or in one cut
        now, never behind its label (the sender keeps the order: ``assay._delivery``).
        """
        size = self.settings.batch_size
        due = len(self.labels) if force else len(self.labels) // size * size
        self.busy = True
        try:
            labels = take(self.labels, due) if due else []
            self._cut(self.queue, self._encode_predictions, force or bool(labels))
            for start in range(0, len(labels), size):
                batch = self._encode_labels(labels[start : start + size])
                if batch is not None:
                    self._dispatch(batch)
        finally:
            self.busy = False

    def _cut(
        self, source: deque[_Item], encode: Callable[[list[_Item]], Batch | None], cut_all: bool
    ) -> None:
        while len(source) >= self.settings.batch_size or (cut_all and source):
            rows = take(source, self.settings.batch_size)
            batch = encode(rows) if rows else None
            if batch is not None:
                self._dispatch(batch)

    def _encode_predictions(self, rows: list[Row]) -> Batch | None:
        batch, bad = prediction_batch(rows, self._name)
        if bad:
            self._stats.add("rejected", len(bad))
            self._stats.report(
                DeliveryError("predictions", "rows not encodable", len(bad), errors=bad)
            )
        return batch

    def _encode_labels(self, labels: list[Label]) -> Batch | None:
        try:
            return label_batch(labels, self._name)
        except Exception as exc:
            self._stats.add("labels_rejected", len(labels))
            self._stats.report(DeliveryError("labels", f"labels not encodable: {exc}", len(labels)))
            return None
