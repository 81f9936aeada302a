"""Domain events: one small in-process publisher.

A service publishes an event inside its unit of work, and every subscriber runs there and then
with the same session: what a subscriber writes (an outbox row, an alert) commits or rolls back
with the change that caused it. Subscribers are connected in one place, ``wiring.py``; the bus
is built there once and carried by every :class:`~assay_server.context.ServiceContext`.

A subscriber may refuse the change by raising a domain error (the alerts package refuses a
monitor naming a channel that does not exist); the unit of work then rolls back, event and all.

To add an event: name it in :data:`EVENT_NAMES`, publish it from the service that makes the
change (``ctx.events.publish(session, ctx, "thing.happened", {...})``), and subscribe to it in
``wiring.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from .context import ServiceContext

#: Every event a service may publish; a misspelt name fails where it is published.
EVENT_NAMES = frozenset(
    {
        "model.updated",
        "version.registering",
        "version.registered",
        "stage.changed",
        "alias.changed",
        "promotion.requested",
        "promotion.approved",
        "promotion.rejected",
        "promotion.cancelled",
        "monitor.created",
        "monitor.updated",
        "monitor.deleted",
        "monitor.run_succeeded",
        "monitor.run_failed",
        "monitor.run_skipped",
        "alert.fired",
        "alert.repeated",
        "alert.escalated",
        "alert.acknowledged",
        "alert.silenced",
        "alert.resolved",
        "retraining.suggested",
        "rollout.started",
        "rollout.advanced",
        "rollout.halted",
        "rollout.resumed",
        "rollout.rolled_back",
        "rollout.completed",
        "predictions.expired",
    }
)

JsonValue = Any  # what json.dumps takes: payloads are ids, names and figures


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened: ``name`` (one of :data:`EVENT_NAMES`) and its ``payload``."""

    name: str
    payload: Mapping[str, JsonValue]


Subscriber = Callable[[Session, "ServiceContext", DomainEvent], None]


class EventBus:
    """Calls each event's subscribers, in the order given, in the publisher's transaction.

    Built once with all its subscriptions (``wiring.py``) and never changed after.
    """

    def __init__(self, subscriptions: Mapping[str, Sequence[Subscriber]] | None = None) -> None:
        unknown = set(subscriptions or {}) - EVENT_NAMES
        if unknown:
            raise ValueError(f"no such events: {', '.join(sorted(unknown))}")
        self._subscribers: Mapping[str, tuple[Subscriber, ...]] = MappingProxyType(
            {name: tuple(each) for name, each in (subscriptions or {}).items()}
        )

    def with_subscriber(self, subscriber: Subscriber, *names: str) -> EventBus:
        """A new bus with ``subscriber`` added, last, to each of ``names`` (this one is
        unchanged)."""
        subscriptions = {name: list(each) for name, each in self._subscribers.items()}
        for name in names:
            subscriptions.setdefault(name, []).append(subscriber)
        return EventBus(subscriptions)

    def subscribers(self, name: str) -> tuple[Subscriber, ...]:
        """Who receives ``name``."""
        return self._subscribers.get(name, ())

    def publish(
        self, session: Session, ctx: ServiceContext, name: str, payload: Mapping[str, JsonValue]
    ) -> DomainEvent:
        """Hand the event to its subscribers now, in ``session``; return it."""
        if name not in EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}: add it to EVENT_NAMES")
        event = DomainEvent(name, MappingProxyType(dict(payload)))
        for subscriber in self._subscribers.get(name, ()):
            subscriber(session, ctx, event)
        return event


#: A bus with no subscribers, for contexts that are not wired (publishing does nothing).
NO_SUBSCRIBERS = EventBus()
