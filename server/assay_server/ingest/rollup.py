"""Ingest's place in the audit trail: one event per model version and hour, not per batch.

A batch is recorded by its row in ``prediction_batches`` (counts, time range, when it
arrived); it neither appends to the audit chain nor waits for the chain head's lock, so
ingest on PostgreSQL is not serialised through it. Every few minutes the scheduler rolls up
the batches of each hour that has ended (plus a grace for transactions still committing)
into one ``predictions.rolled_up`` event per version: the number of batches and rows, the
duplicates and rejected rows, when the first and last batch arrived, the predictions' time
range, and a SHA-256 over the batch ids in order — so the chain still proves what arrived,
and a batch row deleted or added later no longer matches its hour's event.

A batch that commits after its hour was rolled up (a transaction slower than the grace)
goes into a later run's event for the same hour: events add up, nothing is lost or counted
twice. Two schedulers on PostgreSQL do not both roll up a batch: the rows are locked with
``SKIP LOCKED`` until the events are written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..registry.queries import version_audit_ids
from .models import PredictionBatch

#: How long after an hour ends its batches are rolled up (transactions still committing).
ROLLUP_GRACE = timedelta(minutes=5)
#: Batches rolled up per pass; a backlog takes several passes of one run.
BATCHES_PER_PASS = 20_000
ROLLED_UP = "predictions.rolled_up"


@dataclass
class HourOfIngest:
    """The batches of one version that arrived in one hour."""

    version_id: int
    hour: datetime
    batch_ids: list[int] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_received_at: datetime | None = None
    last_received_at: datetime | None = None
    ts_min_us: int | None = None
    ts_max_us: int | None = None

    def add(self, batch: Any) -> None:
        self.batch_ids.append(batch.id)
        self.accepted += batch.accepted
        self.duplicates += batch.duplicates
        self.rejected += batch.rejected
        self.first_received_at = _earliest(self.first_received_at, batch.received_at)
        self.last_received_at = _latest(self.last_received_at, batch.received_at)
        self.ts_min_us = _earliest(self.ts_min_us, batch.ts_min_us)
        self.ts_max_us = _latest(self.ts_max_us, batch.ts_max_us)

    def payload(self) -> dict[str, Any]:
        ids = ",".join(str(batch_id) for batch_id in self.batch_ids)
        return {
            "hour": self.hour.isoformat(),
            "batches": len(self.batch_ids),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "first_received_at": _iso(self.first_received_at),
            "last_received_at": _iso(self.last_received_at),
            "ts_min_us": self.ts_min_us,
            "ts_max_us": self.ts_max_us,
            "first_batch_id": self.batch_ids[0],
            "last_batch_id": self.batch_ids[-1],
            "batch_ids_sha256": hashlib.sha256(ids.encode()).hexdigest(),
        }


def roll_up_ingest(session: Session, ctx: ServiceContext, now: datetime) -> int:
    """Append one event per version and ended hour for the batches not yet in one; the
    number of events appended."""
    boundary = _hour(now - ROLLUP_GRACE)
    audit = AuditTrail(session, ctx)
    appended = 0
    while True:
        batches = session.execute(
            select(
                PredictionBatch.id,
                PredictionBatch.version_id,
                PredictionBatch.received_at,
                PredictionBatch.accepted,
                PredictionBatch.duplicates,
                PredictionBatch.rejected,
                PredictionBatch.ts_min_us,
                PredictionBatch.ts_max_us,
            )
            .where(PredictionBatch.rolled_up_at.is_(None), PredictionBatch.received_at < boundary)
            .order_by(PredictionBatch.id)
            .limit(BATCHES_PER_PASS)
            .with_for_update(skip_locked=True)
        ).all()
        if not batches:
            return appended
        hours: dict[tuple[int, datetime], HourOfIngest] = {}
        for batch in batches:
            key = (batch.version_id, _hour(batch.received_at))
            hours.setdefault(key, HourOfIngest(*key)).add(batch)
        names = version_audit_ids(session, (version_id for version_id, _ in hours))
        for (version_id, _hour_start), hour in sorted(hours.items()):
            audit.append(ROLLED_UP, "model_version", names[version_id], hour.payload())
            appended += 1
        ids = [batch.id for batch in batches]
        for start in range(0, len(ids), 1000):
            session.execute(
                update(PredictionBatch)
                .where(PredictionBatch.id.in_(ids[start : start + 1000]))
                .values(rolled_up_at=now)
            )
        if len(batches) < BATCHES_PER_PASS:
            return appended


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _earliest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)
