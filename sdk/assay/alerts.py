"""Alerts, notification channels and the delivery log in the SDK.

:class:`AlertMethods` is mixed into :class:`assay.Client`. Receivers of webhooks verify them
with :func:`assay.webhooks.verify`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.errors import NotFound
from assay.governance import _model_path, _name
from assay.types import parse_datetime

if TYPE_CHECKING:
    from assay._http import Transport

__all__ = ["Alert", "AlertMethods", "Channel", "Delivery"]


@dataclass(frozen=True)
class Alert:
    """A failing (monitor, check, subject): firing, acknowledged, silenced or resolved."""

    id: int
    monitor_id: int
    model: str
    version: int
    check: str
    subject: str
    status: str
    severity: str
    summary: str
    count: int
    report_id: int
    first_seen: datetime | None
    last_seen: datetime | None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    silenced_until: datetime | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            monitor_id=int(data["monitor_id"]),
            model=data["model"],
            version=int(data["version"]),
            check=data["check"],
            subject=data["subject"],
            status=data["status"],
            severity=data["severity"],
            summary=data.get("summary") or "",
            count=int(data.get("count") or 0),
            report_id=int(data["report_id"]),
            first_seen=parse_datetime(data.get("first_seen")),
            last_seen=parse_datetime(data.get("last_seen")),
            acknowledged_by=data.get("acknowledged_by"),
            resolved_by=data.get("resolved_by"),
            silenced_until=parse_datetime(data.get("silenced_until")),
            figures=dict(data.get("figures") or {}),
        )


@dataclass(frozen=True)
class Channel:
    """A notification channel. ``secret`` is set only in the answer that created or rotated
    a webhook's secret: keep it then, the server never shows it again."""

    id: int
    name: str
    kind: str
    url: str | None
    recipients: list[str]
    signed: bool
    secret: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            name=data["name"],
            kind=data["kind"],
            url=data.get("url"),
            recipients=list(data.get("recipients") or []),
            signed=bool(data.get("signed")),
            secret=data.get("secret"),
        )


@dataclass(frozen=True)
class Delivery:
    """One notification to one channel, with every attempt (``attempt_log``)."""

    id: int
    event_id: str
    event_type: str
    channel: str
    alert_id: int | None
    status: str
    attempts: int
    last_error: str | None
    attempt_log: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            event_id=data["event_id"],
            event_type=data["event_type"],
            channel=data["channel"],
            alert_id=data.get("alert_id"),
            status=data["status"],
            attempts=int(data.get("attempts") or 0),
            last_error=data.get("last_error"),
            attempt_log=list(data.get("attempt_log") or []),
        )


class AlertMethods:
    """Alerts, channels and deliveries (mixed into Client)."""

    _transport: Transport

    def list_alerts(
        self,
        model: Any = None,
        status: str | None = None,
        severity: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts, newest first; ``status="open"`` for firing, acknowledged and silenced."""
        params: dict[str, Any] = {"limit": limit}
        if model is not None:
            params["model"] = _name(model)
        if status:
            params["status"] = status
        if severity:
            params["severity"] = severity
        return [Alert.from_json(a) for a in self._transport.json("GET", "/alerts", params=params)]

    def get_alert(self, alert_id: int) -> Alert:
        """One alert."""
        return Alert.from_json(self._transport.json("GET", f"/alerts/{int(alert_id)}"))

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Say someone is on it: repeats stop notifying (an escalation still does)."""
        path = f"/alerts/{int(alert_id)}/acknowledge"
        return Alert.from_json(self._transport.json("POST", path, json={"comment": comment}))

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Close an alert by hand."""
        path = f"/alerts/{int(alert_id)}/resolve"
        return Alert.from_json(self._transport.json("POST", path, json={"comment": comment}))

    def silence_alert(self, alert_id: int, until: datetime, comment: str = "") -> Alert:
        """No notifications about this alert until ``until`` (an aware datetime)."""
        if until.tzinfo is None:
            raise ValueError("pass an aware datetime (with a timezone)")
        body = {"until": until.isoformat(), "comment": comment}
        path = f"/alerts/{int(alert_id)}/silence"
        return Alert.from_json(self._transport.json("POST", path, json=body))

    def create_channel(
        self,
        name: str,
        kind: str,
        *,
        url: str | None = None,
        secret: str | None = None,
        recipients: Sequence[str] | None = None,
    ) -> Channel:
        """Create a ``webhook``, ``slack`` or ``email`` channel (admin).

        A webhook without ``secret`` gets one generated (``whsec_…``), returned once in
        ``Channel.secret``; give it to the receiver for :func:`assay.webhooks.verify`.
        """
        body: dict[str, Any] = {"name": name, "kind": kind}
        if url is not None:
            body["url"] = url
        if secret is not None:
            body["secret"] = secret
        if recipients is not None:
            body["recipients"] = list(recipients)
        return Channel.from_json(self._transport.json("POST", "/channels", json=body))

    def list_channels(self) -> list[Channel]:
        """Every channel (never their secrets)."""
        return [Channel.from_json(c) for c in self._transport.json("GET", "/channels")]

    def _channel_id(self, channel: Any) -> int:
        if isinstance(channel, Channel):
            return channel.id
        if isinstance(channel, int):
            return channel
        for found in self.list_channels():
            if found.name == channel:
                return found.id
        raise NotFound(f"No channel named {channel!r}.")

    def rotate_channel_secret(self, channel: Any, secret: str | None = None) -> Channel:
        """A new webhook secret (generated unless given); the old one signs too for 24 h."""
        body: dict[str, Any] = {"secret": secret} if secret else {"rotate_secret": True}
        path = f"/channels/{self._channel_id(channel)}"
        return Channel.from_json(self._transport.json("PATCH", path, json=body))

    def delete_channel(self, channel: Any) -> None:
        """Delete a channel (admin)."""
        self._transport.json("DELETE", f"/channels/{self._channel_id(channel)}")

    def test_channel(self, channel: Any) -> Delivery:
        """Queue a ``test`` event to a channel (by name or id); follow it with
        :meth:`get_delivery`."""
        path = f"/channels/{self._channel_id(channel)}/test"
        return Delivery.from_json(self._transport.json("POST", path))

    def set_default_channels(self, model: Any, channels: Sequence[str]) -> list[Channel]:
        """The channels a model's monitors notify when they name none (admin)."""
        path = _model_path(model) + "/default-channels"
        data = self._transport.json("PUT", path, json={"channels": list(channels)})
        return [Channel.from_json(c) for c in data]

    def list_deliveries(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The delivery log, newest first, each with its attempts."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("status", status), ("channel", channel), ("alert_id", alert_id)):
            if value is not None:
                params[key] = value
        data = self._transport.json("GET", "/deliveries", params=params)
        return [Delivery.from_json(d) for d in data]

    def get_delivery(self, delivery_id: int) -> Delivery:
        """One delivery with its attempts."""
        return Delivery.from_json(self._transport.json("GET", f"/deliveries/{int(delivery_id)}"))

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send a delivered or failed notification again, with the same event id (admin)."""
        path = f"/deliveries/{int(delivery_id)}/redeliver"
        return Delivery.from_json(self._transport.json("POST", path))
