"""Registry events for notification channels: the seam the alerts outbox subscribes to.

Governance publishes ``promotion.requested``, ``promotion.approved``, ``promotion.rejected``
and ``stage.changed`` here, inside the transaction of the change. A subscriber (the alerts
package's outbox, once it exists) writes its outbox rows in that same session, so an event is
delivered if and only if the change commits. Without subscribers, publishing does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Subscriber = Callable[[Session, str, dict[str, Any]], None]

EVENTS = ("promotion.requested", "promotion.approved", "promotion.rejected", "stage.changed")

_SUBSCRIBERS: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Call ``subscriber(session, event, payload)`` for every event published from now on."""
    if subscriber not in _SUBSCRIBERS:
        _SUBSCRIBERS.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    """Stop calling ``subscriber``."""
    if subscriber in _SUBSCRIBERS:
        _SUBSCRIBERS.remove(subscriber)


def publish(session: Session, event: str, payload: dict[str, Any]) -> None:
    """Hand ``event`` to every subscriber, in the caller's transaction."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    for subscriber in list(_SUBSCRIBERS):
        subscriber(session, event, dict(payload))
