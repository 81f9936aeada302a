"""Alerts, notification channels and the delivery log in the SDK.

:class:`AlertMethods` is mixed into :class:`assay.Client`. Receivers of webhooks verify them
with :func:`assay.webhooks.verify`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from assay._dates import iso_utc
from assay._http import ServerCalls, present
from assay._json import FreeForm, JSONObject, json_objects
from assay._paths import ModelRef, model_name, model_path
from assay.errors import NotFound

__all__ = ["Alert", "AlertChange", "AlertMethods", "Channel", "Delivery", "DeliveryAttempt"]


@dataclass(frozen=True)
class Alert:
    """An incident: a failing (monitor, check) — firing, acknowledged, silenced or resolved.

    ``findings`` lists every failing finding, worst first (``subject``, ``status``,
    ``severity``, ``metric``, ``value``, ``threshold``); ``subject`` and ``severity`` are the
    worst one's. ``report_id`` is None for a failed run (check ``monitor_failed``).
    """

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
    report_id: int | None
    first_seen: datetime | None
    last_seen: datetime | None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    silenced_until: datetime | None = None
    figures: FreeForm = field(default_factory=dict)
    findings: list[FreeForm] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: object) -> Alert:
        """Build from the server's JSON."""
        read = JSONObject(data, "an alert")
        return cls(
            id=read.integer("id"),
            monitor_id=read.integer("monitor_id"),
            model=read.text("model"),
            version=read.integer("version"),
            check=read.text("check"),
            subject=read.text("subject"),
            status=read.text("status"),
            severity=read.text("severity"),
            summary=read.text_or_empty("summary"),
            count=read.count("count"),
            report_id=read.optional_integer("report_id"),
            first_seen=read.optional_moment("first_seen"),
            last_seen=read.optional_moment("last_seen"),
            acknowledged_by=read.optional_text("acknowledged_by"),
            resolved_by=read.optional_text("resolved_by"),
            silenced_until=read.optional_moment("silenced_until"),
            figures=read.free_form("figures"),
            findings=read.free_forms("findings"),
        )


@dataclass(frozen=True)
class AlertChange:
    """What a bulk acknowledge or resolve did to one alert: ``alert`` as changed, or why it
    was not (``error_code`` such as ``not_found`` or ``conflict``, and ``error_message``)."""

    id: int
    ok: bool
    alert: Alert | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def from_json(cls, data: object) -> AlertChange:
        """Build from the server's JSON."""
        read = JSONObject(data, "a bulk alert result")
        alert = read.optional_nested("alert")
        error = read.optional_nested("error")
        return cls(
            id=read.integer("id"),
            ok=read.flag("ok"),
            alert=Alert.from_json(alert.as_dict()) if alert is not None else None,
            error_code=error.optional_text("code") if error is not None else None,
            error_message=error.optional_text("message") if error is not None else None,
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
    events: list[str] = field(default_factory=lambda: ["alert.*"])
    models: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: object) -> Channel:
        """Build from the server's JSON."""
        read = JSONObject(data, "a channel")
        return cls(
            id=read.integer("id"),
            name=read.text("name"),
            kind=read.text("kind"),
            url=read.optional_text("url"),
            recipients=read.strings("recipients"),
            signed=read.flag("signed"),
            secret=read.optional_text("secret"),
            events=read.strings("events"),
            models=read.strings("models"),
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt at a notification: when, whether it worked, the receiver's status, how long.

    Also readable by key (``attempt["status_code"]``), as the dict it used to be.
    """

    attempted_at: datetime | None
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float

    @classmethod
    def from_json(cls, data: object) -> DeliveryAttempt:
        """Build from the server's JSON."""
        read = JSONObject(data, "a delivery attempt")
        return cls(
            attempted_at=read.optional_moment("attempted_at"),
            ok=read.flag("ok"),
            status_code=read.optional_integer("status_code"),
            error=read.optional_text("error"),
            duration_ms=read.number("duration_ms", default=0.0),
        )

    def __getitem__(self, key: str) -> object:
        """``attempt["ok"]`` is ``attempt.ok``."""
        if key not in _ATTEMPT_FIELDS:
            raise KeyError(key)
        value: object = getattr(self, key)
        return value


_ATTEMPT_FIELDS = frozenset(("attempted_at", "ok", "status_code", "error", "duration_ms"))


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
    attempt_log: list[DeliveryAttempt]

    @classmethod
    def from_json(cls, data: object) -> Delivery:
        """Build from the server's JSON."""
        read = JSONObject(data, "a delivery")
        return cls(
            id=read.integer("id"),
            event_id=read.text("event_id"),
            event_type=read.text("event_type"),
            channel=read.text("channel"),
            alert_id=read.optional_integer("alert_id"),
            status=read.text("status"),
            attempts=read.count("attempts"),
            last_error=read.optional_text("last_error"),
            attempt_log=[DeliveryAttempt.from_json(a) for a in read.nested_list("attempt_log")],
        )


#: A channel, as returned, by id, or by name.
ChannelRef = Channel | int | str


class AlertMethods(ServerCalls):
    """Alerts, channels and deliveries (mixed into Client)."""

    def list_alerts(
        self,
        model: ModelRef | None = None,
        status: str | None = None,
        severity: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts, newest first; ``status="open"`` for firing, acknowledged and silenced."""
        params = {
            "limit": limit,
            "model": None if model is None else model_name(model),
            "status": status or None,
            "severity": severity or None,
        }
        answer = self._transport.json("GET", "/alerts", params=params)
        return [Alert.from_json(a) for a in json_objects(answer, "alerts")]

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

    def acknowledge_alerts(self, alert_ids: Sequence[int], comment: str = "") -> list[AlertChange]:
        """Acknowledge several alerts at once, each audited; one that cannot be (unknown,
        resolved) comes back with ``ok=False`` and the reason, the others are changed."""
        return self._bulk_alerts(alert_ids, "acknowledge", comment)

    def resolve_alerts(self, alert_ids: Sequence[int], comment: str = "") -> list[AlertChange]:
        """Resolve several alerts at once, each audited; refusals are reported per alert."""
        return self._bulk_alerts(alert_ids, "resolve", comment)

    def _bulk_alerts(
        self, alert_ids: Sequence[int], action: str, comment: str
    ) -> list[AlertChange]:
        body = {"ids": [int(i) for i in alert_ids], "action": action, "comment": comment}
        answer = JSONObject(self._transport.json("POST", "/alerts/bulk", json=body), "bulk")
        return [AlertChange.from_json(r.as_dict()) for r in answer.nested_list("results")]

    def silence_alert(self, alert_id: int, until: datetime | str, comment: str = "") -> Alert:
        """No notifications about this alert until ``until`` (a datetime or ISO 8601 string;
        without a timezone it is UTC)."""
        body = {"until": iso_utc(until), "comment": comment}
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
        events: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> Channel:
        """Create a ``webhook``, ``slack`` or ``email`` channel (admin).

        A webhook without ``secret`` gets one generated (``whsec_…``), returned once in
        ``Channel.secret``; give it to the receiver for :func:`assay.webhooks.verify`.

        ``events``: the event types it receives — ``["alert.*"]`` by default; also
        ``version.registered``, ``stage.changed``, ``promotion.requested``,
        ``promotion.blocked``, ``promotion.approved``, ``promotion.rejected``,
        ``promotion.cancelled``, ``monitor.run_failed``, a family as ``promotion.*``, or
        ``*``. ``models``: only these models' lifecycle events (default: every model).
        """
        body = present(name=name, kind=kind, url=url, secret=secret)
        for key, values in (("recipients", recipients), ("events", events), ("models", models)):
            if values is not None:
                body[key] = list(values)
        return Channel.from_json(self._transport.json("POST", "/channels", json=body))

    def list_channels(self) -> list[Channel]:
        """Every channel (never their secrets)."""
        answer = self._transport.json("GET", "/channels")
        return [Channel.from_json(c) for c in json_objects(answer, "channels")]

    def _channel_id(self, channel: ChannelRef) -> int:
        if isinstance(channel, Channel):
            return channel.id
        if isinstance(channel, int):
            return channel
        for found in self.list_channels():
            if found.name == channel:
                return found.id
        raise NotFound(f"No channel named {channel!r}.")

    def rotate_channel_secret(self, channel: ChannelRef, secret: str | None = None) -> Channel:
        """A new webhook secret (generated unless given); the old one signs too for 24 h."""
        body: dict[str, object] = {"secret": secret} if secret else {"rotate_secret": True}
        path = f"/channels/{self._channel_id(channel)}"
        return Channel.from_json(self._transport.json("PATCH", path, json=body))

    def update_channel(
        self,
        channel: ChannelRef,
        *,
        url: str | None = None,
        recipients: Sequence[str] | None = None,
        events: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> Channel:
        """Change a channel's URL (sent whole), recipients, events or models (admin)."""
        body: dict[str, object] = present(url=url)
        for key, values in (("recipients", recipients), ("events", events), ("models", models)):
            if values is not None:
                body[key] = list(values)
        path = f"/channels/{self._channel_id(channel)}"
        return Channel.from_json(self._transport.json("PATCH", path, json=body))

    def delete_channel(self, channel: ChannelRef) -> None:
        """Delete a channel (admin)."""
        self._transport.json("DELETE", f"/channels/{self._channel_id(channel)}")

    def test_channel(self, channel: ChannelRef) -> Delivery:
        """Queue a ``test`` event to a channel (by name or id); follow it with
        :meth:`get_delivery`."""
        path = f"/channels/{self._channel_id(channel)}/test"
        return Delivery.from_json(self._transport.json("POST", path))

    def set_default_channels(self, model: ModelRef, channels: Sequence[str]) -> list[Channel]:
        """The channels a model's monitors notify when they name none (admin)."""
        path = model_path(model) + "/default-channels"
        data = self._transport.json("PUT", path, json={"channels": list(channels)})
        return [Channel.from_json(c) for c in json_objects(data, "channels")]

    def list_deliveries(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The delivery log, newest first, each with its attempts."""
        params = {"limit": limit, "status": status, "channel": channel, "alert_id": alert_id}
        data = self._transport.json("GET", "/deliveries", params=params)
        return [Delivery.from_json(d) for d in json_objects(data, "deliveries")]

    def get_delivery(self, delivery_id: int) -> Delivery:
        """One delivery with its attempts."""
        return Delivery.from_json(self._transport.json("GET", f"/deliveries/{int(delivery_id)}"))

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send a delivered or failed notification again, with the same event id (admin)."""
        path = f"/deliveries/{int(delivery_id)}/redeliver"
        return Delivery.from_json(self._transport.json("POST", path))
