"""Read-only queries of the trail for the audit log page: newest first, by keyset pages.

The API lists the trail oldest first (what an auditor replays); a person reading the log
wants the latest change on top, so these page backwards from a seq instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from .models import AuditCheckpoint, AuditEvent
from .service import AuditFilters, AuditTrail

_CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)


@dataclass(frozen=True)
class RecentEvents:
    """A page of events, newest first; ``older_than`` is the seq to ask for the next page
    (None on the last page); ``total`` counts every event matching the filters."""

    items: list[AuditEvent]
    total: int
    older_than: int | None


def recent_events(
    session: Session, filters: AuditFilters, *, before_seq: int | None = None, limit: int = 50
) -> RecentEvents:
    """Events matching ``filters`` with ``seq < before_seq`` (all when None), newest first."""
    query = AuditTrail._filtered(select(AuditEvent), filters)
    counted = AuditTrail._filtered(select(func.count()).select_from(AuditEvent), filters)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    rows = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    older_than = rows[limit - 1].seq if len(rows) > limit else None
    return RecentEvents(
        items=rows[:limit], total=session.scalar(counted) or 0, older_than=older_than
    )


def known_actions(session: Session) -> list[str]:
    """Every action the trail holds, sorted (the choices of the page's action filter)."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def known_target_types(session: Session) -> list[str]:
    """Every kind of target the trail holds, sorted (the choices of the target filter)."""
    query = select(AuditEvent.target_type).distinct().order_by(AuditEvent.target_type)
    return list(session.scalars(query))


@dataclass(frozen=True)
class LastCheckpoint:
    """The newest signed checkpoint: the seq it covers, when, and by which key."""

    seq: int
    timestamp: datetime
    key_id: str


def last_checkpoint(session: Session) -> LastCheckpoint | None:
    """The checkpoint covering the highest seq (None before the first is signed)."""
    row = session.execute(
        select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.timestamp, _CHECKPOINTS.c.key_id)
        .order_by(_CHECKPOINTS.c.seq.desc(), _CHECKPOINTS.c.key_id)
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return LastCheckpoint(seq=row.seq, timestamp=row.timestamp, key_id=row.key_id)
