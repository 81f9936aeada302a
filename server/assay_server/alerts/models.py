"""Alerts, notification channels, and deliveries (the outbox) with every attempt."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..registry.models import ModelVersion, RegisteredModel
from .masking import masked_url


class AlertStatus(str, enum.Enum):
    """Where an alert stands."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    RESOLVED = "resolved"


ALERT_STATUSES = tuple(s.value for s in AlertStatus)
OPEN_ALERT_STATUSES = (
    AlertStatus.FIRING.value,
    AlertStatus.ACKNOWLEDGED.value,
    AlertStatus.SILENCED.value,
)
SEVERITIES = ("warning", "critical")
#: What ``POST /alerts/bulk`` may do to several alerts at once.
BULK_ACTIONS = ("acknowledge", "resolve")


class ChannelKind(str, enum.Enum):
    """How a channel delivers."""

    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


CHANNEL_KINDS = tuple(k.value for k in ChannelKind)


class DeliveryStatus(str, enum.Enum):
    """Where a delivery stands: pending (due at next_attempt_at), sending (claimed), done."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_STATUSES = tuple(s.value for s in DeliveryStatus)


def subscribes(patterns: Iterable[str], event_type: str) -> bool:
    """True when one of ``patterns`` (``*``, a family as ``alert.*``, or the type itself)
    names ``event_type``."""
    family = event_type.split(".", 1)[0]
    return any(p in ("*", event_type, f"{family}.*") for p in patterns)


class Channel(Base):
    """A named destination for notifications; its secrets are never read back: the URL is
    shown masked (:mod:`.masking`), signing secrets not at all."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(String(2000))
    recipients: Mapped[list[str]]
    # webhook signing secrets, newest first; a second one is kept while a rotation completes
    secrets: Mapped[list[str]]
    previous_secret_expires_at: Mapped[datetime | None]
    # the event types it receives (exact, or a family as "promotion.*"); alert events only
    # reach it from the monitors that name it, or as a default channel of their model
    events: Mapped[list[str]]
    # the models whose lifecycle events it receives (empty: every model)
    models: Mapped[list[str]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]

    def receives(self, event_type: str) -> bool:
        """True when the channel subscribed to ``event_type``; a test reaches every channel."""
        return event_type == "test" or subscribes(self.events or (), event_type)

    @property
    def has_secret(self) -> bool:
        """True when webhook deliveries are signed."""
        return bool(self.secrets)

    @property
    def masked_url(self) -> str | None:
        """The URL as anybody may see it: a Slack path, a password, query values masked."""
        return masked_url(self.kind, self.url)


class ModelDefaultChannel(Base):
    """A channel every monitor of a model notifies when the monitor names none."""

    __tablename__ = "model_default_channels"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)


class Alert(Base):
    """An incident: a failing (monitor, check), one open at a time, carrying every failing
    finding (``figures["findings"]``, worst first); ``subject`` and ``severity`` are the worst
    finding's. Repeats and new findings update it. ``report_id`` is the latest report; a
    failed run (check ``monitor_failed``) has none."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_key",
            "monitor_id",
            "check",
            "subject",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_alerts_model_status", "model_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    check: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]]
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    count: Mapped[int]
    ok_streak: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_notified_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None]
    acknowledge_comment: Mapped[str | None] = mapped_column(Text)
    silenced_until: Mapped[datetime | None]
    silenced_by: Mapped[str | None] = mapped_column(String(100))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    resolve_comment: Mapped[str | None] = mapped_column(Text)

    model: Mapped[RegisteredModel] = relationship()
    version: Mapped[ModelVersion] = relationship()

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version

    @property
    def audit_id(self) -> str:
        """How audit events name this alert."""
        return f"{self.model.name}/alerts/{self.id}"

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Every failing finding of the incident, worst first (an alert raised before
        incidents existed has its one finding)."""
        figures = self.figures or {}
        if "findings" in figures:
            return list(figures["findings"] or [])
        finding = figures.get("finding")
        return [dict(finding, severity=self.severity)] if finding else []

    def event_payload(self, **extra: Any) -> dict[str, Any]:
        """What an ``alert.*`` domain event says about this alert, with ``extra``."""
        return {
            "alert_id": self.id,
            "monitor_id": self.monitor_id,
            "model_id": self.model_id,
            "version_id": self.version_id,
            "check": self.check,
            "subject": self.subject,
            "severity": self.severity,
            "status": self.status,
            "report_id": self.report_id,
            **extra,
        }


class Delivery(Base):
    """One notification to one channel: a row of the outbox, written with the alert change."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    channel: Mapped[Channel] = relationship()
    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        order_by="DeliveryAttempt.id", back_populates="delivery"
    )

    @property
    def channel_name(self) -> str:
        """The channel's name."""
        return self.channel.name


class DeliveryAttempt(Base):
    """One try at a delivery: when, the answer, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float]
    worker: Mapped[str | None] = mapped_column(String(200))

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")
