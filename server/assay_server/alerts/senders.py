"""Deliver one notification to one channel, once, and say how it went.

:func:`deliver` never raises: a refused target, a DNS failure, a refused connection, a timeout,
a non-2xx answer, an SMTP error or missing SMTP settings all come back as an :class:`Attempt`
with ``ok=False`` and a message a person can act on. The outbox records every attempt and
decides on retries; the same event id is sent on every attempt (delivery is at least once).

Messages never carry a channel's full URL (a Slack incoming-webhook URL is itself a secret)
nor any secret: only the scheme, host and port. And whatever a message quotes (a receiver's
answer that echoes the request path, a library's error naming the URL) is scrubbed of the
channel's secrets before it leaves :func:`deliver`, as is what it logs.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests

from .attempts import Attempt, Channel, SmtpConfig, elapsed_ms, failed
from .masking import scrub, secrets_of_url
from .render import Notification, slack_message, webhook_body
from .signing import signature_header
from .smtp import send_email
from .targets import UnresolvableTarget, UnsafeTarget, check_webhook_target, guarded_session

__all__ = [
    "CHANNEL_KINDS",
    "USER_AGENT",
    "Attempt",
    "Channel",
    "Notification",
    "SmtpConfig",
    "deliver",
]

logger = logging.getLogger(__name__)

CHANNEL_KINDS = ("webhook", "slack", "email")
USER_AGENT = "Assay-Webhooks/1"
EXCERPT_CHARS = 500
_EXCERPT_BYTES = 2048
# urllib3 logs every request line (path and query: a Slack URL's secret) at DEBUG; while a
# delivery is made, its records are scrubbed of the channel's secrets
_LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
_delivering: ContextVar[tuple[str, ...]] = ContextVar("assay_delivery_secrets", default=())


def deliver(
    channel: Channel,
    notification: Notification,
    *,
    smtp: SmtpConfig | None,
    allow_private: bool,
    timeout: float = 10.0,
    now: Callable[[], datetime] | None = None,
) -> Attempt:
    """Send ``notification`` to ``channel`` once; never raises (failures are in the Attempt,
    scrubbed of the channel's secrets)."""
    secrets = _secrets(channel, smtp)
    token = _delivering.set(tuple(secrets))
    try:
        attempt = _attempt(channel, notification, smtp, allow_private, timeout, now, secrets)
    finally:
        _delivering.reset(token)
    return replace(
        attempt,
        error=scrub(attempt.error, secrets),
        response_excerpt=scrub(attempt.response_excerpt, secrets),
    )


def _attempt(
    channel: Channel,
    notification: Notification,
    smtp: SmtpConfig | None,
    allow_private: bool,
    timeout: float,
    now: Callable[[], datetime] | None,
    secrets: list[str],
) -> Attempt:
    started = time.perf_counter()
    clock = now or (lambda: datetime.now(timezone.utc))
    try:
        if channel.kind == "webhook":
            return _send_webhook(channel, notification, allow_private, timeout, clock, started)
        if channel.kind == "slack":
            return _send_slack(channel, notification, allow_private, timeout, started)
        if channel.kind == "email":
            return send_email(channel, notification, smtp, clock, started)
        return failed(started, f"unknown channel kind {channel.kind!r}")
    except Exception as error:  # the contract: the outbox gets an Attempt, never an exception
        # the exception's text may quote the URL: log it scrubbed, with the frames alone
        logger.error(
            "delivery to channel %s failed unexpectedly: %s: %s\n%s",
            channel.id,
            type(error).__name__,
            scrub(str(error), secrets),
            "".join(traceback.format_tb(error.__traceback__)),
        )
        return failed(started, f"unexpected {type(error).__name__} while delivering")


class _ScrubDeliverySecrets(logging.Filter):
    """Scrubs the secrets of the delivery in progress (in this thread) out of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _delivering.get()
        if secrets:
            record.msg = scrub(record.getMessage(), secrets)
            record.args = None
        return True


_SCRUB_FILTER = _ScrubDeliverySecrets()
for _name in _LIBRARY_LOGGERS:
    logging.getLogger(_name).addFilter(_SCRUB_FILTER)


def _secrets(channel: Channel, smtp: SmtpConfig | None) -> list[str]:
    """What no message about this delivery may contain."""
    found = secrets_of_url(channel.kind, channel.url)
    for secret in channel.secrets:
        found += [secret, secret.removeprefix("whsec_")]
    if smtp is not None and smtp.password:
        found.append(smtp.password)
    return found


def _send_webhook(
    channel: Channel,
    notification: Notification,
    allow_private: bool,
    timeout: float,
    clock: Callable[[], datetime],
    started: float,
) -> Attempt:
    """POST the signed JSON body with the Standard Webhooks headers."""
    if not channel.url:
        return failed(started, "the webhook channel has no URL")
    if not channel.secrets:
        return failed(started, "the webhook channel has no secret to sign with")
    body = webhook_body(notification)
    timestamp = int(clock().timestamp())
    try:
        signature = signature_header(channel.secrets, notification.event_id, timestamp, body)
    except ValueError as error:
        return failed(started, f"cannot sign the webhook: {error}")
    headers = {
        "webhook-id": notification.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    return _post(channel.url, body, headers, allow_private, timeout, started)


def _send_slack(
    channel: Channel,
    notification: Notification,
    allow_private: bool,
    timeout: float,
    started: float,
) -> Attempt:
    """POST the blocks message to a Slack incoming webhook."""
    if not channel.url:
        return failed(started, "the Slack channel has no incoming-webhook URL")
    body = json.dumps(slack_message(notification), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    return _post(channel.url, body, headers, allow_private, timeout, started)


def _post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    timeout: float,
    started: float,
) -> Attempt:
    """POST once, no redirects followed; success is a 2xx within ``timeout`` seconds."""
    where = _where(url)
    try:
        check_webhook_target(url, allow_private=allow_private)
    except UnsafeTarget as refusal:
        return failed(started, f"target refused: {refusal}")
    except UnresolvableTarget as error:
        return failed(started, str(error))
    session = guarded_session(allow_private)
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        with response:
            excerpt = _excerpt(response)
    except UnsafeTarget as refusal:
        return failed(started, f"target refused at connection: {refusal}")
    except requests.exceptions.ConnectTimeout:
        return failed(started, f"could not connect to {where} within {timeout:g} s")
    except requests.exceptions.Timeout:
        return failed(started, f"no response from {where} within {timeout:g} s")
    except requests.exceptions.SSLError as error:
        return failed(started, f"TLS error with {where}: {_root_cause(error)}")
    except requests.exceptions.ConnectionError as error:
        return failed(started, f"connection to {where} failed: {_root_cause(error)}")
    except requests.exceptions.RequestException as error:
        return failed(started, f"request to {where} failed: {_root_cause(error)}")
    finally:
        session.close()
    duration_ms = elapsed_ms(started)
    status = response.status_code
    if 200 <= status < 300:
        if duration_ms > timeout * 1000:
            late = (
                f"{where} answered {status} after {duration_ms / 1000:.1f} s (limit {timeout:g} s)"
            )
            return Attempt(False, status, late, duration_ms, excerpt)
        return Attempt(True, status, None, duration_ms, excerpt)
    if 300 <= status < 400:
        target = _where(response.headers.get("Location", "")) or "elsewhere"
        redirected = (
            f"HTTP {status}: {where} redirects to {target}; redirects are not followed, "
            "point the channel at the final URL"
        )
        return Attempt(False, status, redirected, duration_ms, excerpt)
    refused = f"HTTP {status} from {where}" + (f": {excerpt[:200]}" if excerpt else "")
    return Attempt(False, status, refused, duration_ms, excerpt)


def _excerpt(response: requests.Response) -> str | None:
    """The first characters of the response body (read no further: it may be huge)."""
    raw = response.raw.read(_EXCERPT_BYTES, decode_content=True) or b""
    text = raw.decode(response.encoding or "utf-8", errors="replace").strip()
    return text[:EXCERPT_CHARS] or None


def _where(url: str) -> str:
    """``scheme://host[:port]`` of a URL: enough to act on, without its secret path."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    if not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the URL they embed."""
    seen = set()
    current: BaseException | None = error
    reason = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = current
        nested = getattr(current, "reason", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
        if current is None and reason.args and isinstance(reason.args[0], BaseException):
            current = reason.args[0]
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason)
    # urllib3 prefixes messages with the connection object's repr
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text
