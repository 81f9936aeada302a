"""The outbox: notifications written in the alert's transaction, delivered by the scheduler.

:func:`enqueue` adds one delivery per channel in the caller's session, so an alert change and
its notifications commit or roll back together. :class:`Outbox` runs in the scheduler: it
claims due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and on SQLite one scheduler
leads), sends each outside any transaction, and records the attempt. Failures retry after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (±10% jitter); after that the delivery is
``failed``. Every attempt of a delivery carries the same event id: receivers get each event
at least once and should use the id to drop repeats.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import Database, utcnow
from ..events import DomainEvent
from ..monitoring.models import Monitor, Report
from ..settings import Settings
from .models import (
    Alert,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    ModelDefaultChannel,
)
from .render import Notification
from .senders import Attempt, SmtpConfig, deliver
from .senders import Channel as ChannelData

log = logging.getLogger(__name__)

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1
CLAIM_SECONDS = 60
BATCH = 20

#: Set when deliveries are written in this process, so its outbox job runs at once.
wake = threading.Event()


def new_event_id() -> str:
    """An event id: ``evt_`` and 26 url-safe characters."""
    return "evt_" + secrets.token_urlsafe(20)[:26]


def channels_of(session: Session, monitor: Monitor) -> list[Channel]:
    """The monitor's channels by name, else its model's default channels."""
    if monitor.channels:
        found = session.scalars(select(Channel).where(Channel.name.in_(monitor.channels)))
        return sorted(found, key=lambda c: monitor.channels.index(c.name))
    return list(
        session.scalars(
            select(Channel)
            .join(ModelDefaultChannel, ModelDefaultChannel.channel_id == Channel.id)
            .where(ModelDefaultChannel.model_id == monitor.model_id)
            .order_by(Channel.name)
        )
    )


def notification_for(
    ctx: ServiceContext,
    alert: Alert,
    event_type: str,
    report: Report | None,
    finding: dict[str, Any] | None,
) -> Notification:
    """What an alert transition says, on every channel (a failed run's alert has no report)."""
    base = ctx.settings.public_url
    return Notification(
        event_id=new_event_id(),
        type=event_type,
        occurred_at=ctx.clock(),
        model=alert.model.name if alert.model else None,
        version=alert.version.version if alert.version else None,
        check=alert.check,
        subject=alert.subject,
        severity=alert.severity,
        status=alert.status,
        summary=alert.summary,
        figures=dict(alert.figures or {}),
        top=top_of(alert, finding),
        report_url=f"{base}/reports/{report.id}" if report is not None else None,
        alert_url=f"{base}/alerts?status=all#alert-{alert.id}",
        alert_id=alert.id,
        report_id=report.id if report is not None else None,
    )


def top_of(alert: Alert, finding: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a notification lists: the incident's findings, worst first — or, when its one
    finding carries them, that finding's top drifted columns or worst groups. A resolution
    (no finding) lists nothing."""
    if finding is None:
        return []
    nested = list(finding.get("columns") or finding.get("groups") or [])
    findings = alert.findings
    if nested and len(findings) <= 1:
        return nested[:5]
    return findings


def on_alert_event(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """Queue the notification an ``alert.*`` event calls for (``payload["notify"]``) to the
    channels of the alert's monitor, in the transaction of the change."""
    notify = event.payload.get("notify")
    if not notify:
        return
    alert = session.get(Alert, event.payload["alert_id"])
    report_id = event.payload.get("report_id")
    report = session.get(Report, report_id) if report_id is not None else None
    if alert is None or (report_id is not None and report is None):
        return
    monitor = session.get(Monitor, alert.monitor_id)
    if monitor is None:
        return
    enqueue(session, ctx, alert, notify, monitor, report, event.payload.get("finding"))


def enqueue(
    session: Session,
    ctx: ServiceContext,
    alert: Alert,
    event_type: str,
    monitor: Monitor,
    report: Report | None,
    finding: dict[str, Any] | None,
) -> list[Delivery]:
    """Queue ``event_type`` about ``alert`` to each of the monitor's channels."""
    session.flush()
    session.refresh(alert, ["model", "version"])
    rows = []
    for channel in channels_of(session, monitor):
        if not channel.receives(event_type):
            continue
        notification = notification_for(ctx, alert, event_type, report, finding)
        rows.append(queue_notification(session, ctx, channel, notification, alert_id=alert.id))
    return rows


def queue_notification(
    session: Session,
    ctx: ServiceContext,
    channel: Channel,
    notification: Notification,
    *,
    alert_id: int | None = None,
) -> Delivery:
    """Add one delivery of ``notification`` to ``channel``, due now."""
    now = ctx.clock()
    delivery = Delivery(
        event_id=notification.event_id,
        event_type=notification.type,
        channel_id=channel.id,
        alert_id=alert_id,
        payload=notification.as_json(),
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    wake.set()
    return delivery


def notification_from(payload: dict[str, Any]) -> Notification:
    """Rebuild the notification a delivery stores (its event id is kept)."""
    data = payload.get("data") or {}
    occurred = payload.get("timestamp")
    when = datetime.fromisoformat(occurred.replace("Z", "+00:00")) if occurred else utcnow()
    return Notification(
        event_id=payload["id"],
        type=payload["type"],
        occurred_at=when,
        model=data.get("model"),
        version=data.get("version"),
        check=data.get("check"),
        subject=data.get("subject"),
        severity=data.get("severity"),
        status=data.get("status"),
        summary=data.get("summary") or "",
        figures=data.get("figures") or {},
        top=data.get("top") or [],
        report_url=data.get("report_url"),
        alert_url=data.get("alert_url"),
        alert_id=data.get("alert_id"),
        report_id=data.get("report_id"),
    )


def next_delay(attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """How long after failed attempt number ``attempts`` the next one is due; None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return base * factor


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """The SMTP server from ``ASSAY_SMTP_*``, or None when none is configured."""
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port_or_default,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        sender=settings.smtp_from,
        timeout=settings.smtp_timeout_seconds,
    )


def channel_data(channel: Channel, now: datetime) -> ChannelData:
    """The plain data a sender needs; an expired previous secret is no longer used."""
    active = list(channel.secrets or [])
    expired = channel.previous_secret_expires_at is not None and (
        channel.previous_secret_expires_at <= now
    )
    if expired:
        active = active[:1]
    return ChannelData(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        url=channel.url,
        secrets=active,
        recipients=list(channel.recipients or []),
    )


class Outbox:
    """Delivers due deliveries; safe to run in several processes at once."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        send: Callable[..., Attempt] = deliver,
        worker: str = "",
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.send = send
        self.worker = worker

    def run_once(self) -> int:
        """Deliver every due delivery (in batches); the number of attempts made."""
        made = 0
        while True:
            claimed = self._claim()
            if not claimed:
                return made
            for delivery_id in claimed:
                self._attempt(delivery_id)
                made += 1

    def _claim(self) -> list[int]:
        now = self.clock()
        with self.database.unit_of_work() as session:
            due = list(
                session.scalars(
                    select(Delivery)
                    .where(
                        or_(
                            (Delivery.status == DeliveryStatus.PENDING.value)
                            & (Delivery.next_attempt_at <= now),
                            (Delivery.status == DeliveryStatus.SENDING.value)
                            & (Delivery.claimed_until < now),
                        )
                    )
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for delivery in due:
                delivery.status = DeliveryStatus.SENDING.value
                delivery.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
            return [d.id for d in due]

    def _attempt(self, delivery_id: int) -> None:
        with self.database.unit_of_work(write=False) as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:  # deleted with its channel since it was claimed
                return
            channel = channel_data(delivery.channel, self.clock())
            notification = notification_from(delivery.payload)
        attempted_at = self.clock()
        attempt = self.send(
            channel,
            notification,
            smtp=smtp_config(self.settings),
            allow_private=self.settings.webhook_allow_private,
        )
        self.record(delivery_id, attempt, attempted_at)

    def record(self, delivery_id: int, attempt: Attempt, attempted_at: datetime) -> None:
        """Log an attempt and decide what is next: delivered, retry later, or failed."""
        with self.database.unit_of_work() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    attempted_at=attempted_at,
                    ok=attempt.ok,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                    worker=self.worker or None,
                )
            )
            delivery.claimed_until = None
            if attempt.ok:
                delivery.status = DeliveryStatus.DELIVERED.value
                delivery.delivered_at = self.clock()
                delivery.next_attempt_at = None
                delivery.last_error = None
                return
            delivery.last_error = attempt.error
            delay = next_delay(delivery.attempts)
            if delay is None:
                delivery.status = DeliveryStatus.FAILED.value
                delivery.next_attempt_at = None
                log.warning(
                    "delivery %s (%s) failed after %s attempts: %s",
                    delivery.id,
                    delivery.event_id,
                    delivery.attempts,
                    attempt.error,
                )
            else:
                delivery.status = DeliveryStatus.PENDING.value
                delivery.next_attempt_at = self.clock() + delay
