"""What one delivery is made to and what comes of it: the channel as the senders see it, the
SMTP relay, and the :class:`Attempt` every sender returns (:mod:`.senders`, :mod:`.smtp`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Channel:
    """Where notifications go: a webhook URL, a Slack incoming webhook, or e-mail recipients."""

    id: int
    name: str
    kind: str
    url: str | None = None
    secrets: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP relay e-mail goes through (from the ``ASSAY_SMTP_*`` settings)."""

    host: str
    port: int
    security: str  # "plain" | "starttls" | "ssl"
    username: str
    password: str
    sender: str
    timeout: float


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, as the delivery log records it.

    ``status_code`` is the HTTP status for webhook and Slack, the SMTP reply code for e-mail
    (250 when accepted), None when no answer came.
    """

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    response_excerpt: str | None = None


def failed(started: float, error: str, *, status_code: int | None = None) -> Attempt:
    return Attempt(False, status_code, error, elapsed_ms(started), None)


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
