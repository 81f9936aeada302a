"""From reports to alerts and notifications: fire, dedup, escalate, resolve, acknowledge,
silence — delivered by the outbox to a real webhook receiver on loopback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.factories import API, audit_actions
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver

QUALITY = {"data_quality": {"warning": 0.05, "alert": 0.2}}


def _quality_monitor(monitored: Monitored, **options: Any) -> dict[str, Any]:
    return monitored.create_monitor(
        checks=["data_quality"],
        window={"hours": 1},
        thresholds=QUALITY,
        channels=["ops"],
        options=options,
    )


def _next_run(monitored: Monitored, monitor_id: int, *, missing_age: float, seed: int) -> Any:
    """Move an hour on, log 400 rows with that share of ages missing, run the monitor."""
    monitored.clock.advance(hours=1)
    monitored.log(400, missing_age=missing_age, seed=seed, prefix=f"r{seed}")
    return monitored.run(monitor_id)


def _alerts(monitored: Monitored, **query: Any) -> list[dict[str, Any]]:
    response = monitored.client.get(f"{API}/alerts", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_a_failing_check_fires_one_alert_and_one_signed_notification(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored)
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    assert outbox.run_once() == 1
    [alert] = _alerts(monitored)
    assert (alert["check"], alert["subject"], alert["status"], alert["severity"]) == (
        "data_quality",
        "age",
        "firing",
        "critical",
    )
    [finding] = alert["findings"]  # the incident of the check, with its one failing column
    assert (finding["subject"], finding["metric"], finding["severity"]) == (
        "age",
        "missing_share",
        "critical",
    )
    [(headers, _body, verified)] = webhook.received
    assert verified, webhook.rejections
    [event] = webhook.events
    assert event["type"] == "alert.firing"
    assert headers["webhook-id"] == event["id"]
    data = event["data"]
    assert (data["model"], data["version"], data["check"], data["subject"]) == (
        "churn",
        1,
        "data_quality",
        "age",
    )
    assert data["severity"] == "critical" and data["report_url"].endswith(
        f"/reports/{alert['report_id']}"
    )
    assert [t["subject"] for t in data["top"]] == ["age"]
    target = f"churn/alerts/{alert['id']}"
    actions = audit_actions(monitored.client, monitored.headers, "alert", target)
    assert actions == ["alert.fired"]


def test_ten_failing_runs_make_one_alert_and_one_notification_inside_the_cooldown(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored, cooldown_minutes=24 * 60)
    for seed in range(10):
        _next_run(monitored, monitor["id"], missing_age=0.3, seed=seed)
    outbox.run_once()
    [alert] = _alerts(monitored)
    assert alert["count"] == 10
    assert [e["type"] for e in webhook.events] == ["alert.firing"]


def test_after_the_cooldown_a_still_failing_alert_notifies_again(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored, cooldown_minutes=90)
    for seed in range(4):  # runs an hour apart: notify at 0 h, 2 h (not 1 h, 3 h)
        _next_run(monitored, monitor["id"], missing_age=0.3, seed=seed)
    outbox.run_once()
    assert [e["type"] for e in webhook.events] == ["alert.firing", "alert.firing"]
    assert len({e["id"] for e in webhook.events}) == 2


def test_a_warning_escalates_to_critical_and_notifies_at_once(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored)
    _next_run(monitored, monitor["id"], missing_age=0.1, seed=1)
    _next_run(monitored, monitor["id"], missing_age=0.35, seed=2)
    outbox.run_once()
    [alert] = _alerts(monitored)
    assert (alert["severity"], alert["count"]) == ("critical", 2)
    assert [(e["type"], e["data"]["severity"]) for e in webhook.events] == [
        ("alert.firing", "warning"),
        ("alert.escalated", "critical"),
    ]


def test_an_ok_run_resolves_the_alert_and_says_so(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored)
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    _next_run(monitored, monitor["id"], missing_age=0.0, seed=2)
    outbox.run_once()
    [alert] = _alerts(monitored)
    assert (alert["status"], alert["resolved_by"]) == ("resolved", "auto")
    assert [e["type"] for e in webhook.events] == ["alert.firing", "alert.resolved"]
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=3)  # fails again: a new alert
    assert [a["status"] for a in _alerts(monitored)] == ["firing", "resolved"]


def test_auto_resolve_can_wait_for_several_ok_runs(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored, resolve_after_ok_runs=2)
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    _next_run(monitored, monitor["id"], missing_age=0.0, seed=2)
    assert _alerts(monitored)[0]["status"] == "firing"
    _next_run(monitored, monitor["id"], missing_age=0.0, seed=3)
    assert _alerts(monitored)[0]["status"] == "resolved"


def test_insufficient_data_neither_raises_nor_resolves(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored)
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    monitored.clock.advance(hours=2)  # an empty window
    assert monitored.run(monitor["id"])["statuses"] == {"data_quality": "insufficient_data"}
    assert _alerts(monitored)[0]["status"] == "firing"


def test_acknowledged_and_silenced_alerts_are_not_renotified(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored, cooldown_minutes=30)
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    [alert] = _alerts(monitored)
    url = f"{API}/alerts/{alert['id']}"
    acked = monitored.client.post(
        url + "/acknowledge", json={"comment": "on it"}, headers=monitored.headers
    )
    assert acked.status_code == 200 and acked.json["acknowledged_by"] == "root"
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=2)
    until = (monitored.clock() + timedelta(hours=5)).isoformat()
    silenced = monitored.client.post(
        url + "/silence", json={"until": until, "comment": "deploy"}, headers=monitored.headers
    )
    assert silenced.status_code == 200 and silenced.json["status"] == "silenced"
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=3)
    outbox.run_once()
    assert [e["type"] for e in webhook.events] == ["alert.firing"]
    resolved = monitored.client.post(
        url + "/resolve", json={"comment": "fixed upstream"}, headers=monitored.headers
    )
    assert resolved.json["status"] == "resolved"
    again = monitored.client.post(url + "/acknowledge", json={}, headers=monitored.headers)
    assert again.status_code == 409
    target = f"churn/alerts/{alert['id']}"
    actions = audit_actions(monitored.client, monitored.headers, "alert", target)
    assert actions == ["alert.fired", "alert.acknowledged", "alert.silenced", "alert.resolved"]


def test_a_monitor_without_channels_notifies_the_models_default_channels(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook, name="oncall")
    response = monitored.client.put(
        monitored.url("/default-channels"), json={"channels": ["oncall"]}, headers=monitored.headers
    )
    assert response.status_code == 200 and [c["name"] for c in response.json] == ["oncall"]
    monitor = monitored.create_monitor(
        checks=["data_quality"], window={"hours": 1}, thresholds=QUALITY
    )
    _next_run(monitored, monitor["id"], missing_age=0.3, seed=1)
    outbox.run_once()
    assert [e["type"] for e in webhook.events] == ["alert.firing"]


def test_alert_filters(monitored: Monitored, webhook: WebhookReceiver, outbox: Any) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _quality_monitor(monitored)
    _next_run(monitored, monitor["id"], missing_age=0.1, seed=1)
    assert len(_alerts(monitored, model="churn", status="open", severity="warning")) == 1
    assert _alerts(monitored, severity="critical") == []
    assert _alerts(monitored, status="resolved") == []
    bad = monitored.client.get(
        f"{API}/alerts", headers=monitored.headers, query_string={"status": "on-fire"}
    )
    assert bad.status_code == 422
