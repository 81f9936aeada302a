"""What every service is built with besides its session: who acts, the request, the clock, and
the connections ``wiring.py`` made (the event bus, the evidence providers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from .db import utcnow
from .events import EventBus
from .evidence import EvidenceProviders
from .roles import Actor
from .settings import Settings
from .storage import Storage


@dataclass(frozen=True)
class ServiceContext:
    """The caller (``actor``), settings, the wired ``events`` and ``evidence``, the blob
    ``storage``, the ``request_id`` audit events carry, and a clock. Made by
    :meth:`Wiring.context <assay_server.wiring.Wiring.context>` everywhere (app, scheduler,
    CLI, tests)."""

    actor: Actor
    settings: Settings
    events: EventBus
    evidence: EvidenceProviders
    storage: Storage
    request_id: str | None = None
    clock: Callable[[], datetime] = field(default=utcnow)

    def acting_as(self, actor: Actor) -> ServiceContext:
        """The same context for another actor (a job acting for whoever asked)."""
        return replace(self, actor=actor)
