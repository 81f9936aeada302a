"""The prediction store: where predictions and their labels are written, read, counted and
expired, behind one interface.

Every caller outside ``ingest`` — the API's routes, monitoring, the Evidently pages, the
scheduler's partition and retention jobs — reaches predictions through
:func:`prediction_store`, the one place that picks the implementation. Today that is
:class:`SqlPredictionStore`: the tables of ``models.py`` in the application's database (on
PostgreSQL partitioned by day, ``partitions.py``). A columnar engine (ClickHouse, see
``docs/scaling.md``) would be a second class with the same methods, chosen there, without a
change to monitoring or ingest callers.

What stays beside the store, in the application's database whatever the engine: the batch
records' figures (``figures.py``: counts per model and day), label counts
(``label_counts.py``), pending labels (``pending.py``) and the hourly roll-up (``rollup.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import Database
from ..settings import Settings
from . import partitions, retention
from .blocks import FEATURE, PROBABILITY, SENSITIVE
from .labels import LabelResult, LabelService
from .models import PredictionRow
from .retention import ModelExpiry
from .schemas import Label
from .service import IngestResult, IngestService, ingest_batch
from .window import (
    BATCHES_PER_BLOCK,
    ROWS_PER_BLOCK,
    PredictionWindow,
    bounds_us,
    read_window,
    stream_window,
)

__all__ = [
    "FEATURE",
    "PROBABILITY",
    "ROWS_PER_BLOCK",
    "SENSITIVE",
    "PredictionStore",
    "PredictionWindow",
    "SqlPredictionStore",
    "prediction_store",
]


class PredictionStore(Protocol):
    """Predictions and labels of model versions: written by ingest, read by monitoring."""

    def write_batch(
        self,
        ctx: ServiceContext,
        model_name: str,
        version: int,
        document: object,
        *,
        strict: bool = False,
        shadow_of: int | None = None,
        checked_in: Database | None = None,
    ) -> IngestResult:
        """Check a batch (either wire format) and store its rows not stored before (with
        ``shadow_of``, as rows logged in that version's shadow); with ``checked_in``, check
        it in a read unit of work of that database first."""
        ...

    def add_labels(
        self, ctx: ServiceContext, model_name: str, labels: Sequence[Label]
    ) -> LabelResult:
        """Join ground truth to the model's predictions by id (or keep it until they come)."""
        ...

    def read_window(
        self, version_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> PredictionWindow:
        """Every prediction of a version with ``start <= timestamp < end``, with labels."""
        ...

    def stream_window(
        self,
        version_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        batches_per_block: int = BATCHES_PER_BLOCK,
        max_rows: int | None = None,
    ) -> Iterator[PredictionWindow]:
        """The same window in parts of bounded size (at most ``batches_per_block`` batches,
        and no more batches than hold ``max_rows`` rows), in batch order."""
        ...

    def count(
        self, version_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """How many predictions of a version fall in ``[start, end)``."""
        ...

    def start_of_newest(self, version_id: int, end: datetime, count: int) -> datetime | None:
        """The timestamp of the ``count``-th newest prediction before ``end`` (None when there
        are fewer): where a window of the newest ``count`` predictions starts."""
        ...

    def ensure_partitions(
        self, now: datetime, max_backfill_days: float, *, max_days: int | None = None
    ) -> list[date]:
        """Make room for the days a prediction may still arrive for, ``max_backfill_days``
        back (at most ``max_days`` of them); the days made."""
        ...

    def expire(self, ctx: ServiceContext, now: datetime) -> list[ModelExpiry]:
        """Remove each model's predictions past its retention, one audit event per model."""
        ...


class SqlPredictionStore:
    """The store in the application's database (SQLite, or PostgreSQL partitioned by day)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def write_batch(
        self,
        ctx: ServiceContext,
        model_name: str,
        version: int,
        document: object,
        *,
        strict: bool = False,
        shadow_of: int | None = None,
        checked_in: Database | None = None,
    ) -> IngestResult:
        """Check a batch and store its new rows (see :func:`service.ingest_batch`)."""
        if checked_in is not None:
            return ingest_batch(
                checked_in,
                self.session,
                ctx,
                model_name,
                version,
                document,
                strict=strict,
                shadow_of=shadow_of,
            )
        service = IngestService(self.session, ctx)
        prepared = service.prepare(
            model_name, version, document, strict=strict, shadow_of=shadow_of
        )
        return service.store(prepared)

    def add_labels(
        self, ctx: ServiceContext, model_name: str, labels: Sequence[Label]
    ) -> LabelResult:
        """Record ground truth (see :meth:`labels.LabelService.record`)."""
        return LabelService(self.session, ctx).record(model_name, labels)

    def read_window(
        self, version_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> PredictionWindow:
        """A version's window as one DataFrame (``window.read_window``)."""
        return read_window(self.session, version_id, start, end)

    def stream_window(
        self,
        version_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        batches_per_block: int = BATCHES_PER_BLOCK,
        max_rows: int | None = None,
    ) -> Iterator[PredictionWindow]:
        """A version's window in parts (``window.stream_window``)."""
        return stream_window(
            self.session,
            version_id,
            start,
            end,
            batches_per_block=batches_per_block,
            max_rows=max_rows,
        )

    def count(
        self, version_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Rows of the version in ``[start, end)``: an index-only count."""
        start_us, end_us = bounds_us(start, end)
        return int(
            self.session.scalar(
                select(func.count()).where(
                    PredictionRow.version_id == version_id,
                    PredictionRow.ts_us >= start_us,
                    PredictionRow.ts_us < end_us,
                )
            )
            or 0
        )

    def start_of_newest(self, version_id: int, end: datetime, count: int) -> datetime | None:
        """The ``count``-th newest timestamp before ``end``, by the version's time index."""
        _start, end_us = bounds_us(None, end)
        ts = self.session.scalar(
            select(PredictionRow.ts_us)
            .where(PredictionRow.version_id == version_id, PredictionRow.ts_us < end_us)
            .order_by(PredictionRow.ts_us.desc())
            .offset(max(count, 1) - 1)
            .limit(1)
        )
        if ts is None:
            return None
        return datetime.fromtimestamp(ts / 1_000_000, end.tzinfo)

    def ensure_partitions(
        self, now: datetime, max_backfill_days: float, *, max_days: int | None = None
    ) -> list[date]:
        """Create the day partitions from ``max_backfill_days`` back to the days ahead
        (PostgreSQL; nothing to do on SQLite)."""
        return partitions.ensure_partitions(
            self.session.connection(), now, max_backfill_days, max_days=max_days
        )

    def expire(self, ctx: ServiceContext, now: datetime) -> list[ModelExpiry]:
        """Drop or delete what each model's retention no longer keeps (``retention.py``)."""
        return retention.expire(self.session, ctx, now)


def prediction_store(session: Session, settings: Settings | None = None) -> PredictionStore:
    """The prediction store (of these settings, when a setting comes to choose among
    implementations), working in ``session`` (the caller's unit of work): the one place an
    implementation is chosen."""
    return SqlPredictionStore(session)
