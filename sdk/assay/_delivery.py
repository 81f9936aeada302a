"""The prediction logger's worker: memory queues → batches → the server, the spool behind.

The *batcher* thread cuts the queues into batches (by size, or every ``flush_interval``) and
hands each to the senders in memory, up to ``max_memory_mb`` of encoded batches waiting; only
past that bound, or while the server is failing, does a batch go to the spool: the healthy
path never touches the disk. ``senders`` threads post batches at once (one connection each);
a label batch waits for the prediction batches cut before it, so labels travel behind their
predictions. The first sender alone replays the spool, oldest first. A retryable answer
spools the batch and backs every sender off; a batch the server calls permanently bad is set
aside. Every time read and timed wait goes through the clock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from assay._batcher import Batcher, BatchSettings
from assay._batches import Batch, Label, Row
from assay._dead_letter import DeadLetters, ServerFailures
from assay._delivery_stats import StatsKeeper
from assay._ingest import IngestEndpoint
from assay._retries import Verdict, backoff_delay
from assay._spool import Spool
from assay._spooling import SpoolSide
from assay.clock import Clock
from assay.errors import AssayError

__all__ = ["DeliverySettings", "DeliveryWorker"]

_log = logging.getLogger("assay.logger")

#: Longest single wait of the sender, so that it looks at the spool now and then.
_IDLE_WAIT = 1.0
#: Longest single wait of flush() and close() between two looks at the work left.
_FLUSH_POLL = 0.05
#: Batches for disk that wait for a sender to write them; past it, the batcher writes.
_SPILL_BATCHES = 8


class DeliverySettings(BatchSettings, Protocol):
    """The tunables the worker reads from its logger each time it needs them."""

    initial_backoff: float
    max_backoff: float
    request_timeout: tuple[float, float]
    max_memory_mb: float
    senders: int
    poison_after: int


class DeliveryWorker(SpoolSide):
    """A logger's two threads — the batcher's and the sender — and what passes between them:
    batches handed over in memory, the batch in flight, the spooled names, the backoff."""

    settings: DeliverySettings

    def __init__(
        self,
        settings: DeliverySettings,
        *,
        endpoint: IngestEndpoint,
        spool: Spool,
        dead_letters: DeadLetters,
        stats: StatsKeeper,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.spool = spool
        self.dead_letters = dead_letters
        self.stats = stats
        self.clock = clock
        self.batcher = Batcher(
            settings,
            name=spool.new_name,
            dispatch=self._dispatch,
            stats=stats,
            clock=clock,
            server_on_this_host=endpoint.on_this_host,
            memory_filling=self._memory_filling,
        )
        # What log() and log_label() touch, at hand.
        self.queue: deque[Row] = self.batcher.queue
        self.labels: deque[Label] = self.batcher.labels
        self.wake: threading.Event = self.batcher.wake
        self.running = False
        self.closed = False
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._batcher_thread: threading.Thread | None = None
        self._sender_threads: list[threading.Thread] = []
        # Guarded by _cond: what moves between the threads, and the senders' backoff.
        self._cond = threading.Condition()
        self._handoff: deque[Batch] = deque()
        self._handoff_bytes = 0
        self._inflight: dict[int, Batch] = {}  # by sender
        # Batches the batcher sent to disk, for a sender to write: an fsync can take tens of
        # milliseconds, which the batcher, with rows arriving, does not have.
        self._spill: deque[Batch] = deque()
        self._writing = 0  # spill batches being written now
        self._own_spooled: set[str] = set()
        self._retry_at = 0.0
        self._failures = 0
        self._failures_by_batch = ServerFailures()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start both threads, once (and never after stop)."""
        if self.running or self.closed:
            return
        with self._start_lock:
            if self.running:
                return
            self._batcher_thread = self.batcher.thread()
            self._sender_threads = [
                threading.Thread(
                    target=self._run_sender,
                    args=(number,),
                    # the first sender (the spool's replayer) is "assay-logger-sender"
                    name="assay-logger-sender" + (f"-{number}" if number else ""),
                    daemon=True,
                )
                for number in range(max(1, self.settings.senders))
            ]
            self._batcher_thread.start()
            for thread in self._sender_threads:
                thread.start()
            self.running = True

    def stop(self) -> None:
        """Stop the threads and write what is still in memory to the spool."""
        self.closed = True
        self._stopping.set()
        self.batcher.stop()
        with self._cond:
            self._cond.notify_all()
        if self._batcher_thread is not None:
            self._batcher_thread.join(timeout=1.0)
        self._spool_leftovers()
        self.stats.report_drops()
        for thread in self._sender_threads:
            thread.join(timeout=0.5)
        self.spool.release_replay_lock()
        self.endpoint.close()

    def poke(self) -> None:
        """Cut a batch of whatever is queued now, and end a running backoff."""
        with self._cond:
            self._retry_at = 0.0
            self._cond.notify_all()
        self.batcher.flush()

    def wait_until(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Wait (on the clock) until ``done()``; its last value once ``timeout`` passed."""
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        while not done():
            remaining = _FLUSH_POLL if deadline is None else deadline - self.clock.monotonic()
            if remaining <= 0:
                return done()
            with self._cond:
                self.clock.wait(self._cond, min(remaining, _FLUSH_POLL))
        return True

    # -- what is left -------------------------------------------------------------------------

    def has_work(self) -> bool:
        """Anything queued, or any batch in the spool directory."""
        return bool(self.batcher.queued() or self._own_spooled or self.spool.pending())

    def in_memory_rows(self) -> int:
        """Rows in memory: queued, or cut into batches not yet sent or spooled."""
        with self._cond:
            handed = sum(batch.rows for batch in (*self._handoff, *self._spill))
        return self.batcher.queued() + handed

    def delivered(self) -> bool:
        """Nothing in memory and nothing in the spool directory, whichever process wrote it
        (so that a new process's flush() waits for what a killed one left)."""
        return self._in_memory_empty() and not self.spool.pending()

    def delivered_or_parked(self) -> bool:
        """Delivered, or everything is on disk while the sender backs off."""
        if self.delivered():
            return True
        return self._in_memory_empty() and self._retry_at > self.clock.monotonic()

    def _in_memory_empty(self) -> bool:
        batcher = self.batcher
        return not (
            batcher.queued()
            or batcher.busy
            or self._handoff
            or self._inflight
            or self._spill
            or self._writing
        )

    # -- between the threads ------------------------------------------------------------------

    def _dispatch(self, batch: Batch) -> None:
        """Hand a new batch to the senders, or spool it behind the batches already waiting."""
        bound = self.settings.max_memory_mb * 1024 * 1024
        with self._cond:
            if not self.closed:
                if (
                    not self._own_spooled
                    and not self._spill
                    and self._retry_at <= self.clock.monotonic()
                    and (not self._handoff or self._handoff_bytes + len(batch.body) <= bound)
                ):
                    self._hand_over(batch)
                    return
                if len(self._spill) < _SPILL_BATCHES:  # for disk: a sender writes it
                    self._spill.append(batch)
                    self._cond.notify_all()
                    return
        self._to_spool(batch)  # closed, or the senders' writes fall behind: write it here

    def _memory_filling(self) -> bool:
        """Whether the batches waiting for the senders hold more than half of their memory."""
        return self._handoff_bytes * 2 > self.settings.max_memory_mb * 1024 * 1024

    def _take(self, sender: int) -> Batch | None:
        """The next batch for ``sender`` (the caller holds ``_cond``): a label batch only once
        no prediction batch cut before it is still on its way."""
        if not self._handoff:
            return None
        head = self._handoff[0]
        if head.kind != "predictions" and any(
            each.kind == "predictions" for each in self._inflight.values()
        ):
            return None
        self._handoff.popleft()
        self._handoff_bytes -= len(head.body)
        self._inflight[sender] = head  # never out of flush()'s sight while moved
        return head

    def _run_sender(self, sender: int) -> None:
        while True:
            try:
                if not self._send_one(sender):
                    return
            except Exception:
                _log.exception("assay: the prediction logger's sender failed")
                self._back_off(None)

    def _send_one(self, sender: int) -> bool:
        """Deliver one batch, or wait for one; False when the worker has stopped."""
        with self._cond:
            if self._stopping.is_set():
                return False
            if self._spill:
                spill = self._spill.popleft()
                self._writing += 1
            else:
                spill = None
                delay = self._retry_at - self.clock.monotonic()
                batch = self._take(sender)
        if spill is not None:
            try:
                self._to_spool(spill)
            finally:
                with self._cond:
                    self._writing -= 1
                    self._cond.notify_all()
            return True
        if delay > 0:
            # Backing off: whatever arrives meanwhile goes to disk, in order; when the disk
            # refuses it, it stays in memory and the wait keeps that from spinning.
            if batch is not None:
                on_disk = self._to_spool(batch)
                self._done_with(sender)
                if on_disk:
                    return True
            with self._cond:
                if self._retry_at > self.clock.monotonic():
                    self.clock.wait(self._cond, min(delay, _IDLE_WAIT))
            return True
        if batch is None and sender == 0:  # one replayer keeps the spool's order
            batch = self._spool_head()
            if batch is not None:
                with self._cond:
                    self._inflight[sender] = batch
        if batch is None:
            with self._cond:
                if not self._stopping.is_set() and self._take_would_wait():
                    self.clock.wait(self._cond, _IDLE_WAIT)
            return True
        self._deliver(sender, batch)
        return True

    def _take_would_wait(self) -> bool:
        """Nothing this sender may take now (the caller holds ``_cond``)."""
        if self._spill:
            return False
        if not self._handoff:
            return True
        return self._handoff[0].kind != "predictions" and any(
            each.kind == "predictions" for each in self._inflight.values()
        )

    def _done_with(self, sender: int) -> None:
        with self._cond:
            self._inflight.pop(sender, None)
            self._cond.notify_all()

    def _deliver(self, sender: int, batch: Batch) -> None:
        try:
            answer = self.endpoint.post(batch, self.settings.request_timeout)
            outcome = answer.verdict
            if outcome is Verdict.RETRY and self._failures_by_batch.is_poison(
                batch,
                answer.error,
                limit=self.settings.poison_after,
                ready=lambda: self.endpoint.ready(self.settings.request_timeout),
            ):
                outcome = Verdict.FINAL
            if outcome is Verdict.RETRY:
                # back off first: the replayer must not find this batch in the spool before
                # the backoff is set, and send it again at once
                self._back_off(answer.retry_after, answer.error)
                if batch.path is None:
                    self._after_older_in_flight(sender, batch)
                    self._to_spool(batch)
                return
            self._failures_by_batch.forget(batch)
            if outcome is Verdict.DONE:
                self.stats.count_answer(batch, answer.body)
            elif answer.error is not None and answer.error.status == 413 and batch.rows > 1:
                self._split(batch)
            else:
                dead_letter = self._set_aside(batch, answer.error)
                self.stats.count_refused(batch, answer.error, dead_letter=dead_letter)
            if batch.path is not None:
                self.spool.remove(batch.path)
                with self._cond:
                    self._own_spooled.discard(batch.name)
            with self._cond:
                self._failures = 0
                self._cond.notify_all()
        finally:
            self._done_with(sender)

    def _after_older_in_flight(self, sender: int, batch: Batch) -> None:
        """Wait until no older batch is in another sender's hands: the spool keeps batches in
        the order they were cut, and drops the oldest first when full."""
        with self._cond:
            while not self._stopping.is_set() and any(
                other != sender and held.path is None and held.name < batch.name
                for other, held in self._inflight.items()
            ):
                # woken by _done_with; a real-time bound, not the clock's: the other sender's
                # request ends by its own timeout whatever a test's clock says
                self._cond.wait(0.1)

    def _back_off(self, retry_after: float | None, error: AssayError | None = None) -> None:
        settings = self.settings
        with self._cond:
            self._failures += 1
            if retry_after is None:
                delay = backoff_delay(
                    self._failures - 1, settings.initial_backoff, settings.max_backoff
                )
            else:
                delay = min(retry_after, settings.max_backoff)
            self._retry_at = self.clock.monotonic() + delay
            self._cond.notify_all()
        self.stats.add("retries", 1)
        if error is not None:
            self.stats.note_error(str(error))
            _log.info("assay: delivery failed (%s); retrying in %.1f s", error, delay)
