"""The audit trail's rules: every service appends here, in the caller's transaction."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from assay.auditchain import GENESIS_HASH, ChainVerification, event_hash, verify_chain

from ..context import ServiceContext
from ..errors import ValidationFailed
from .models import AuditChainHead, AuditEvent

HEAD_ID = 1
MAX_PAYLOAD_BYTES = 64 * 1024
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_INSERT_EVENT = insert(_EVENTS)
_ADVANCE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_LOCKED_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()


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

    items: builtins.list[AuditEvent]
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
        """Add an event after the chain head, locking the head until the transaction ends.

        Three plain statements (read the head, insert the event, move the head) rather than
        ORM objects: this runs in every write transaction, on SQLite while the write lock is
        held, and cost 0.42 ms through the ORM against 0.13 ms this way. The event returned
        is not added to the session.
        """
        payload = payload or {}
        if len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
            raise ValidationFailed("audit payload too large", details={"payload": ["too large"]})
        self.session.flush()  # the change being audited reaches the store before its event
        connection = self.session.connection()
        head_seq, head_hash = self._locked_head(connection)
        event = AuditEvent(
            seq=head_seq + 1,
            timestamp=self.ctx.clock(),
            actor_token_id=self.ctx.actor.token_id,
            actor_name=self.ctx.actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            request_id=self.ctx.request_id,
            payload=payload,
            prev_hash=head_hash,
            hash="",
        )
        event.hash = event_hash(head_hash, event.chain_fields())
        connection.execute(
            _INSERT_EVENT, {column.name: getattr(event, column.key) for column in _EVENTS.columns}
        )
        connection.execute(_ADVANCE_HEAD, {"new_seq": event.seq, "new_hash": event.hash})
        return event

    @staticmethod
    def _locked_head(connection: Connection) -> tuple[int, str]:
        head = connection.execute(_LOCKED_HEAD).one_or_none()
        if head is None:  # a store created without the migration that seeds the row
            connection.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
            return 0, GENESIS_HASH
        return head.seq, head.hash

    def head(self) -> dict[str, Any]:
        """The chain head as ``{"seq", "hash"}`` (seq 0 for an empty trail)."""
        row = self.session.execute(
            select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
        ).one_or_none()
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

    def events_about(
        self, targets: Sequence[tuple[str, str]], *, action: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Every event about any of ``targets`` (``(target_type, target_id)``), of one
        ``action`` if given, in seq order, as the chain exports them."""
        if not targets:
            return []
        about = or_(
            *(
                (AuditEvent.target_type == kind) & (AuditEvent.target_id == target_id)
                for kind, target_id in targets
            )
        )
        query = select(AuditEvent).where(about)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return [row.chain_fields() for row in self.session.scalars(query.order_by(AuditEvent.seq))]

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
