"""Predictions stored, rejected and repeated at ingest, aggregated in SQL from the batch
table: per model (for ``/metrics``), per version and day (for the compliance report), and
rejected over a monitor run's window (for data quality); and labels received and rejected per
model, from their daily counts (for ``/metrics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..registry.models import ModelVersion, RegisteredModel
from .models import LabelCount, PredictionBatch


def ingest_counts(session: Session) -> list[tuple[str, int, int, int]]:
    """``(model, accepted, rejected, duplicates)`` per model."""
    rows = session.execute(
        select(
            RegisteredModel.name,
            func.coalesce(func.sum(PredictionBatch.accepted), 0),
            func.coalesce(func.sum(PredictionBatch.rejected), 0),
            func.coalesce(func.sum(PredictionBatch.duplicates), 0),
        )
        .select_from(PredictionBatch)
        .join(ModelVersion, ModelVersion.id == PredictionBatch.version_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .group_by(RegisteredModel.name)
    )
    return [(model, int(a), int(r), int(d)) for model, a, r, d in rows]


def label_totals(session: Session) -> list[tuple[str, int, int]]:
    """``(model, received, rejected)`` labels per model, every day counted (``received``
    includes the rejected)."""
    rows = session.execute(
        select(
            RegisteredModel.name,
            func.coalesce(func.sum(LabelCount.received), 0),
            func.coalesce(func.sum(LabelCount.rejected), 0),
        )
        .select_from(LabelCount)
        .join(RegisteredModel, RegisteredModel.id == LabelCount.model_id)
        .group_by(RegisteredModel.name)
        .order_by(RegisteredModel.name)
    )
    return [(model, int(received), int(rejected)) for model, received, rejected in rows]


def labels_per_day(session: Session, version_id: int) -> dict[str, tuple[int, int]]:
    """A version's labels per UTC day (``YYYY-MM-DD``): ``(received, rejected)``."""
    rows = session.execute(
        select(LabelCount.day, LabelCount.received, LabelCount.rejected).where(
            LabelCount.version_id == version_id
        )
    )
    return {day.isoformat(): (int(received), int(rejected)) for day, received, rejected in rows}


def rejected_rows(session: Session, version_id: int, start: datetime | None, end: datetime) -> int:
    """Rows of the version's batches received in ``[start, end)`` that ingest refused."""
    query = select(func.coalesce(func.sum(PredictionBatch.rejected), 0)).where(
        PredictionBatch.version_id == version_id, PredictionBatch.received_at < end
    )
    if start is not None:
        query = query.where(PredictionBatch.received_at >= start)
    return int(session.scalar(query) or 0)


class IngestDayCounts(NamedTuple):
    """One UTC day of a version's prediction batches."""

    date: str
    batches: int
    accepted: int
    duplicates: int
    rejected: int


def batches_per_day(session: Session, version_id: int) -> list[IngestDayCounts]:
    """A version's prediction batches summed per UTC day (``YYYY-MM-DD``), oldest first,
    whether or not the hourly roll-up has put them in the audit trail yet."""
    day = _utc_day(session, PredictionBatch.received_at)
    rows = session.execute(
        select(
            day,
            func.count(),
            func.coalesce(func.sum(PredictionBatch.accepted), 0),
            func.coalesce(func.sum(PredictionBatch.duplicates), 0),
            func.coalesce(func.sum(PredictionBatch.rejected), 0),
        )
        .where(PredictionBatch.version_id == version_id)
        .group_by(day)
        .order_by(day)
    )
    return [IngestDayCounts(str(d), int(b), int(a), int(du), int(r)) for d, b, a, du, r in rows]


def served_since(session: Session, version_id: int, since: datetime) -> int:
    """Predictions of a version stored from batches received after ``since`` (the
    rollout gate's "served at this step"); rows logged in another version's shadow were not
    served, so they do not count."""
    total = session.scalar(
        select(func.coalesce(func.sum(PredictionBatch.accepted), 0)).where(
            PredictionBatch.version_id == version_id,
            PredictionBatch.received_at > since,
            PredictionBatch.shadow_of_version_id.is_(None),
        )
    )
    return int(total or 0)


def _utc_day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC text, "YYYY-MM-DD HH:MM:SS…"
