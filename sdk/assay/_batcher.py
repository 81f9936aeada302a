"""The prediction logger's batcher: the memory queues ``log()`` appends to, cut into encoded
batches — when a queue holds a batch's rows, on a flush, or every ``flush_interval`` — each
handed to the worker (:mod:`assay._delivery`), which sends or spools it.

A batch holds ``batch_size`` rows while predictions arrive slowly, and what arrives in
:data:`BATCH_SECONDS` when they come faster, up to ``max_batch_size``: the server's cost per
request is paid once for thousands of rows, and a batch still leaves within a fraction of a
second of its first row. A batcher that falls behind (:data:`BEHIND`) sends its batches
uncompressed until it catches up; batches to a loopback server, uncompressed, are gzipped
while the ones waiting for the senders fill more than half of their memory.
"""

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

#: At a high rate, a batch holds the predictions of this many seconds.
BATCH_SECONDS = 0.2
#: How often (seconds) the arrival rate is measured again.
_RATE_WINDOW = 0.5
#: The batcher is behind when this share of ``max_queue`` waits: it stops gzipping batches
#: until it has caught up, rather than let the queue fill and drop rows.
BEHIND = 0.25


class BatchSettings(Protocol):
    """The tunables the batcher reads from its logger each time it needs them."""

    batch_size: int
    max_batch_size: int
    flush_interval: float
    max_queue: int
    compress: bool | None


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
        server_on_this_host: bool = False,
        memory_filling: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self._server_on_this_host = server_on_this_host
        self._memory_filling = memory_filling
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
        #: Rows per prediction batch now; log() wakes the batcher when the queue holds as many.
        self.cut_at = settings.batch_size
        self._rate_since = clock.monotonic()
        self._rate_queued = 0  # the queue's length when the rate window began
        self._rate_taken = 0  # rows taken from the queue since
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
                self._stats.report_drops()  # here, not in log(): on_error may take its time
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
        # A forced cut owes the rows queued when it began, not those logged meanwhile: chasing
        # those cut a batch of a few rows per spool write while the server was down.
        owed = len(source) if cut_all else 0
        while True:
            self._measure_rate()
            full = len(source) >= self.cut_at
            if not (full or (owed > 0 and source)):
                return
            rows = take(source, self.cut_at if full else owed)
            owed -= len(rows)
            self._rate_taken += len(rows)
            batch = encode(rows) if rows else None
            if batch is not None:
                self._dispatch(batch)

    def _measure_rate(self) -> None:
        """Every :data:`_RATE_WINDOW` s: size batches to the rate predictions arrive at."""
        now = self._clock.monotonic()
        elapsed = now - self._rate_since
        settings = self.settings
        ceiling = max(settings.batch_size, settings.max_batch_size)
        if elapsed >= _RATE_WINDOW:
            queued = len(self.queue)
            arrived = self._rate_taken + queued - self._rate_queued
            wanted = round(arrived / elapsed * BATCH_SECONDS)
            self.cut_at = max(settings.batch_size, min(wanted, ceiling))
            self._rate_since, self._rate_queued, self._rate_taken = now, queued, 0
        elif self.cut_at > ceiling:  # a 413 made batches smaller
            self.cut_at = ceiling

    def _encode_predictions(self, rows: list[Row]) -> Batch | None:
        compress = self.settings.compress
        if compress is None:  # gzip on loopback costs the CPU the server needs and saves nothing
            # ... unless batches pile up in memory: gzipped, twice the rows wait there before
            # any goes to disk (where one sender alone replays them)
            compress = not self._server_on_this_host or self._memory_filling()
        if len(self.queue) > self.settings.max_queue * BEHIND:
            compress = False  # behind: gzip is most of the encoding's cost; rows come first
        batch, bad = prediction_batch(rows, self._name, compress=compress)
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
