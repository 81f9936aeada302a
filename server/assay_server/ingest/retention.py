"""Retention: each model keeps its predictions ``retention_days`` (None: for ever).

A model's **cutoff** is the UTC day of ``now − EXPIRY_LAG − retention_days``: its rows of
earlier days are expired, so a row is kept at least ``retention_days`` and at most a day more.
Ingest refuses rows of an expired day (``validation.TimeBounds``), and the lag lets the hourly
roll-up (``rollup.py``) put every batch in the audit chain before its day can expire.

On PostgreSQL (``partitions.py``) a day partition is **dropped** — detached, then dropped,
rows and blocks together — when every model with rows in it has expired that day. Where a
partition is shared with a model whose retention is longer (or for ever), the expired
models' rows are **deleted** from it instead, and the partition goes when the last model that
needs it lets it go. Day partitions that no model has rows in are dropped once no row may
arrive for them (``ASSAY_MAX_BACKFILL_DAYS``). On SQLite, and for the default partitions, the
expired rows and batches are deleted by time. The model's label counts of expired days go
too, so data quality's figures cover the same days as the rows.

Each run appends **one audit event per model** that lost anything (``predictions.expired``:
the days, rows, batches and partitions) and publishes it as a domain event. Expiry touches
the prediction tables and label counts only: never reports, audit events or the registry.
"""

from __future__ import annotations

import typing
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..registry.models import ModelVersion, RegisteredModel
from . import partitions
from .models import LabelCount, PredictionBatch, PredictionRow
from .validation import US_PER_DAY

#: How long after its retention ends a day expires: the roll-up has recorded its batches.
EXPIRY_LAG = timedelta(hours=2)
EXPIRED = "predictions.expired"
_EPOCH = date(1970, 1, 1)
_ROWS = typing.cast(Table, PredictionRow.__table__)
_BATCHES = typing.cast(Table, PredictionBatch.__table__)
_LABEL_COUNTS = typing.cast(Table, LabelCount.__table__)


def cutoff_day(now: datetime, retention_days: int) -> date:
    """The first day a model with ``retention_days`` still keeps."""
    return (now.astimezone(timezone.utc) - EXPIRY_LAG - timedelta(days=retention_days)).date()


@dataclass
class ModelExpiry:
    """What one run expired of one model."""

    model_id: int
    model_name: str
    retention_days: int
    cutoff: date
    version_ids: list[int]
    rows: int = 0
    batches: int = 0
    label_days: int = 0
    partitions_dropped: int = 0
    first_day: date | None = None
    last_day: date | None = None

    @property
    def cutoff_us(self) -> int:
        """The cutoff in epoch microseconds."""
        return (self.cutoff - _EPOCH).days * US_PER_DAY

    @property
    def expired_anything(self) -> bool:
        """True when the run removed any of the model's rows, batches or label counts."""
        return bool(self.rows or self.batches or self.label_days)

    def saw_days(self, first: date | None, last: date | None) -> None:
        """Widen the range of days expired."""
        if first is not None:
            self.first_day = first if self.first_day is None else min(self.first_day, first)
        if last is not None:
            self.last_day = last if self.last_day is None else max(self.last_day, last)

    def payload(self) -> dict[str, Any]:
        """The audit event's payload."""
        return {
            "retention_days": self.retention_days,
            "kept_from": self.cutoff.isoformat(),
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "rows": self.rows,
            "batches": self.batches,
            "label_days": self.label_days,
            "partitions_dropped": self.partitions_dropped,
        }


def expire(session: Session, ctx: ServiceContext, now: datetime) -> list[ModelExpiry]:
    """Expire every model's predictions past its retention; one audit event (and one
    ``predictions.expired`` domain event) per model that lost any. Returns those models."""
    connection = session.connection()
    expiries, model_of = _models(session, now)
    if partitions.is_partitioned(connection):
        partitions.lock(connection)
        _expire_partitioned(connection, expiries, model_of, now, ctx.settings.max_backfill_days)
    else:
        for expiry in expiries.values():
            _delete_expired(connection, expiry)
    for expiry in expiries.values():
        _forget_label_counts(connection, expiry)
    done = [expiry for expiry in expiries.values() if expiry.expired_anything]
    audit = AuditTrail(session, ctx)
    for expiry in done:
        payload = expiry.payload()
        audit.append(EXPIRED, "model", expiry.model_name, payload)
        event = {"model": expiry.model_name, "model_id": expiry.model_id, **payload}
        ctx.events.publish(session, ctx, EXPIRED, event)
    return done


def _models(session: Session, now: datetime) -> tuple[dict[int, ModelExpiry], dict[int, int]]:
    """The models with a retention, by id, and every version's model."""
    versions = session.execute(select(ModelVersion.id, ModelVersion.model_id)).all()
    model_of = {version_id: model_id for version_id, model_id in versions}
    by_model: dict[int, list[int]] = {}
    for version_id, model_id in versions:
        by_model.setdefault(model_id, []).append(version_id)
    models = session.execute(
        select(RegisteredModel.id, RegisteredModel.name, RegisteredModel.retention_days).where(
            RegisteredModel.retention_days.is_not(None)
        )
    ).all()
    expiries = {
        model_id: ModelExpiry(
            model_id, name, days, cutoff_day(now, days), sorted(by_model.get(model_id, []))
        )
        for model_id, name, days in models
        if days is not None and by_model.get(model_id)
    }
    return expiries, model_of


def _expire_partitioned(
    connection: Connection,
    expiries: dict[int, ModelExpiry],
    model_of: dict[int, int],
    now: datetime,
    backfill_days: float,
) -> None:
    """PostgreSQL: delete the expired models' rows from the day partitions others still
    need and from the default partitions, then drop the days no model needs. The drops come
    last: detaching locks the tables until the transaction commits, which it then does."""
    today = now.astimezone(timezone.utc).date()
    oldest_wanted = partitions.wanted_days(today, backfill_days)[0]
    row_days = set(partitions.partition_days(connection, partitions.ROWS))
    batch_days = set(partitions.partition_days(connection, partitions.BATCHES))
    drops: list[date] = []
    for day in sorted(row_days | batch_days):
        if day >= today:
            break
        present: set[int] = set()
        for table, days in ((partitions.ROWS, row_days), (partitions.BATCHES, batch_days)):
            if day in days:
                present |= partitions.versions_in(connection, table, day)
        models = {model_of.get(version_id) for version_id in present}
        if not models:
            if day < oldest_wanted:  # no row may arrive for it any more
                drops.append(day)
            continue
        expired = [
            expiries[model_id]
            for model_id in models
            if model_id in expiries and day < expiries[model_id].cutoff
        ]
        if len(expired) == len(models):  # no model needs the day: drop it
            if day in batch_days:
                _count_dropped(connection, day, expiries, model_of)
            for expiry in expired:
                expiry.partitions_dropped += 1
            drops.append(day)
            continue
        for expiry in expired:  # another model keeps the day: delete the expired ones' rows
            rows = _delete_from(connection, partitions.ROWS.partition(day), expiry, row_days, day)
            batches = _delete_from(
                connection, partitions.BATCHES.partition(day), expiry, batch_days, day
            )
            expiry.rows += rows
            expiry.batches += batches
            if rows or batches:
                expiry.saw_days(day, day)
    for expiry in expiries.values():
        _delete_from_default(connection, expiry)
    for day in drops:
        for table, days in ((partitions.ROWS, row_days), (partitions.BATCHES, batch_days)):
            if day in days:
                partitions.drop_partition(connection, table, day)


def _delete_from(
    connection: Connection, partition: str, expiry: ModelExpiry, days: set[date], day: date
) -> int:
    """Delete the model's rows from one day partition (if there is one); how many."""
    if day not in days:
        return 0
    return connection.exec_driver_sql(
        f"DELETE FROM {partition} WHERE version_id = ANY(%s)", (expiry.version_ids,)
    ).rowcount


def _delete_from_default(connection: Connection, expiry: ModelExpiry) -> None:
    """Delete the model's expired rows and batches kept in the default partitions."""
    count, first_us, last_us = connection.exec_driver_sql(
        f"WITH gone AS (DELETE FROM {partitions.ROWS.default} "
        "WHERE version_id = ANY(%s) AND ts_us < %s RETURNING ts_us) "
        "SELECT count(*), min(ts_us), max(ts_us) FROM gone",
        (expiry.version_ids, expiry.cutoff_us),
    ).one()
    expiry.rows += int(count)
    expiry.saw_days(_day_of(first_us), _day_of(last_us))
    count, first_day, last_day = connection.exec_driver_sql(
        f"WITH gone AS (DELETE FROM {partitions.BATCHES.default} "
        "WHERE version_id = ANY(%s) AND day < %s RETURNING day) "
        "SELECT count(*), min(day), max(day) FROM gone",
        (expiry.version_ids, expiry.cutoff),
    ).one()
    expiry.batches += int(count)
    expiry.saw_days(first_day, last_day)


def _count_dropped(
    connection: Connection, day: date, expiries: dict[int, ModelExpiry], model_of: dict[int, int]
) -> None:
    """Count the rows and batches of a day partition about to be dropped, per model: from
    its batches (since 0020 a batch holds the rows of its day only), not by counting rows."""
    rows: Counter[int] = Counter()
    batches: Counter[int] = Counter()
    for version_id, count, accepted in connection.exec_driver_sql(
        "SELECT version_id, count(*), coalesce(sum(accepted), 0) "
        f"FROM {partitions.BATCHES.partition(day)} GROUP BY version_id"
    ):
        model_id = model_of[version_id]
        batches[model_id] += int(count)
        rows[model_id] += int(accepted)
    for model_id in set(rows) | set(batches):
        expiry = expiries[model_id]
        expiry.rows += rows[model_id]
        expiry.batches += batches[model_id]
        expiry.saw_days(day, day)


def _delete_expired(connection: Connection, expiry: ModelExpiry) -> None:
    """SQLite: delete the model's rows and batches before its cutoff."""
    versions = expiry.version_ids
    old_rows = _ROWS.c.version_id.in_(versions) & (_ROWS.c.ts_us < expiry.cutoff_us)
    count, first_us, last_us = connection.execute(
        select(func.count(), func.min(_ROWS.c.ts_us), func.max(_ROWS.c.ts_us)).where(old_rows)
    ).one()
    if count:
        connection.execute(delete(_ROWS).where(old_rows))
        expiry.rows += int(count)
        expiry.saw_days(_day_of(first_us), _day_of(last_us))
    old_batches = _BATCHES.c.version_id.in_(versions) & (_BATCHES.c.day < expiry.cutoff)
    count, first_day, last_day = connection.execute(
        select(func.count(), func.min(_BATCHES.c.day), func.max(_BATCHES.c.day)).where(old_batches)
    ).one()
    if count:
        connection.execute(delete(_BATCHES).where(old_batches))
        expiry.batches += int(count)
        expiry.saw_days(first_day, last_day)


def _forget_label_counts(connection: Connection, expiry: ModelExpiry) -> None:
    """Delete the model's label counts of expired days (data quality's figures then cover
    the days the rows do)."""
    expiry.label_days += connection.execute(
        delete(_LABEL_COUNTS).where(
            _LABEL_COUNTS.c.version_id.in_(expiry.version_ids),
            _LABEL_COUNTS.c.day < expiry.cutoff,
        )
    ).rowcount


def _day_of(ts_us: int | None) -> date | None:
    return None if ts_us is None else _EPOCH + timedelta(days=ts_us // US_PER_DAY)
