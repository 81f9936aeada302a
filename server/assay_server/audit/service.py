"""The audit trail's rules: every service appends here, in the caller's transaction."""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
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

from assay.auditchain import (
    GENESIS_HASH,
    ChainVerification,
    Checkpoint,
    event_hash,
    verify_records,
)

from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT, Database
from ..errors import AssayError, ValidationFailed
from .models import AuditChainHead, AuditCheckpoint, AuditEvent
from .signing import signing_key

log = logging.getLogger(__name__)

HEAD_ID = 1
MAX_PAYLOAD_BYTES = 64 * 1024
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)
_ADVANCE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_LOCKED_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_CHECKPOINT_AT = select(_CHECKPOINTS).where(
    _CHECKPOINTS.c.seq == bindparam("seq"), _CHECKPOINTS.c.key_id == bindparam("key_id")
)


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
class CheckpointPage:
    """A page of checkpoints, the total, and the cursor (a seq) for the next page."""

    items: builtins.list[Checkpoint]
    total: int
    next_cursor: int | None


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
        is not added to the session. Every ``audit_checkpoint_every``-th event also gets a
        signed checkpoint, in the same transaction.
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
        every = self.ctx.settings.audit_checkpoint_every
        if every and event.seq % every == 0:
            self._checkpoint_in_passing(connection, event.seq, event.hash)
        return event

    def _checkpoint_in_passing(self, connection: Connection, seq: int, head_hash: str) -> None:
        """Sign a checkpoint on the way; a key that cannot be used costs the checkpoint (it is
        logged, and the next export fails loudly), never the change being audited."""
        try:
            key = signing_key(self.ctx.settings)
        except AssayError:
            log.error("audit checkpoint of seq %s skipped: the signing key cannot be used", seq)
            return
        self._store_checkpoint(connection, key.sign(seq, head_hash, self.ctx.clock()))

    @staticmethod
    def _store_checkpoint(connection: Connection, checkpoint: Checkpoint) -> Checkpoint:
        """Store ``checkpoint`` unless one of its seq by its key exists; return the stored one.

        An existing one with another hash is evidence (the chain was rewritten after it was
        signed): it is kept, and verification will name it.
        """
        stored = connection.execute(
            _CHECKPOINT_AT, {"seq": checkpoint.seq, "key_id": checkpoint.key_id}
        ).one_or_none()
        if stored is not None:
            if stored.hash != checkpoint.hash:
                log.warning("the audit chain at seq %s differs from its checkpoint", checkpoint.seq)
            return _as_checkpoint(stored)
        connection.execute(
            _INSERT_CHECKPOINT,
            {**checkpoint.to_json(), "timestamp": _parse_timestamp(checkpoint.timestamp)},
        )
        return checkpoint

    def sign_head(self) -> Checkpoint:
        """Sign the chain head now (unless it is signed already), locking the head until the
        transaction ends, and return its checkpoint."""
        self.session.flush()
        connection = self.session.connection()
        head_seq, head_hash = self._locked_head(connection)
        key = signing_key(self.ctx.settings)
        return self._store_checkpoint(connection, key.sign(head_seq, head_hash, self.ctx.clock()))

    def checkpoints(self, *, after_seq: int = 0, limit: int = 100) -> CheckpointPage:
        """Checkpoints with ``seq > after_seq``, oldest first."""
        total = self.session.scalar(select(func.count()).select_from(_CHECKPOINTS)) or 0
        rows = self.session.execute(
            select(_CHECKPOINTS)
            .where(_CHECKPOINTS.c.seq > after_seq)
            .order_by(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.key_id)
            .limit(limit + 1)
        ).all()
        items = [_as_checkpoint(row) for row in rows[:limit]]
        next_cursor = items[-1].seq if len(rows) > limit else None
        return CheckpointPage(items=items, total=total, next_cursor=next_cursor)

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

    def _iter_checkpoints(self, up_to_seq: int, batch: int = 1000) -> Iterator[Checkpoint]:
        """Checkpoints up to ``up_to_seq`` in (seq, key id) order, read in batches."""
        after: tuple[int, str] = (-1, "")
        while True:
            rows = self.session.execute(
                select(_CHECKPOINTS)
                .where(
                    or_(
                        _CHECKPOINTS.c.seq > after[0],
                        (_CHECKPOINTS.c.seq == after[0]) & (_CHECKPOINTS.c.key_id > after[1]),
                    ),
                    _CHECKPOINTS.c.seq <= up_to_seq,
                )
                .order_by(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.key_id)
                .limit(batch)
            ).all()
            if not rows:
                return
            for row in rows:
                yield _as_checkpoint(row)
            after = (rows[-1].seq, rows[-1].key_id)

    def _records(self, head_seq: int, checkpoints_up_to: int) -> Iterator[Any]:
        """Events up to ``head_seq``, each checkpoint right after the event it covers; then
        checkpoints past the head (there are none unless events were deleted from the end)."""
        checkpoints = self._iter_checkpoints(checkpoints_up_to)
        upcoming = next(checkpoints, None)
        for event in self.iter_events(up_to_seq=head_seq):
            while upcoming is not None and upcoming.seq < event["seq"]:
                yield upcoming
                upcoming = next(checkpoints, None)
            yield event
        while upcoming is not None:
            yield upcoming
            upcoming = next(checkpoints, None)

    def last_checkpoint_seq(self) -> int:
        """The highest seq any checkpoint covers (0 if none). Read it before the head: a
        checkpoint committed meanwhile is then never past the head, and one past it means
        events were deleted from the end."""
        return self.session.scalar(select(func.max(_CHECKPOINTS.c.seq))) or 0

    def verify(self) -> ChainVerification:
        """Recompute every hash from the stored events, compare with the chain head, and check
        every stored checkpoint: signed by the server's key, and matching the chain at its seq."""
        checkpoints_up_to = self.last_checkpoint_seq()
        head = self.head()
        public_key = signing_key(self.ctx.settings).public_pem
        return verify_records(
            self._records(head["seq"], max(checkpoints_up_to, head["seq"])),
            head=head,
            public_keys=[public_key],
        )

    def export_lines(
        self, head: Mapping[str, Any] | None = None, *, checkpoints_up_to: int | None = None
    ) -> Iterator[str]:
        """The trail as JSON Lines: each event, each checkpoint after the event it covers,
        then the chain head it was read against (``head``, else the stored one)."""
        if head is None:
            checkpoints_up_to = self.last_checkpoint_seq()
            head = self.head()
        bound = max(checkpoints_up_to or 0, head["seq"])
        for record in self._records(head["seq"], bound):
            if isinstance(record, Checkpoint):
                record = {"checkpoint": record.to_json()}
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        yield json.dumps({"chain_head": dict(head)}, separators=(",", ":")) + "\n"


def export_trail(database: Database, ctx: ServiceContext) -> Iterator[str]:
    """Sign the chain head (a unit of work of its own, before anything is sent, so a key that
    cannot be used is an error answer), then stream the trail as JSON Lines up to that head:
    the export always ends with a checkpoint of its own head."""
    with database.unit_of_work() as session:
        trail = AuditTrail(session, ctx)
        checkpoints_up_to = trail.last_checkpoint_seq()
        signed = trail.sign_head()
        head = trail.head()

    def lines() -> Iterator[str]:
        with database.unit_of_work(write=False) as session:
            yield from AuditTrail(session, ctx).export_lines(
                head, checkpoints_up_to=max(checkpoints_up_to, signed.seq)
            )

    return lines()


def _as_checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        seq=row.seq,
        hash=row.hash,
        timestamp=row.timestamp.strftime(TIMESTAMP_FORMAT),
        key_id=row.key_id,
        signature=row.signature,
    )


def _parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
