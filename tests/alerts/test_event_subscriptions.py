"""Channels subscribe to lifecycle events — a version registered, a stage changed, a
promotion's steps, a failed run — delivered signed through the outbox like alerts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay_server.alerts.signing import generate_secret
from assay_server.monitoring import evaluate
from tests.api.factories import API, declared_version, stage
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver

QUALITY = {"data_quality": {"warning": 0.05, "alert": 0.2}}


def _subscribe(monitored: Monitored, channel_id: int, **changes: Any) -> dict[str, Any]:
    response = monitored.client.patch(
        f"{API}/channels/{channel_id}", json=changes, headers=monitored.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_a_channel_receives_the_lifecycle_events_it_subscribed_to_signed(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    channel = add_webhook_channel(monitored, webhook, name="deploys")
    subscribed = _subscribe(monitored, channel, events=["version.registered", "stage.changed"])
    assert subscribed["events"] == ["version.registered", "stage.changed"]
    declared_version(monitored.client, monitored.headers)  # churn v2
    moved = stage(monitored.client, monitored.headers, 2, stage="production", reason="canary ok")
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert outbox.run_once() == 2
    assert all(verified for _headers, _body, verified in webhook.received), webhook.rejections
    registered, changed = webhook.events
    assert registered["type"] == "version.registered"
    assert (registered["data"]["model"], registered["data"]["version"]) == ("churn", 2)
    assert changed["type"] == "stage.changed"
    assert changed["data"]["figures"]["stage"] == "production"
    assert "churn v2 moved from none to production" in changed["data"]["summary"]
    assert registered["id"] != changed["id"]


def test_a_new_channel_receives_alerts_only_and_a_model_filter_narrows_lifecycle_events(
    monitored: Monitored, outbox: Any
) -> None:
    with (
        WebhookReceiver(generate_secret()) as alerts_only,
        WebhookReceiver(generate_secret()) as other_model,
    ):
        first = add_webhook_channel(monitored, alerts_only, name="ops")
        second = add_webhook_channel(monitored, other_model, name="fraud-deploys")
        assert monitored.client.get(f"{API}/channels/{first}", headers=monitored.headers).json[
            "events"
        ] == ["alert.*"]
        _subscribe(monitored, second, events=["*"], models=["fraud"])
        declared_version(monitored.client, monitored.headers)
        stage(monitored.client, monitored.headers, 2, stage="staging")
        assert outbox.run_once() == 0
        assert alerts_only.received == [] and other_model.received == []


def test_a_channel_without_alert_events_gets_no_alert_even_when_a_monitor_names_it(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    channel = add_webhook_channel(monitored, webhook)
    _subscribe(monitored, channel, events=["stage.changed"])
    monitor = monitored.create_monitor(
        checks=["data_quality"], window={"hours": 1}, thresholds=QUALITY, channels=["ops"]
    )
    monitored.clock.advance(hours=1)
    monitored.log(400, missing_age=0.5, seed=3, prefix="s3")
    monitored.run(monitor["id"])
    alerts = monitored.client.get(f"{API}/alerts", headers=monitored.headers).json
    assert len(alerts) >= 1  # the alert fired, and reached no channel
    assert outbox.run_once() == 0 and webhook.received == []


def test_an_unknown_event_type_is_refused_naming_the_types(monitored: Monitored) -> None:
    body = {"name": "x", "kind": "webhook", "url": "http://127.0.0.1:9/", "events": ["deploy"]}
    response = monitored.client.post(f"{API}/channels", json=body, headers=monitored.headers)
    assert response.status_code == 422
    message = response.json["error"]["details"]["events"][0]
    assert "'deploy'" in message and "stage.changed" in message


def test_a_promotion_request_reaches_channels_subscribed_to_promotions(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    channel = add_webhook_channel(monitored, webhook, name="approvals")
    _subscribe(monitored, channel, events=["promotion.*"])
    response = monitored.client.post(
        f"{API}/models/churn/versions/1/promotions",
        json={"stage": "staging", "reason": "ready"},
        headers=monitored.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    outbox.run_once()
    types = [event["type"] for event in webhook.events]
    assert types[0] in ("promotion.requested", "promotion.blocked")
    assert all(kind.startswith("promotion.") for kind in types)


def test_a_failed_monitor_run_reaches_channels_subscribed_to_it(
    monitored: Monitored,
    webhook: WebhookReceiver,
    outbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = add_webhook_channel(monitored, webhook, name="oncall")
    _subscribe(monitored, channel, events=["monitor.run_failed"], models=["churn"])
    monitored.log(400)
    monitor = monitored.create_monitor(checks=["drift"], name="hourly-drift", min_rows=100)

    def raises(inputs: Any) -> Any:
        raise RuntimeError("the drift check fell over")

    monkeypatch.setitem(evaluate.CHECK_FUNCTIONS, "drift", raises)
    failed = monitored.run(monitor["id"])
    assert failed["status"] == "failed"
    assert outbox.run_once() == 1
    [event] = webhook.events
    assert event["type"] == "monitor.run_failed"
    assert event["data"]["model"] == "churn"
    figures = event["data"]["figures"]
    assert (figures["monitor"], figures["run_id"]) == ("hourly-drift", failed["id"])
    assert "fell over" not in json.dumps(event)  # the server's own words only
