"""Audit events, the chain head (the one row every append locks) and signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import TIMESTAMP_FORMAT, Base


class AuditEvent(Base):
    """One change: who, what, when, and the hash linking it to the event before."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timestamp: Mapped[datetime] = mapped_column(index=True)
    actor_token_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def chain_fields(self) -> dict[str, Any]:
        """The event as the chain hashes and exports it."""
        return {
            "seq": self.seq,
            "timestamp": self.timestamp.strftime(TIMESTAMP_FORMAT),
            "actor_token_id": self.actor_token_id,
            "actor_name": self.actor_name,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "request_id": self.request_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class AuditChainHead(Base):
    """The last event's seq and hash. Locking this row serialises appends across processes."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """The server's Ed25519 signature over the chain's hash at ``seq``: made every
    ``ASSAY_AUDIT_CHECKPOINT_EVERY`` events, and of the head at every export."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime]
    signature: Mapped[str] = mapped_column(String(88))  # base64 of 64 bytes
