"""Prediction logging from serving code: :class:`PredictionLogger`, and ``assay.init`` /
``assay.log_prediction`` / ``assay.log_label`` for a process-wide one.

The promise: :meth:`PredictionLogger.log` costs microseconds, never raises and never blocks;
every prediction it accepted reaches the server once, across server outages and restarts of
the serving process, unless memory *and* the disk spool are both full (then the oldest are
dropped and counted).

``log()`` appends a tuple to a bounded ``deque`` and returns the prediction id; the worker
(:mod:`assay._delivery`) batches, sends, spools (:mod:`assay._spool`) and retries. Its threads
start lazily, and again in a child after ``fork()``; ``atexit`` closes every logger with a
bounded wait, spooling what could not be sent. The server is idempotent on
``(model version, prediction_id)``, so re-sending a batch that had arrived only counts
duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from assay._batches import new_prediction_id
from assay._dead_letter import DeadLetters
from assay._delivery import DeliveryWorker
from assay._delivery_stats import DeliveryError, DeliveryStats, StatsKeeper
from assay._http import Connection
from assay._ingest import IngestEndpoint
from assay._lifecycle import forget, watch
from assay._paths import (
    ModelRef,
    VersionRef,
    model_name,
    spool_directory_name,
    version_number,
)
from assay._spool import Spool, default_spool_root
from assay.clock import Clock, SystemClock
from assay.errors import ConfigurationError

__all__ = [
    "DeliveryError",
    "DeliveryStats",
    "PredictionLogger",
    "init",
    "log_label",
    "log_prediction",
]

_log = logging.getLogger("assay.logger")

#: The server refuses batches of more rows than this (its ASSAY_MAX_BATCH_ROWS default).
MAX_BATCH_ROWS = 10_000
MIN_DEAD_LETTER_BYTES = 1024 * 1024


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
    #: Encoded batches (MB) held in memory for the senders; past it, batches go to the spool.
    max_memory_mb: float = 64.0
    #: Rows per request when predictions arrive fast (see :mod:`assay._batcher`); at most
    #: the server's ``ASSAY_MAX_BATCH_ROWS``. A 413 answer lowers it with ``batch_size``.
    max_batch_size: int = 5_000
    #: Gzip prediction batches: True, False, or None — gzip unless the server's address is a
    #: loopback one, where compressing costs CPU the server on the same host needs and saves
    #: no bandwidth (about 5 µs a row, a third of the logger's work).
    compress: bool | None = None
    #: Batches posted at once, each on a connection of its own.
    senders: int = 2
    #: How many recent DeliveryErrors ``stats["errors"]`` keeps.
    kept_errors: int = 20
    #: A batch answered with a server error (500) this many times while the server reports
    #: itself ready is set aside as permanently bad, so it cannot block later batches.
    poison_after: int = 3

    def __init__(
        self,
        connection: Connection,
        model: ModelRef,
        version: VersionRef,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        spool_dir: str | os.PathLike[str] | None = None,
        max_queue: int = 100_000,
        max_spool_mb: float = 256,
        on_error: Callable[[DeliveryError], object] | None = None,
        clock: Clock | None = None,
        shadow_of: VersionRef | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_ROWS:
            raise ConfigurationError(f"batch_size must be between 1 and {MAX_BATCH_ROWS}")
        if flush_interval <= 0 or max_queue < 1 or max_spool_mb <= 0:
            raise ConfigurationError("flush_interval, max_queue and max_spool_mb must be > 0")
        self.model = model_name(model)
        self.version = version_number(version)
        #: The champion version this logger's predictions shadow (None: served traffic).
        self.shadow_of = None if shadow_of is None else version_number(shadow_of)
        if self.shadow_of == self.version:
            raise ConfigurationError("shadow_of must be another version than the logger's own")
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.max_queue = max_queue
        self.on_error = on_error
        self.clock: Clock = clock or SystemClock()
        self._connection = connection
        root = Path(spool_dir) if spool_dir is not None else default_spool_root()
        self.spool_dir = root / spool_directory_name(self.model, self.version, self.shadow_of)
        self._spool = Spool(self.spool_dir, int(max_spool_mb * 1024 * 1024))
        #: Batches the server called permanently bad (see :mod:`assay._dead_letter`).
        self.dead_letter_dir = self.spool_dir / "dead-letter"
        self._dead_letters = DeadLetters(
            self.dead_letter_dir, max(MIN_DEAD_LETTER_BYTES, self._spool.max_bytes // 4)
        )
        self._closed = False
        self._worker = self._new_worker()
        watch(self)
        if self._spool.pending():
            self._worker.start()  # a previous process left batches behind: deliver them

    def _new_worker(self) -> DeliveryWorker:
        """Fresh queues, threads and counters: at creation, and in a child after ``fork()``."""
        stats = StatsKeeper(
            owner=f"{self.model} v{self.version}",
            kept_errors=self.kept_errors,
            on_error=self.on_error,
            clock=self.clock,
        )
        endpoint = IngestEndpoint(self._connection, self.model, self.version, self.shadow_of)
        return DeliveryWorker(
            self,
            endpoint=endpoint,
            spool=self._spool,
            dead_letters=self._dead_letters,
            stats=stats,
            clock=self.clock,
        )

    def _after_fork_in_child(self) -> None:
        """In a forked child: start empty, with threads of its own once it logs.

        The parent keeps its queue and its spooled batches; the parent's threads may have
        held the locks the child inherits.
        """
        self._spool.forget_lock_after_fork()
        self._worker = self._new_worker()

    # -- the hot path -------------------------------------------------------------------------

    def log(
        self,
        features: Mapping[str, object],
        prediction: object,
        *,
        score: float | None = None,
        probabilities: Mapping[str, float] | None = None,
        sensitive: Mapping[str, object] | None = None,
        label: object = None,
        prediction_id: str | None = None,
        timestamp: float | datetime | None = None,
    ) -> str:
        """Queue one prediction for delivery and return its id; never raises, never blocks.

        Args:
            features: the model's inputs, ``{feature name: value}`` (copied here).
            prediction: what the model answered.
            score: the positive class's score, a probability from 0 to 1 (binary
                classification).
            probabilities: ``{class: probability}``.
            sensitive: attributes for fairness checks, e.g. ``{"sex": "F"}``.
            label: the ground truth, when already known (else see :meth:`log_label`).
            prediction_id: your id for this prediction (when not given, a random UUID of
                the time-ordered version 7, as 32 hex digits); logging
                the same id twice stores it once.
            timestamp: epoch seconds or a datetime (naive means UTC); defaults to now.
        """
        if prediction_id is None:
            prediction_id = new_prediction_id()
        try:
            worker = self._worker
            if not worker.running:
                worker.start()
            if type(prediction_id) is not str:
                prediction_id = str(prediction_id)
            queue = worker.queue
            if len(queue) >= self.max_queue or self._closed:
                worker.stats.dropped(1)
                if self._closed:
                    return prediction_id
            queue.append(
                (
                    prediction_id,
                    self.clock.time() if timestamp is None else timestamp,
                    dict(features),
                    prediction,
                    score,
                    probabilities,
                    sensitive,
                    label,
                )
            )
            if len(queue) >= worker.batcher.cut_at and not worker.wake.is_set():
                worker.wake.set()
        except Exception:  # the promise: log() never raises into serving code
            with contextlib.suppress(Exception):
                self._worker.stats.dropped(1)
                _log.debug("a prediction could not be queued", exc_info=True)
        return prediction_id

    def log_label(self, prediction_id: str, label: object) -> None:
        """Queue the ground truth of a prediction; never raises, never blocks.

        A label travels behind every prediction this logger queued before it, so a
        ``log()`` followed by ``log_label()`` of its id finds the prediction stored. A label
        whose prediction the server does not have yet (another process logs it, say) waits
        there for it, for ``ASSAY_PENDING_LABEL_DAYS``, and counts in
        ``stats["labels_pending"]``. A classifier's label is one of its classes (a binary
        model's 0/1 may be booleans); a regressor's a finite number; others are refused
        (``stats["labels_rejected"]``, with the row in ``DeliveryError.errors``).
        """
        try:
            worker = self._worker
            if not worker.running:
                worker.start()
            labels = worker.labels
            if len(labels) >= self.max_queue or self._closed:
                worker.stats.dropped(1)
                if self._closed:
                    return
            labels.append((str(prediction_id), label))
            if len(labels) >= self.batch_size and not worker.wake.is_set():
                worker.wake.set()
        except Exception:
            with contextlib.suppress(Exception):
                self._worker.stats.dropped(1)

    def log_labels(self, labels: Mapping[str, object]) -> None:
        """Queue many labels at once: ``{prediction_id: label}``; never raises (see
        :meth:`log_label`)."""
        try:
            items = list(labels.items())
        except Exception:
            _log.warning("log_labels() takes a mapping of prediction id to label")
            return
        for prediction_id, label in items:
            self.log_label(prediction_id, label)

    # -- flush, close, stats ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True once it is all answered, False on timeout.

        "Everything" includes the spool directory, whichever process wrote to it. A flush
        also cuts short a running backoff: the sender tries the server at once. After
        ``close()`` it only reports whether everything was delivered. ``timeout`` is in
        seconds of the logger's clock.
        """
        worker = self._worker
        if self._closed:
            return worker.delivered()
        if worker.has_work():
            worker.start()
        worker.poke()
        return worker.wait_until(worker.delivered, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` seconds (default :attr:`exit_timeout`), then stop.

        What is still in memory then is written to the spool for a later process to deliver;
        returns True when everything was delivered. Later ``log()`` calls are dropped.
        """
        worker = self._worker
        if self._closed:
            return worker.delivered()
        wait = self.exit_timeout if timeout is None else timeout
        if worker.has_work():
            worker.start()
        worker.poke()
        # Stop early when the server is failing and everything is safe on disk.
        delivered = worker.wait_until(worker.delivered_or_parked, wait) and worker.delivered()
        self._closed = True
        worker.stop()
        forget(self)
        return delivered

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> DeliveryStats:
        """Counters (rows): ``sent`` (stored), ``duplicates``, ``rejected``, ``spooled``,
        ``dropped``, ``retries`` (failed attempts), ``labels_sent``, ``labels_pending``
        (waiting on the server for their predictions), ``labels_rejected``,
        ``labels_unknown`` (dropped by an older server), ``dead_lettered`` (batches set aside
        in ``dead_letter_dir``); and the state: ``queued`` rows in memory,
        ``spool_batches``/``spool_bytes`` on disk, ``last_error`` and the recent ``errors``
        (DeliveryError). Read ``stats.sent`` or ``stats["sent"]``."""
        worker = self._worker
        pending = self._spool.pending()
        return worker.stats.snapshot(
            queued=worker.in_memory_rows(),
            spool_batches=len(pending),
            spool_bytes=sum(size for _, size in pending),
        )

    def __repr__(self) -> str:
        shadow = "" if self.shadow_of is None else f", shadow_of={self.shadow_of}"
        return f"PredictionLogger(model={self.model!r}, version={self.version}{shadow})"


# -- module-level convenience -----------------------------------------------------------------

_default_logger: PredictionLogger | None = None
_default_lock = threading.Lock()


def init(
    url: str | None = None,
    token: str | None = None,
    model: str | None = None,
    version: int | None = None,
    *,
    batch_size: int = 500,
    flush_interval: float = 1.0,
    spool_dir: str | os.PathLike[str] | None = None,
    max_queue: int = 100_000,
    max_spool_mb: float = 256,
    on_error: Callable[[DeliveryError], object] | None = None,
) -> PredictionLogger:
    """Set up the logger that :func:`log_prediction` and :func:`log_label` use.

    ``url`` and ``token`` default to ``$ASSAY_URL`` / ``$ASSAY_TOKEN``, ``model`` and
    ``version`` to ``$ASSAY_MODEL`` / ``$ASSAY_VERSION``; the other options are those of
    :meth:`assay.Client.prediction_logger`. Calling it again replaces (and closes) the previous
    logger. Returns the logger.
    """
    global _default_logger
    model = model or os.environ.get("ASSAY_MODEL")
    raw_version = version if version is not None else os.environ.get("ASSAY_VERSION")
    if not model or raw_version is None or raw_version == "":
        raise ConfigurationError(
            "assay.init() needs the model and version: pass model= and version= "
            "or set ASSAY_MODEL and ASSAY_VERSION"
        )
    logger = PredictionLogger(
        Connection.from_options(url, token),
        model,
        int(raw_version),
        batch_size=batch_size,
        flush_interval=flush_interval,
        spool_dir=spool_dir,
        max_queue=max_queue,
        max_spool_mb=max_spool_mb,
        on_error=on_error,
    )
    with _default_lock:
        previous, _default_logger = _default_logger, logger
    if previous is not None:
        previous.close()
    return logger


def log_prediction(
    features: Mapping[str, object],
    prediction: object,
    *,
    score: float | None = None,
    probabilities: Mapping[str, float] | None = None,
    sensitive: Mapping[str, object] | None = None,
    label: object = None,
    prediction_id: str | None = None,
    timestamp: float | datetime | None = None,
) -> str:
    """Log a prediction with the logger :func:`init` set up; see :meth:`PredictionLogger.log`.

    Never raises: before ``init()`` the prediction is dropped with a warning.
    """
    logger = _default_logger
    if logger is None:
        _warn_not_initialised()
        return prediction_id if prediction_id is not None else new_prediction_id()
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


def log_label(prediction_id: str, label: object) -> None:
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
