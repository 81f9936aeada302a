"""What became of the rows a prediction logger accepted: the counters, the recent errors, and
the ``on_error`` callback, kept for ``PredictionLogger.stats``."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal, overload

from assay._batches import Batch, prediction_ids
from assay.clock import Clock
from assay.errors import AssayError

__all__ = ["DeliveryError", "DeliveryStats", "StatsKeeper"]

_log = logging.getLogger("assay.logger")

DROP_WARNING_INTERVAL = 60.0

Counter = Literal[
    "sent",
    "duplicates",
    "rejected",
    "spooled",
    "dropped",
    "retries",
    "batches_sent",
    "labels_sent",
    "labels_unknown",
    "labels_pending",
    "labels_rejected",
    "dead_lettered",
    "queued",
    "spool_batches",
    "spool_bytes",
]


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
    errors: list[dict[str, object]] = field(default_factory=list)
    #: Where the refused batch was set aside (None for row-level refusals).
    dead_letter: str | None = None
    #: Rows dropped since the last such report (memory queue and spool full, …).
    dropped: int = 0


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of a logger's counters (in rows unless said otherwise) and state.

    Read it by attribute (``stats.sent``) or by key, as the dict it used to be
    (``stats["sent"]``).
    """

    sent: int = 0  #: rows the server stored
    duplicates: int = 0  #: rows the server already had (a re-send)
    rejected: int = 0  #: rows the server refused
    spooled: int = 0  #: rows written to the spool (a row may be spooled more than once)
    dropped: int = 0  #: rows dropped: memory and disk full, logged after close(), no mapping
    retries: int = 0  #: failed attempts that will be retried
    batches_sent: int = 0  #: prediction batches the server answered with 200
    labels_sent: int = 0  #: labels joined to their stored predictions
    labels_unknown: int = 0  #: labels an older server dropped: their predictions were unknown
    #: labels the server keeps until their predictions arrive (ASSAY_PENDING_LABEL_DAYS)
    labels_pending: int = 0
    labels_rejected: int = 0  #: labels the server refused (not one of the model's classes, …)
    dead_lettered: int = 0  #: batches set aside in ``dead_letter_dir``
    queued: int = 0  #: rows in memory now
    spool_batches: int = 0  #: batches waiting on disk now
    spool_bytes: int = 0
    last_error: str | None = None  #: the latest error, as text
    errors: list[DeliveryError] = field(default_factory=list)  #: the latest DeliveryErrors

    @overload
    def __getitem__(self, key: Counter) -> int: ...
    @overload
    def __getitem__(self, key: Literal["last_error"]) -> str | None: ...
    @overload
    def __getitem__(self, key: Literal["errors"]) -> list[DeliveryError]: ...
    def __getitem__(self, key: str) -> int | str | list[DeliveryError] | None:
        """``stats["sent"]`` is ``stats.sent``."""
        if key not in _FIELD_NAMES:
            raise KeyError(key)
        value: int | str | list[DeliveryError] | None = getattr(self, key)
        return value

    def keys(self) -> list[str]:
        """The names ``stats[...]`` takes, so that ``dict(stats)`` works."""
        return list(_FIELD_NAMES)


_FIELD_NAMES = tuple(each.name for each in fields(DeliveryStats))
_COUNTERS = tuple(name for name in _FIELD_NAMES if name not in ("last_error", "errors"))


class StatsKeeper:
    """The counters and recent errors of one logger, safe to update from any thread."""

    def __init__(
        self,
        *,
        owner: str,
        kept_errors: int,
        on_error: Callable[[DeliveryError], object] | None,
        clock: Clock,
    ) -> None:
        self._owner = owner  # "churn v3", for log messages
        self._on_error = on_error
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._errors: deque[DeliveryError] = deque(maxlen=kept_errors)
        self._last_error: str | None = None
        self._last_drop_warning = -math.inf
        self._drops_reported = 0

    def add(self, counter: Counter, rows: int) -> None:
        """Add ``rows`` to one counter."""
        with self._lock:
            self._counts[counter] += rows

    def snapshot(self, *, queued: int, spool_batches: int, spool_bytes: int) -> DeliveryStats:
        """The counters now, with the state the caller measured."""
        with self._lock:
            stats = DeliveryStats(
                **self._counts, last_error=self._last_error, errors=list(self._errors)
            )
        return replace(stats, queued=queued, spool_batches=spool_batches, spool_bytes=spool_bytes)

    def note_error(self, message: str) -> None:
        """Remember the latest problem (``stats["last_error"]``) without reporting rows."""
        with self._lock:
            self._last_error = message

    def dropped(self, rows: int) -> None:
        """Count dropped rows; :meth:`report_drops` tells of them, off the serving thread."""
        with self._lock:
            self._counts["dropped"] += rows

    def report_drops(self) -> None:
        """Tell of rows dropped since the last time — a warning and an ``on_error`` call — at
        most once a :data:`DROP_WARNING_INTERVAL`."""
        with self._lock:
            total = self._counts["dropped"]
            new = total - self._drops_reported
            moment = self._clock.monotonic()
            if not new or moment - self._last_drop_warning < DROP_WARNING_INTERVAL:
                return
            self._last_drop_warning = moment
            self._drops_reported = total
        message = (
            f"dropped {total} rows in all, {new} since the last report (memory queue and disk "
            "spool full, logged after close(), or features not a mapping); see stats['dropped']"
        )
        self.report(DeliveryError("predictions", message, 0, dropped=new))

    def report(self, error: DeliveryError) -> None:
        """Keep ``error``, log it, and hand it to ``on_error`` (whose failures are logged)."""
        with self._lock:
            self._errors.append(error)
            self._last_error = error.message
        _log.warning("assay: %s (%s)", error.message, self._owner)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                _log.exception("assay: the prediction logger's on_error callback failed")

    def count_answer(self, batch: Batch, answer: Mapping[str, object]) -> None:
        """Count what the server said it did with a batch it answered with 200."""
        if batch.kind == "labels":
            self._count_labels(batch, answer)
            return
        rejected = _count(answer, "rejected")
        with self._lock:
            self._counts["sent"] += _count(answer, "accepted")
            self._counts["duplicates"] += _count(answer, "duplicates")
            self._counts["rejected"] += rejected
            self._counts["batches_sent"] += 1
        if rejected:
            self.report(
                DeliveryError(
                    "predictions",
                    f"the server rejected {rejected} rows",
                    rejected,
                    errors=_row_errors(batch, answer.get("errors")),
                )
            )

    def _count_labels(self, batch: Batch, answer: Mapping[str, object]) -> None:
        """Count a label batch's answer: joined, kept waiting, unknown (an older server
        drops those), refused one by one."""
        self.add("labels_sent", _count(answer, "updated"))
        unknown = _count(answer, "unknown")
        if "pending" in answer:
            pending = _count(answer, "pending")
            self.add("labels_pending", pending)
            unknown = max(0, unknown - pending)
        self.add("labels_unknown", unknown)
        if unknown:
            ids = answer.get("unknown_ids")
            self.report(
                DeliveryError(
                    "labels",
                    f"{unknown} labels name predictions the server does not know",
                    unknown,
                    errors=[
                        {"prediction_id": each, "message": "unknown"}
                        for each in (ids if isinstance(ids, list) else [])
                    ],
                )
            )
        rejected = _count(answer, "rejected")
        if rejected:
            self.add("labels_rejected", rejected)
            self.report(
                DeliveryError(
                    "labels",
                    f"the server rejected {rejected} labels",
                    rejected,
                    errors=_label_errors(batch, answer.get("errors")),
                )
            )

    def count_refused(
        self, batch: Batch, error: AssayError | None, *, dead_letter: str | None = None
    ) -> None:
        """Count a batch the server refused whole, and report it."""
        self.add("labels_rejected" if batch.kind == "labels" else "rejected", batch.rows)
        listed = error.details.get("errors") if error is not None else None
        self.report(
            DeliveryError(
                batch.kind,
                str(error) if error is not None else "rejected",
                batch.rows,
                status=error.status if error is not None else None,
                code=error.code if error is not None else None,
                request_id=error.request_id if error is not None else None,
                errors=_dicts(listed),
                dead_letter=dead_letter,
            )
        )


def _count(answer: Mapping[str, object], key: str) -> int:
    value = answer.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def _dicts(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [dict(each) for each in value if isinstance(each, dict)]


def _label_errors(batch: Batch, listed: object) -> list[dict[str, object]]:
    """The server's errors about single labels, each with the ``prediction_id`` it names."""
    errors = _dicts(listed)
    if errors:
        try:
            labels = json.loads(batch.body)["labels"]
        except (ValueError, KeyError, TypeError):
            labels = []
        for each in errors:
            index = each.get("index")
            if isinstance(index, int) and 0 <= index < len(labels):
                each["prediction_id"] = labels[index].get("prediction_id")
    return errors


def _row_errors(batch: Batch, listed: object) -> list[dict[str, object]]:
    """The server's row errors, each with the ``prediction_id`` of the row it names."""
    errors = _dicts(listed)
    if errors:
        ids = prediction_ids(batch.body)
        for each in errors:
            index = each.get("index")
            if isinstance(index, int) and 0 <= index < len(ids):
                each["prediction_id"] = ids[index]
    return errors
