"""Prediction logging from serving code: ``log()`` enqueues, background threads deliver.

The promise: :meth:`PredictionLogger.log` costs microseconds, never raises and never blocks;
every prediction it accepted reaches the server once, across server outages and restarts of
the serving process, unless memory *and* the disk spool are both full (then the oldest are
dropped and counted).

How (after sentry-python's ``BackgroundWorker``, plus the disk spool it lacks):

- ``log()`` appends a tuple to a bounded ``deque`` and returns the prediction id.
- A *batcher* thread cuts the queue into batches (by size or every ``flush_interval``), encodes
  each one column-wise (feature names once) as gzipped JSON, and hands it to the sender, or
  writes it to the spool (:mod:`assay._spool`) when the sender is busy or the server failing.
- A *sender* thread posts batches; on a connection error, a timeout, 408, 429 or 5xx it
  spools the batch and backs off (exponential with jitter, ``Retry-After`` honoured), then
  replays the spool oldest first. Other 4xx answers are final: the rows count as rejected.
- A batch the server calls permanently bad never blocks the batches behind it: refused whole
  (a final 4xx), or failing with a 500 ``poison_after`` times while the server's readiness
  probe answers, it is counted as rejected and set aside in ``dead_letter_dir``
  (:mod:`assay._dead_letter`) for a person to read.
- Threads start lazily, and again in a child after ``fork()``; ``atexit`` closes every logger
  with a bounded wait, spooling what could not be sent.

The server is idempotent on ``(model version, prediction_id)``, so re-sending a batch that had
arrived (a timeout after the server stored it, a replay after a crash) only counts duplicates.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from assay._dead_letter import DeadLetters
from assay._http import Transport, _error_from, _network_error, retry_after_seconds
from assay._spool import (
    Batch,
    Row,
    Spool,
    default_spool_root,
    encode_labels,
    encode_predictions,
    prediction_ids,
    split_batch,
)
from assay.errors import AssayError, ConfigurationError
from assay.types import Model, ModelVersion

__all__ = [
    "DeliveryError",
    "PredictionLogger",
    "PredictionMethods",
    "init",
    "log_label",
    "log_prediction",
]

_log = logging.getLogger("assay.logger")

#: The server refuses batches of more rows than this (its ASSAY_MAX_BATCH_ROWS default).
MAX_BATCH_ROWS = 10_000
DROP_WARNING_INTERVAL = 60.0
_RETRY_STATUSES = frozenset({408, 429})
# A proxy or the server saying it is down or overloaded: the batch is not to blame.
_OUTAGE_STATUSES = frozenset({502, 503, 504})
MIN_DEAD_LETTER_BYTES = 1024 * 1024
# Prediction batches go gzipped; the labels endpoint takes plain JSON.
_HEADERS = {
    "predictions": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    "labels": {"Content-Type": "application/json"},
}


@dataclass(frozen=True)
class DeliveryError:
    """Rows the server refused (or a batch it refused whole), as kept in ``stats["errors"]``.

    ``errors`` lists the row-level problems: ``{"index", "prediction_id", "field", "message"}``
    for predictions, ``{"prediction_id", "message"}`` for labels naming unknown predictions.
    """

    kind: str
    message: str
    rejected: int
    status: int | None = None
    code: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Where the refused batch was set aside (None for row-level refusals).
    dead_letter: str | None = None


class PredictionLogger:
    """Logs predictions and ground truth of one model version from serving code.

    Make one with :meth:`assay.Client.prediction_logger`, share it between threads, call
    :meth:`log` on the hot path. See ``docs/prediction-logging.md``.
    """

    #: Backoff after a failed send: doubling from ``initial_backoff`` up to ``max_backoff`` s.
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    #: (connect, read) timeout of each request to the server.
    request_timeout: tuple[float, float] = (5.0, 30.0)
    #: How long ``close()`` (and so ``atexit``) waits for delivery before spooling the rest.
    exit_timeout: float = 5.0
    #: Batches handed straight to the sender before further ones go through the spool.
    handoff_batches: int = 2
    #: How many recent DeliveryErrors ``stats["errors"]`` keeps.
    kept_errors: int = 20
    #: A batch answered with a server error (500) this many times while the server reports
    #: itself ready is set aside as permanently bad, so it cannot block later batches.
    poison_after: int = 3

    def __init__(
        self,
        transport: Transport,
        model: str | Model,
        version: int | ModelVersion,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        spool_dir: str | os.PathLike[str] | None = None,
        max_queue: int = 100_000,
        max_spool_mb: float = 256,
        on_error: Callable[[DeliveryError], Any] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_ROWS:
            raise ConfigurationError(f"batch_size must be between 1 and {MAX_BATCH_ROWS}")
        if flush_interval <= 0 or max_queue < 1 or max_spool_mb <= 0:
            raise ConfigurationError("flush_interval, max_queue and max_spool_mb must be > 0")
        self.model = model.name if isinstance(model, Model) else str(model)
        self.version = int(version.version if isinstance(version, ModelVersion) else version)
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.max_queue = max_queue
        self.on_error = on_error
        self._base_url = transport.base_url
        self._headers = dict(transport.session.headers)
        model_path = "/models/" + quote(self.model, safe="")
        self._paths = {
            "predictions": f"{model_path}/versions/{self.version}/predictions",
            "labels": f"{model_path}/labels",
        }
        root = Path(spool_dir) if spool_dir is not None else default_spool_root()
        self.spool_dir = root / f"{quote(self.model, safe='')}-{self.version}"
        self._spool = Spool(self.spool_dir, int(max_spool_mb * 1024 * 1024))
        #: Batches the server called permanently bad (see :mod:`assay._dead_letter`).
        self.dead_letter_dir = self.spool_dir / "dead-letter"
        self._dead_letters = DeadLetters(
            self.dead_letter_dir, max(MIN_DEAD_LETTER_BYTES, self._spool.max_bytes // 4)
        )
        self._closed = False
        self._reset_state()
        _live_loggers.add(self)
        _register_process_hooks()
        if self._spool.pending():
            self._ensure_started()  # a previous process left batches behind: deliver them

    # -- state, threads, fork -----------------------------------------------------------------

    def _reset_state(self) -> None:
        """Fresh queues, locks and counters: at creation, and in a child after ``fork()``."""
        self._queue: deque[Row] = deque(maxlen=self.max_queue)
        self._labels: deque[tuple[str, Any]] = deque(maxlen=self.max_queue)
        self._cond = threading.Condition()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._wake_batcher = threading.Event()
        self._stopping = threading.Event()
        self._batcher: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        self._session: requests.Session | None = None
        self._handoff: deque[Batch] = deque()
        self._inflight: Batch | None = None
        self._batching = False
        self._own_spooled: set[str] = set()
        self._retry_at = 0.0
        self._failures = 0
        self._server_errors: dict[str, int] = {}  # 500s per batch name
        self._flush_generation = 0
        self._last_drop_warning = -math.inf
        self._counts = dict.fromkeys(
            (
                "sent",
                "duplicates",
                "rejected",
                "spooled",
                "dropped",
                "retries",
                "batches_sent",
                "labels_sent",
                "labels_unknown",
                "labels_rejected",
                "dead_lettered",
            ),
            0,
        )
        self._errors: deque[DeliveryError] = deque(maxlen=self.kept_errors)
        self._last_error: str | None = None

    def _after_fork_in_child(self) -> None:
        # The parent keeps its queue and its spooled batches; the child starts empty and
        # lazily starts its own threads (locks may have been held by the parent's threads).
        self._spool.forget_lock_after_fork()
        self._reset_state()

    def _ensure_started(self) -> None:
        if self._sender is not None or self._closed:
            return
        with self._start_lock:
            if self._sender is not None:
                return
            batcher = threading.Thread(
                target=self._run_batcher, name="assay-logger-batcher", daemon=True
            )
            sender = threading.Thread(
                target=self._run_sender, name="assay-logger-sender", daemon=True
            )
            batcher.start()
            sender.start()
            self._batcher = batcher
            self._sender = sender

    # -- the hot path -------------------------------------------------------------------------

    def log(
        self,
        features: Mapping[str, Any],
        prediction: Any,
        *,
        score: float | None = None,
        probabilities: Mapping[str, float] | None = None,
        sensitive: Mapping[str, Any] | None = None,
        label: Any = None,
        prediction_id: str | None = None,
        timestamp: float | datetime | None = None,
    ) -> str:
        """Queue one prediction for delivery and return its id; never raises, never blocks.

        Args:
            features: the model's inputs, ``{feature name: value}`` (copied here).
            prediction: what the model answered.
            score: the positive class's score (binary classification).
            probabilities: ``{class: probability}``.
            sensitive: attributes for fairness checks, e.g. ``{"sex": "F"}``.
            label: the ground truth, when already known (else see :meth:`log_label`).
            prediction_id: your id for this prediction (a uuid4 hex when not given); logging
                the same id twice stores it once.
            timestamp: epoch seconds or a datetime (naive means UTC); defaults to now.
        """
        if prediction_id is None:
            prediction_id = _new_prediction_id()
        try:
            if self._sender is None:
                self._ensure_started()
            if type(prediction_id) is not str:
                prediction_id = str(prediction_id)
            queue = self._queue
            if len(queue) >= self.max_queue or self._closed:
                self._note_dropped(1)
                if self._closed:
                    return prediction_id
            queue.append(
                (
                    prediction_id,
                    time.time() if timestamp is None else timestamp,
                    dict(features),
                    prediction,
                    score,
                    probabilities,
                    sensitive,
                    label,
                )
            )
            if len(queue) >= self.batch_size and not self._wake_batcher.is_set():
                self._wake_batcher.set()
        except Exception:  # the promise: log() never raises into serving code
            with contextlib.suppress(Exception):
                self._note_dropped(1)
                _log.debug("a prediction could not be queued", exc_info=True)
        return prediction_id

    def log_label(self, prediction_id: str, label: Any) -> None:
        """Queue the ground truth of an earlier prediction; never raises, never blocks."""
        try:
            if self._sender is None:
                self._ensure_started()
            labels = self._labels
            if len(labels) >= self.max_queue or self._closed:
                self._note_dropped(1)
                if self._closed:
                    return
            labels.append((str(prediction_id), label))
            if len(labels) >= self.batch_size and not self._wake_batcher.is_set():
                self._wake_batcher.set()
        except Exception:
            with contextlib.suppress(Exception):
                self._note_dropped(1)

    def log_labels(self, labels: Mapping[str, Any]) -> None:
        """Queue many labels at once: ``{prediction_id: label}``; never raises."""
        try:
            items = list(labels.items())
        except Exception:
            _log.warning("log_labels() takes a mapping of prediction id to label")
            return
        for prediction_id, label in items:
            self.log_label(prediction_id, label)

    def _note_dropped(self, rows: int) -> None:
        with self._stats_lock:
            self._counts["dropped"] += rows
            now = time.monotonic()
            if now - self._last_drop_warning < DROP_WARNING_INTERVAL:
                return
            self._last_drop_warning = now
            total = self._counts["dropped"]
        _log.warning(
            "assay: the prediction logger of %s v%s has dropped %d rows (memory queue and "
            "disk spool full, logger closed, or features not a mapping); see stats['dropped']",
            self.model,
            self.version,
            total,
        )

    # -- flush, close, stats ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True once it is all answered, False on timeout.

        "Everything" includes the spool directory, whichever process wrote to it. A flush
        also cuts short a running backoff: the sender tries the server at once. After
        ``close()`` it only reports whether everything was delivered.
        """
        if self._closed:
            return self._delivered()
        if self._has_work():
            self._ensure_started()
        self._poke()
        return self._wait_until(self._delivered, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` seconds (default :attr:`exit_timeout`), then stop.

        What is still in memory then is written to the spool for a later process to deliver;
        returns True when everything was delivered. Later ``log()`` calls are dropped.
        """
        if self._closed:
            return self._delivered()
        wait = self.exit_timeout if timeout is None else timeout
        if self._has_work():
            self._ensure_started()
        self._poke()
        # Stop early when the server is failing and everything is safe on disk.
        delivered = self._wait_until(self._delivered_or_parked, wait) and self._delivered()
        self._closed = True
        self._stopping.set()
        self._wake_batcher.set()
        with self._cond:
            self._cond.notify_all()
        if self._batcher is not None:
            self._batcher.join(timeout=1.0)
        self._spool_leftovers()
        if self._sender is not None:
            self._sender.join(timeout=0.5)
        self._spool.release_replay_lock()
        if self._session is not None:
            self._session.close()
        _live_loggers.discard(self)
        return delivered

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters (rows): ``sent`` (stored), ``duplicates``, ``rejected``, ``spooled``,
        ``dropped``, ``retries`` (failed attempts), ``labels_sent``, ``labels_unknown``,
        ``dead_lettered`` (batches set aside in ``dead_letter_dir``);
        and the state: ``queued`` rows in memory, ``spool_batches``/``spool_bytes`` on disk,
        ``last_error`` and the recent ``errors`` (DeliveryError)."""
        with self._stats_lock:
            snapshot: dict[str, Any] = dict(self._counts)
            snapshot["errors"] = list(self._errors)
            snapshot["last_error"] = self._last_error
        with self._cond:
            in_memory = sum(batch.rows for batch in self._handoff)
        snapshot["queued"] = len(self._queue) + len(self._labels) + in_memory
        pending = self._spool.pending()
        snapshot["spool_batches"] = len(pending)
        snapshot["spool_bytes"] = sum(size for _, size in pending)
        return snapshot

    def __repr__(self) -> str:
        return f"PredictionLogger(model={self.model!r}, version={self.version})"

    def _has_work(self) -> bool:
        return bool(self._queue or self._labels or self._own_spooled or self._spool.pending())

    def _poke(self) -> None:
        with self._cond:
            self._flush_generation += 1
            self._retry_at = 0.0
            self._cond.notify_all()
        self._wake_batcher.set()

    def _wait_until(self, done: Callable[[], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            remaining = 0.05 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return done()
            with self._cond:
                self._cond.wait(min(remaining, 0.05))
        return True

    def _in_memory_empty(self) -> bool:
        return not (
            self._queue or self._labels or self._batching or self._handoff or self._inflight
        )

    def _delivered(self) -> bool:
        # Delivered means nothing in memory and nothing in the spool directory, whichever
        # process wrote it: a new process's flush() waits for what a killed one left.
        return self._in_memory_empty() and not self._spool.pending()

    def _delivered_or_parked(self) -> bool:
        if self._delivered():
            return True
        return self._in_memory_empty() and self._retry_at > time.monotonic()

    def _forget_sent_spool_files(self) -> None:
        if self._own_spooled:
            with self._cond:
                names = list(self._own_spooled)
            gone = {n for n in names if not (self.spool_dir / n).exists()}
            with self._cond:
                self._own_spooled -= gone

    # -- the batcher thread -------------------------------------------------------------------

    def _run_batcher(self) -> None:
        next_cut = time.monotonic() + self.flush_interval
        seen_generation = -1
        while True:
            self._wake_batcher.wait(max(0.0, next_cut - time.monotonic()))
            self._wake_batcher.clear()
            stopping = self._stopping.is_set()
            now = time.monotonic()
            force = stopping or now >= next_cut or seen_generation != self._flush_generation
            seen_generation = self._flush_generation
            if now >= next_cut:
                next_cut = now + self.flush_interval
            try:
                self._cut_batches(force)
            except Exception:  # a bug here must not stop delivery for good
                _log.exception("assay: the prediction logger's batcher failed")
            if stopping and not (self._queue or self._labels):
                return

    def _cut_batches(self, force: bool) -> None:
        # Labels go after every prediction queued before them, so that they find it stored.
        labels_due = len(self._labels) >= self.batch_size or (force and bool(self._labels))
        for source, encode, cut_all in (
            (self._queue, self._encode, force or labels_due),
            (self._labels, self._encode_labels, force),
        ):
            while len(source) >= self.batch_size or (cut_all and source):
                self._batching = True
                try:
                    rows = _take(source, self.batch_size)
                    if rows:
                        self._dispatch(encode(rows))
                finally:
                    self._batching = False

    def _encode(self, rows: list[Row]) -> Batch | None:
        body, count, bad = encode_predictions(rows)
        if bad:
            with self._stats_lock:
                self._counts["rejected"] += len(bad)
            self._report(DeliveryError("predictions", "rows not encodable", len(bad), errors=bad))
        if body is None:
            return None
        return Batch("predictions", self._spool.new_name("predictions", count), body, count)

    def _encode_labels(self, labels: list[tuple[str, Any]]) -> Batch | None:
        try:
            body = encode_labels(labels)
        except Exception as exc:
            with self._stats_lock:
                self._counts["labels_rejected"] += len(labels)
            self._report(DeliveryError("labels", f"labels not encodable: {exc}", len(labels)))
            return None
        return Batch("labels", self._spool.new_name("labels", len(labels)), body, len(labels))

    def _dispatch(self, batch: Batch | None) -> None:
        if batch is None:
            return
        with self._cond:
            direct = (
                not self._closed
                and not self._own_spooled
                and self._retry_at <= time.monotonic()
                and len(self._handoff) < self.handoff_batches
            )
            if direct:
                self._handoff.append(batch)
                self._cond.notify_all()
                return
        self._to_spool(batch)

    def _to_spool(self, batch: Batch) -> bool:
        """Write ``batch`` to disk (True); when the disk refuses, keep it in memory (bounded)."""
        try:
            dropped = self._spool.write(batch)
        except OSError as exc:
            self._record_error(f"cannot write to the spool {self.spool_dir}: {exc}")
            with self._cond:
                self._handoff.append(batch)
                overflow = sum(each.rows for each in self._handoff) - self.max_queue
                while overflow > 0 and len(self._handoff) > 1:
                    oldest = self._handoff.popleft()
                    overflow -= oldest.rows
                    self._note_dropped(oldest.rows)
                self._cond.notify_all()
            return False
        with self._cond:
            self._own_spooled.add(batch.name)
            self._cond.notify_all()
        with self._stats_lock:
            self._counts["spooled"] += batch.rows
        if dropped:
            self._note_dropped(dropped)
        return True

    # -- the sender thread --------------------------------------------------------------------

    def _run_sender(self) -> None:
        while True:
            try:
                if not self._send_one():
                    return
            except Exception:
                _log.exception("assay: the prediction logger's sender failed")
                self._back_off(None)

    def _send_one(self) -> bool:
        """Deliver one batch, or wait for one; False when the logger has stopped."""
        with self._cond:
            if self._stopping.is_set():
                return False
            delay = self._retry_at - time.monotonic()
            batch = self._handoff.popleft() if self._handoff else None
            self._inflight = batch  # never out of flush()'s sight while moved
        if delay > 0:
            # Backing off: whatever arrives meanwhile goes to disk, in order; when the disk
            # refuses it, it stays in memory and the wait keeps that from spinning.
            if batch is not None:
                on_disk = self._to_spool(batch)
                self._inflight = None
                if on_disk:
                    return True
            with self._cond:
                if self._retry_at > time.monotonic():
                    self._cond.wait(min(delay, 1.0))
            return True
        if batch is None:
            batch = self._spool_head()
        if batch is None:
            with self._cond:
                if not self._handoff and not self._stopping.is_set():
                    self._cond.wait(1.0)
            return True
        self._deliver(batch)
        return True

    def _spool_head(self) -> Batch | None:
        if not self._spool.acquire_replay_lock():
            self._forget_sent_spool_files()
            return None
        batch = self._spool.next_batch()
        if batch is not None:
            return batch
        self._spool.release_replay_lock()
        with self._cond:
            self._own_spooled.clear()
        return None

    def _deliver(self, batch: Batch) -> None:
        self._inflight = batch
        try:
            outcome, answer, error = self._post(batch)
            if outcome == "retry" and self._is_poison(batch, error):
                outcome = "fatal"
            if outcome == "retry":
                if batch.path is None:
                    self._to_spool(batch)
                self._back_off(answer, error)
                return
            self._inflight = None
            self._server_errors.pop(batch.name, None)
            if outcome == "ok":
                self._account(batch, answer)
            elif error is not None and error.status == 413 and batch.rows > 1:
                self._split(batch)
            else:
                self._reject(batch, error, dead_letter=self._set_aside(batch, error))
            if batch.path is not None:
                self._spool.remove(batch.path)
                with self._cond:
                    self._own_spooled.discard(batch.name)
            with self._cond:
                self._failures = 0
                self._cond.notify_all()
        finally:
            self._inflight = None

    def _is_poison(self, batch: Batch, error: AssayError | None) -> bool:
        """Whether a server error is this batch's fault: the server failed on it (500, not a
        gateway's 502/503/504) ``poison_after`` times, and answers its readiness probe."""
        status = getattr(error, "status", None)
        if status is None or status < 500 or status in _OUTAGE_STATUSES:
            return False
        if len(self._server_errors) > 1000:  # names of batches evicted from the spool
            self._server_errors.clear()
        failures = self._server_errors.get(batch.name, 0) + 1
        self._server_errors[batch.name] = failures
        return failures >= self.poison_after and self._server_is_ready()

    def _server_is_ready(self) -> bool:
        if self._session is None:  # made by the _post() that failed
            return False
        try:
            response = self._session.get(self._base_url + "/ready", timeout=self.request_timeout)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def _set_aside(self, batch: Batch, error: AssayError | None) -> str | None:
        """Keep a batch the server called permanently bad in the dead-letter directory."""
        reason = {
            "status": getattr(error, "status", None),
            "code": getattr(error, "code", None),
            "message": getattr(error, "message", None) or str(error),
            "request_id": getattr(error, "request_id", None),
        }
        path = self._dead_letters.put(batch, reason)
        if path is None:
            self._record_error(f"cannot write to {self.dead_letter_dir}; the batch is lost")
            return None
        with self._stats_lock:
            self._counts["dead_lettered"] += 1
        return str(path)

    def _split(self, batch: Batch) -> None:
        """413: the server takes fewer rows (or bytes) per batch; send halves, cut smaller."""
        self.batch_size = max(1, min(self.batch_size, batch.rows // 2))
        _log.warning(
            "assay: the server refused a batch of %d rows as too large; batch_size is now %d",
            batch.rows,
            self.batch_size,
        )
        for body, rows in split_batch(batch.kind, batch.body):
            self._to_spool(Batch(batch.kind, self._spool.new_name(batch.kind, rows), body, rows))

    def _post(self, batch: Batch) -> tuple[str, Any, AssayError | None]:
        """Send one batch: ("ok", body, None), ("retry", retry_after, error), ("fatal", …)."""
        if self._session is None:
            self._session = requests.Session()
            self._session.headers.update(self._headers)
        url = self._base_url + self._paths[batch.kind]
        try:
            response = self._session.post(
                url,
                data=batch.body,
                headers=_HEADERS[batch.kind],
                timeout=self.request_timeout,
            )
        except requests.RequestException as exc:
            return "retry", None, _network_error(exc, "POST", url)
        status = response.status_code
        if status in _RETRY_STATUSES or status >= 500:
            return "retry", retry_after_seconds(response), _error_from(response)
        if status >= 400:
            return "fatal", None, _error_from(response)
        try:
            return "ok", response.json(), None
        except ValueError:
            return "retry", None, AssayError(f"POST {url}: the answer is not JSON", status=status)

    def _back_off(self, retry_after: float | None, error: AssayError | None = None) -> None:
        with self._cond:
            self._failures += 1
            if retry_after is None:
                delay = min(self.initial_backoff * 2.0 ** (self._failures - 1), self.max_backoff)
                delay *= 1.0 - 0.25 * random.random()
            else:
                delay = min(retry_after, self.max_backoff)
            self._retry_at = time.monotonic() + delay
            self._cond.notify_all()
        with self._stats_lock:
            self._counts["retries"] += 1
        if error is not None:
            self._record_error(str(error))
            _log.info("assay: delivery failed (%s); retrying in %.1f s", error, delay)

    def _account(self, batch: Batch, answer: Any) -> None:
        answer = answer if isinstance(answer, Mapping) else {}
        if batch.kind == "labels":
            unknown = int(answer.get("unknown") or 0)
            with self._stats_lock:
                self._counts["labels_sent"] += int(answer.get("updated") or 0)
                self._counts["labels_unknown"] += unknown
            if unknown:
                ids = answer.get("unknown_ids") or []
                self._report(
                    DeliveryError(
                        "labels",
                        f"{unknown} labels name predictions the server does not know",
                        unknown,
                        errors=[{"prediction_id": i, "message": "unknown"} for i in ids],
                    )
                )
            return
        rejected = int(answer.get("rejected") or 0)
        with self._stats_lock:
            self._counts["sent"] += int(answer.get("accepted") or 0)
            self._counts["duplicates"] += int(answer.get("duplicates") or 0)
            self._counts["rejected"] += rejected
            self._counts["batches_sent"] += 1
        if rejected:
            errors = [dict(each) for each in answer.get("errors") or [] if isinstance(each, dict)]
            ids = prediction_ids(batch.body)
            for each in errors:
                index = each.get("index")
                if isinstance(index, int) and 0 <= index < len(ids):
                    each["prediction_id"] = ids[index]
            self._report(
                DeliveryError(
                    "predictions", f"the server rejected {rejected} rows", rejected, errors=errors
                )
            )

    def _reject(
        self, batch: Batch, error: AssayError | None, *, dead_letter: str | None = None
    ) -> None:
        key = "labels_rejected" if batch.kind == "labels" else "rejected"
        with self._stats_lock:
            self._counts[key] += batch.rows
        message = str(error) if error is not None else "rejected"
        errors: list[dict[str, Any]] = []
        if error is not None and isinstance(error.details.get("errors"), list):
            errors = [dict(e) for e in error.details["errors"] if isinstance(e, dict)]
        self._report(
            DeliveryError(
                batch.kind,
                message,
                batch.rows,
                status=getattr(error, "status", None),
                code=getattr(error, "code", None),
                request_id=getattr(error, "request_id", None),
                errors=errors,
                dead_letter=dead_letter,
            )
        )

    def _report(self, error: DeliveryError) -> None:
        with self._stats_lock:
            self._errors.append(error)
            self._last_error = error.message
        _log.warning("assay: %s (%s v%s)", error.message, self.model, self.version)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                _log.exception("assay: the prediction logger's on_error callback failed")

    def _record_error(self, message: str) -> None:
        with self._stats_lock:
            self._last_error = message

    def _spool_leftovers(self) -> None:
        """At close: put what is still in memory on disk, for a later process to deliver."""
        self._cut_batches(force=True)
        with self._cond:
            leftovers = list(self._handoff)
            self._handoff.clear()
            inflight = self._inflight
        if inflight is not None and inflight.path is None:
            leftovers.insert(0, inflight)  # maybe it arrives too: then it counts as duplicates
        for batch in leftovers:
            try:
                dropped = self._spool.write(batch)
            except OSError:
                dropped = batch.rows
            else:
                self._own_spooled.add(batch.name)
                with self._stats_lock:
                    self._counts["spooled"] += batch.rows
            if dropped:
                self._note_dropped(dropped)


def _take(source: deque[Any], limit: int) -> list[Any]:
    rows = []
    with contextlib.suppress(IndexError):
        for _ in range(min(limit, len(source))):
            rows.append(source.popleft())
    return rows


# -- prediction ids ---------------------------------------------------------------------------

# uuid.uuid4() reads os.urandom, a system call that releases the GIL: with many serving
# threads, getting it back is what made log()'s p99. A generator seeded from os.urandom (and
# reseeded in a forked child) makes the same 122 random bits in the uuid4 layout, in C, at once.
_id_random = random.Random(os.urandom(32))
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _new_prediction_id() -> str:
    """A random uuid4, as 32 hex digits."""
    return "%032x" % (_id_random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)


# -- process hooks: fork and exit -------------------------------------------------------------

_live_loggers: weakref.WeakSet[PredictionLogger] = weakref.WeakSet()
_hooks_registered = False


def _register_process_hooks() -> None:
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    atexit.register(_close_all_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_all_after_fork)


def _close_all_at_exit() -> None:
    for logger in list(_live_loggers):
        with contextlib.suppress(Exception):
            logger.close()


def _reset_all_after_fork() -> None:
    _id_random.seed(os.urandom(32))
    for logger in list(_live_loggers):
        with contextlib.suppress(Exception):
            logger._after_fork_in_child()


# -- the client mixin -------------------------------------------------------------------------


class PredictionMethods:
    """The client's prediction-logging calls (mixed into :class:`assay.Client`)."""

    _transport: Transport

    def prediction_logger(
        self,
        model: str | Model,
        version: int | ModelVersion,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        spool_dir: str | os.PathLike[str] | None = None,
        max_queue: int = 100_000,
        max_spool_mb: float = 256,
        on_error: Callable[[DeliveryError], Any] | None = None,
    ) -> PredictionLogger:
        """A :class:`PredictionLogger` for one model version (contributor token).

        Args:
            model: the model's name (or a Model).
            version: the version number (or a ModelVersion).
            batch_size: rows per request (at most 10,000).
            flush_interval: seconds after which a partial batch is sent anyway.
            spool_dir: where batches wait while the server is unreachable; a directory per
                model version is made inside. Default: the user's cache directory
                (``~/.cache/assay/spool`` on Linux).
            max_queue: rows held in memory before the oldest are dropped.
            max_spool_mb: disk the spool may use before its oldest batches are dropped.
            on_error: called (from a background thread) with a :class:`DeliveryError` for
                every batch with rows the server refused.
        """
        return PredictionLogger(
            self._transport,
            model,
            version,
            batch_size=batch_size,
            flush_interval=flush_interval,
            spool_dir=spool_dir,
            max_queue=max_queue,
            max_spool_mb=max_spool_mb,
            on_error=on_error,
        )


# -- module-level convenience -----------------------------------------------------------------

_default_logger: PredictionLogger | None = None
_default_lock = threading.Lock()


def init(
    url: str | None = None,
    token: str | None = None,
    model: str | None = None,
    version: int | None = None,
    **options: Any,
) -> PredictionLogger:
    """Set up the logger that :func:`log_prediction` and :func:`log_label` use.

    ``url`` and ``token`` default to ``$ASSAY_URL`` / ``$ASSAY_TOKEN``, ``model`` and
    ``version`` to ``$ASSAY_MODEL`` / ``$ASSAY_VERSION``; ``options`` are those of
    :meth:`assay.Client.prediction_logger`. Calling it again replaces (and closes) the previous
    logger. Returns the logger.
    """
    from assay.client import Client

    global _default_logger
    model = model or os.environ.get("ASSAY_MODEL")
    raw_version = version if version is not None else os.environ.get("ASSAY_VERSION")
    if not model or raw_version in (None, ""):
        raise ConfigurationError(
            "assay.init() needs the model and version: pass model= and version= "
            "or set ASSAY_MODEL and ASSAY_VERSION"
        )
    with Client(url, token) as client:
        logger = client.prediction_logger(model, int(raw_version), **options)
    with _default_lock:
        previous, _default_logger = _default_logger, logger
    if previous is not None:
        previous.close()
    return logger


def log_prediction(
    features: Mapping[str, Any],
    prediction: Any,
    *,
    score: float | None = None,
    probabilities: Mapping[str, float] | None = None,
    sensitive: Mapping[str, Any] | None = None,
    label: Any = None,
    prediction_id: str | None = None,
    timestamp: float | datetime | None = None,
) -> str:
    """Log a prediction with the logger :func:`init` set up; see :meth:`PredictionLogger.log`.

    Never raises: before ``init()`` the prediction is dropped with a warning.
    """
    logger = _default_logger
    if logger is None:
        _warn_not_initialised()
        return prediction_id if prediction_id is not None else _new_prediction_id()
    return logger.log(
        features,
        prediction,
        score=score,
        probabilities=probabilities,
        sensitive=sensitive,
        label=label,
        prediction_id=prediction_id,
        timestamp=timestamp,
    )


def log_label(prediction_id: str, label: Any) -> None:
    """Log ground truth with the logger :func:`init` set up; never raises."""
    logger = _default_logger
    if logger is None:
        _warn_not_initialised()
        return
    logger.log_label(prediction_id, label)


_not_initialised_warned = False


def _warn_not_initialised() -> None:
    global _not_initialised_warned
    if not _not_initialised_warned:
        _not_initialised_warned = True
        _log.warning("assay.log_prediction() before assay.init(): the prediction is dropped")
