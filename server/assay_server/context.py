"""What every service is built with besides its session: who acts, the request, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .auth.roles import Actor
from .db import utcnow
from .settings import Settings


@dataclass(frozen=True)
class ServiceContext:
    """The caller (``actor``), the ``request_id`` audit events carry, settings and a clock."""

    actor: Actor
    settings: Settings
    request_id: str | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
