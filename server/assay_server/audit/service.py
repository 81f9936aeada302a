"""The audit trail's rules: every service appends here, in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from assay.auditchain import GENESIS_HASH, ChainVerification, event_hash, verify_chain

from ..context import ServiceContext
from ..errors import ValidationFailed
from .models import AuditChainHead, AuditEvent

HEAD_ID = 1
MAX_PAYLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuditFilters:
    """Which events to list."""

    target_type: str | None = None
    target_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    """A page of events, the total matching, and the cursor for the next page."""

    items: list[AuditEvent]
    total: int
    next_cursor: int | None


class AuditTrail:
    """Append, list, verify and export the hash-chained trail."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def append(
        self, action: str, target_type: str, target_id: str, payload: dict[str, Any] | None = None
    ) -> AuditEvent:
        """Add an event after the chain head, locking the head until the transaction ends."""
        payload = payload or {}
        if len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
            raise ValidationFailed("audit payload too large", details={"payload": ["too large"]})
        head = self._locked_head()
        event = AuditEvent(
            seq=head.seq + 1,
            timestamp=self.ctx.clock(),
            actor_token_id=self.ctx.actor.token_id,
            actor_name=self.ctx.actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            request_id=self.ctx.request_id,
            payload=payload,
            prev_hash=head.hash,
            hash="",
        )
        event.hash = event_hash(head.hash, event.chain_fields())
        head.seq, head.hash = event.seq, event.hash
        self.session.add(event)
        self.session.flush()
        return event

    def _locked_head(self) -> AuditChainHead:
        query = select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
        head = self.session.execute(query).scalar_one_or_none()
        if head is None:  # a store created without the migration that seeds the row
            head = AuditChainHead(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
            self.session.add(head)
            self.session.flush()
        return head

    def head(self) -> dict[str, Any]:
        """The chain head as ``{"seq", "hash"}`` (seq 0 for an empty trail)."""
        row = self.session.get(AuditChainHead, HEAD_ID)
        if row is None:
            return {"seq": 0, "hash": GENESIS_HASH}
        return {"seq": row.seq, "hash": row.hash}

    def list(self, filters: AuditFilters, *, after_seq: int = 0, limit: int = 100) -> AuditPage:
        """Events matching ``filters`` with ``seq > after_seq``, oldest first."""
        query = self._filtered(select(AuditEvent), filters)
        total = (
            self.session.scalar(
                self._filtered(select(func.count()).select_from(AuditEvent), filters)
            )
            or 0
        )
        rows = list(
            self.session.scalars(
                query.where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq).limit(limit + 1)
            )
        )
        next_cursor = rows[limit - 1].seq if len(rows) > limit else None
        return AuditPage(items=rows[:limit], total=total, next_cursor=next_cursor)

    @staticmethod
    def _filtered(query: Select[Any], filters: AuditFilters) -> Select[Any]:
        if filters.target_type:
            query = query.where(AuditEvent.target_type == filters.target_type)
        if filters.target_id:
            query = query.where(AuditEvent.target_id == filters.target_id)
        if filters.actor:
            query = query.where(AuditEvent.actor_name == filters.actor)
        if filters.action:
            query = query.where(AuditEvent.action == filters.action)
        if filters.since:
            query = query.where(AuditEvent.timestamp >= filters.since)
        if filters.until:
            query = query.where(AuditEvent.timestamp < filters.until)
        return query

    def iter_events(
        self, *, up_to_seq: int | None = None, batch: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every event in seq order, as the chain exports it, read in batches."""
        last = 0
        while True:
            query = select(AuditEvent).where(AuditEvent.seq > last)
            if up_to_seq is not None:
                query = query.where(AuditEvent.seq <= up_to_seq)
            rows = list(self.session.scalars(query.order_by(AuditEvent.seq).limit(batch)))
            if not rows:
                return
            for row in rows:
                yield row.chain_fields()
            last = rows[-1].seq
            self.session.expunge_all()

    def verify(self) -> ChainVerification:
        """Recompute every hash from the stored events and compare with the chain head."""
        head = self.head()
        return verify_chain(self.iter_events(up_to_seq=head["seq"]), head=head)

    def export_lines(self) -> Iterator[str]:
        """The trail as JSON Lines: each event, then the chain head it was read against."""
        head = self.head()
        for event in self.iter_events(up_to_seq=head["seq"]):
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        yield json.dumps({"chain_head": head}, separators=(",", ":")) + "\n"
