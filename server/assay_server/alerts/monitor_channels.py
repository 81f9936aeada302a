"""A monitor's channels must exist: checked when a monitor is created or changed (a subscriber
of ``monitor.created`` / ``monitor.updated``, see ``wiring.py``). Raising refuses the change."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..errors import ValidationFailed
from ..events import DomainEvent
from .models import Channel


def check_monitor_channels(session: Session, _ctx: ServiceContext, event: DomainEvent) -> None:
    """Refuse a monitor that names a channel no one has made."""
    names = list(event.payload.get("channels") or [])
    if not names:
        return
    known = set(session.scalars(select(Channel.name).where(Channel.name.in_(names))))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValidationFailed(
            "The monitor is not valid.",
            details={"channels": [f"No channel named {', '.join(unknown)}."]},
        )
