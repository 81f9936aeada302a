"""Which events a channel receives, and the lifecycle events that reach channels.

A channel subscribes to event types (``Channel.events``): exact types, or a family as
``promotion.*``, or ``*``; a new channel has ``["alert.*"]``, what every channel received
before subscriptions existed. Alert notifications still reach only the channels of the
monitor that raised them (or its model's defaults) — a subscription can only narrow them.
Lifecycle events (a version registered, a stage changed, a promotion's steps, a failed
monitor run) reach every channel subscribed to them, limited to ``Channel.models`` when it
names any. Each goes through the outbox like an alert: signed, retried, in the delivery log,
written in the transaction of the change that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..events import DomainEvent
from ..monitoring.models import Monitor
from ..registry.models import RegisteredModel
from .models import Channel, subscribes
from .outbox import new_event_id, queue_notification
from .render import Notification

ALERT_EVENTS = ("alert.firing", "alert.escalated", "alert.resolved")
ROLLOUT_EVENTS = (
    "rollout.started",
    "rollout.advanced",
    "rollout.halted",
    "rollout.resumed",
    "rollout.rolled_back",
    "rollout.completed",
)
LIFECYCLE_EVENTS = (
    "version.registered",
    "stage.changed",
    "alias.changed",
    "promotion.requested",
    "promotion.blocked",
    "promotion.approved",
    "promotion.rejected",
    "promotion.cancelled",
    "monitor.run_failed",
    "retraining.suggested",
    *ROLLOUT_EVENTS,
)
#: Every type a channel may subscribe to.
DELIVERED_EVENTS = (*ALERT_EVENTS, *LIFECYCLE_EVENTS)
DEFAULT_EVENTS = ("alert.*",)
#: The domain events the lifecycle subscriber is connected to (``wiring.py``).
PUBLISHED_LIFECYCLE_EVENTS = (
    "version.registered",
    "stage.changed",
    "alias.changed",
    "promotion.requested",
    "promotion.approved",
    "promotion.rejected",
    "promotion.cancelled",
    "monitor.run_failed",
    "retraining.suggested",
    *ROLLOUT_EVENTS,
)


def invalid_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns that match no deliverable event type."""
    return [p for p in patterns if not any(subscribes([p], kind) for kind in DELIVERED_EVENTS)]


def on_lifecycle_event(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """Queue a lifecycle event to every channel subscribed to it (and to its model), in the
    transaction of the change."""
    payload = dict(event.payload)
    model = payload.get("model")
    kind = event.name
    if kind == "promotion.requested" and payload.get("status") == "blocked":
        kind = "promotion.blocked"
    if kind == "monitor.run_failed":
        model, payload = _run_failure(session, payload)
    channels = session.scalars(select(Channel).order_by(Channel.name))
    receivers = [c for c in channels if c.receives(kind) and (not c.models or model in c.models)]
    if not receivers:
        return
    notification = _notification(ctx, kind, model, payload)
    for channel in receivers:
        queue_notification(session, ctx, channel, replace(notification, event_id=new_event_id()))


def _run_failure(session: Session, payload: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    monitor = session.get(Monitor, payload.get("monitor_id"))
    model = session.get(RegisteredModel, payload.get("model_id"))
    named = {**payload, "monitor": monitor.name if monitor else None}
    return (model.name if model else None), named


_SUMMARIES = {
    "version.registered": "version {version} of {model} registered",
    "stage.changed": "{model} v{version} moved from {from} to {stage} by {changed_by}",
    "alias.changed": "alias {alias} of {model} {change} by {changed_by}",
    "promotion.requested": "promotion of {model} v{version} to {target} requested: {status}",
    "promotion.blocked": "promotion of {model} v{version} to {target} blocked by its policies",
    "promotion.approved": "promotion of {model} v{version} to {target} approved",
    "promotion.rejected": "promotion of {model} v{version} to {target} rejected",
    "promotion.cancelled": "promotion of {model} v{version} to {target} cancelled",
    "monitor.run_failed": "monitor {monitor} of {model} failed its run {run_id}",
    "retraining.suggested": "retraining of {model} suggested by alert {alert_id} ({subject})",
    "rollout.started": "rollout {rollout_id} of {model} v{version} started at {percent}%",
    "rollout.advanced": "rollout {rollout_id} of {model} v{version} advanced to {percent}%",
    "rollout.halted": "rollout {rollout_id} of {model} v{version} halted at {percent}%: {reason}",
    "rollout.resumed": "rollout {rollout_id} of {model} v{version} resumed at {percent}%",
    "rollout.rolled_back": "rollout {rollout_id} of {model} v{version} rolled back: {reason}",
    "rollout.completed": "rollout {rollout_id} of {model} v{version} completed: in production",
}


def _notification(
    ctx: ServiceContext, kind: str, model: str | None, payload: Mapping[str, Any]
) -> Notification:
    figures = {k: v for k, v in payload.items() if k not in ("model", "version")}
    version = payload.get("version")
    return Notification(
        event_id=new_event_id(),
        type=kind,
        occurred_at=ctx.clock(),
        model=model,
        version=version if isinstance(version, int) else None,
        check=None,
        subject=None,
        severity=None,
        status=None,
        summary=_SUMMARIES[kind].format_map(_Blank({**payload, "model": model})),
        figures=figures,
    )


class _Blank(dict[str, Any]):
    """Format values; a missing one reads as ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"
