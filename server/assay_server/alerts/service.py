"""Alerts (list, acknowledge, resolve, silence), channels (CRUD, test) and deliveries.

Channels are :mod:`.channels`' business (re-exported here); their secrets and passwords are
write-only, see there.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, ValidationFailed
from ..registry.service import RegistryService
from .channels import ROTATION_OVERLAP, ChannelService, CreatedChannel, describe
from .models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertStatus,
    Channel,
    Delivery,
    DeliveryStatus,
)
from .outbox import wake

__all__ = [
    "ROTATION_OVERLAP",
    "AlertFilters",
    "AlertService",
    "BulkOutcome",
    "ChannelService",
    "CreatedChannel",
    "DeliveryService",
    "describe",
]


@dataclass(frozen=True)
class AlertFilters:
    """What an alert listing is narrowed by."""

    model: str | None = None
    status: str | None = None
    severity: str | None = None
    check: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk change did to one alert: changed (``alert``), or why not (``error``)."""

    id: int
    alert: Alert | None = None
    error: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        """True when the alert was changed."""
        return self.error is None


class AlertService:
    """Read alerts and move them through their lifecycle (every transition audited)."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def list(self, filters: AlertFilters, *, limit: int = 100) -> builtins.list[Alert]:
        """Alerts, newest first."""
        query = select(Alert).options(joinedload(Alert.model), joinedload(Alert.version))
        if filters.model:
            model = RegistryService(self.session, self.ctx).get_model(filters.model)
            query = query.where(Alert.model_id == model.id)
        if filters.status == "open":
            query = query.where(Alert.status.in_(OPEN_ALERT_STATUSES))
        elif filters.status:
            query = query.where(Alert.status == filters.status)
        if filters.severity:
            query = query.where(Alert.severity == filters.severity)
        if filters.check:
            query = query.where(Alert.check == filters.check)
        if filters.since:
            query = query.where(Alert.last_seen >= filters.since)
        if filters.until:
            query = query.where(Alert.first_seen < filters.until)
        return list(self.session.scalars(query.order_by(Alert.id.desc()).limit(limit)))

    def get(self, alert_id: int) -> Alert:
        """One alert, or :class:`NotFound`."""
        alert = self.session.get(Alert, alert_id)
        if alert is None:
            raise NotFound(f"No alert {alert_id}.")
        return alert

    def acknowledge(self, alert_id: int, comment: str) -> Alert:
        """Someone is on it: no repeat notifications (an escalation still notifies)."""
        alert = self._open(alert_id)
        alert.status = AlertStatus.ACKNOWLEDGED.value
        alert.acknowledged_by = self.ctx.actor.name
        alert.acknowledged_at = self.ctx.clock()
        alert.acknowledge_comment = comment
        self._audit(alert, "alert.acknowledged", {"comment": comment})
        return alert

    def resolve(self, alert_id: int, comment: str) -> Alert:
        """Close the alert by hand; a later failing run opens a new one."""
        alert = self._open(alert_id)
        alert.status = AlertStatus.RESOLVED.value
        alert.resolved_by = self.ctx.actor.name
        alert.resolved_at = self.ctx.clock()
        alert.resolve_comment = comment
        self._audit(alert, "alert.resolved", {"by": self.ctx.actor.name, "comment": comment})
        return alert

    def silence(self, alert_id: int, until: datetime, comment: str) -> Alert:
        """No notifications until ``until`` (escalations included)."""
        if until <= self.ctx.clock():
            raise ValidationFailed("", details={"until": ["Must be in the future."]})
        alert = self._open(alert_id)
        alert.status = AlertStatus.SILENCED.value
        alert.silenced_until = until
        alert.silenced_by = self.ctx.actor.name
        self._audit(alert, "alert.silenced", {"until": until.isoformat(), "comment": comment})
        return alert

    def bulk(self, ids: Iterable[int], action: str, comment: str) -> builtins.list[BulkOutcome]:
        """Acknowledge or resolve several alerts, each as its own audited change; an alert
        that cannot be changed (unknown, resolved) is reported, the others still change."""
        changes = {"acknowledge": self.acknowledge, "resolve": self.resolve}
        if action not in changes:
            raise ValidationFailed("", details={"action": [f"One of {', '.join(changes)}."]})
        change = changes[action]
        outcomes = []
        for alert_id in dict.fromkeys(ids):
            try:
                outcomes.append(BulkOutcome(alert_id, alert=change(alert_id, comment)))
            except (NotFound, Conflict) as exc:  # refused before anything changed
                error = {"code": exc.code, "message": exc.message}
                outcomes.append(BulkOutcome(alert_id, error=error))
        return outcomes

    def _open(self, alert_id: int) -> Alert:
        alert = self.get(alert_id)
        if alert.status == AlertStatus.RESOLVED.value:
            raise Conflict(f"Alert {alert_id} is resolved.")
        return alert

    def _audit(self, alert: Alert, action: str, extra: dict[str, Any]) -> None:
        """Audit and publish a person's change to an alert (it notifies no channel)."""
        AuditTrail(self.session, self.ctx).append(
            action,
            "alert",
            alert.audit_id,
            {"alert_id": alert.id, "status": alert.status, **extra},
        )
        payload = alert.event_payload(**{"by": self.ctx.actor.name, "notify": None, **extra})
        self.ctx.events.publish(self.session, self.ctx, action, payload)


class DeliveryService:
    """The delivery log: list, inspect, redeliver."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def list(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        alert_id: int | None = None,
        alert_ids: Iterable[int] | None = None,
        limit: int = 100,
    ) -> builtins.list[Delivery]:
        """Deliveries, newest first (``alert_ids``: of any of these alerts)."""
        query = select(Delivery).options(
            joinedload(Delivery.channel), selectinload(Delivery.attempt_log)
        )
        if status:
            query = query.where(Delivery.status == status)
        if channel:
            query = query.join(Delivery.channel).where(Channel.name == channel)
        if alert_id is not None:
            query = query.where(Delivery.alert_id == alert_id)
        if alert_ids is not None:
            query = query.where(Delivery.alert_id.in_(list(alert_ids)))
        return list(self.session.scalars(query.order_by(Delivery.id.desc()).limit(limit)))

    def get(self, delivery_id: int) -> Delivery:
        """One delivery with its attempts, or :class:`NotFound`."""
        delivery = self.session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"No delivery {delivery_id}.")
        return delivery

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send a delivered or failed notification again, now, with the same event id."""
        delivery = self.get(delivery_id)
        if delivery.status in (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value):
            raise Conflict(f"Delivery {delivery_id} is already queued.")
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = self.ctx.clock()
        delivery.attempts = 0
        AuditTrail(self.session, self.ctx).append(
            "delivery.redelivered",
            "delivery",
            str(delivery.id),
            {"event_id": delivery.event_id, "channel": delivery.channel.name},
        )
        wake.set()
        return delivery
