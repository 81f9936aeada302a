"""Alerts, channels and deliveries through the SDK against a live server, with a webhook
receiver on loopback verifying signatures with ``assay.webhooks.verify``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

import assay
from assay_server.alerts.outbox import Outbox
from tests.alerts.receivers import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook endpoint whose secret the test learns from the server."""
    with WebhookReceiver("whsec_" + "A" * 44) as found:
        yield found


@pytest.fixture
def outbox(migrated_database: Any, session_settings: Any) -> Outbox:
    """The delivery job of the live server's store (the live server runs no scheduler)."""
    return Outbox(migrated_database, session_settings, worker="sdk-test")


def _failing_window(client: assay.Client) -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 500), "churned": rng.integers(0, 2, 500)})
    client.create_model("churn", "binary_classification")
    client.register_version("churn", reference_data=reference, target="churned")
    logger = client.prediction_logger("churn", 1, flush_interval=0.1)
    for i in range(300):
        logger.log({"age": None if i % 2 else 40.0}, 1)
    assert logger.flush(timeout=30)
    logger.close()


def test_alerts_from_a_monitor_reach_a_verified_webhook(
    admin_client: assay.Client, receiver: WebhookReceiver, outbox: Outbox
) -> None:
    channel = admin_client.create_channel("ops", "webhook", url=receiver.url)
    assert channel.secret is not None and channel.secret.startswith("whsec_")
    receiver.secret = channel.secret  # shown once: the receiver keeps it
    assert [c.name for c in admin_client.list_channels()] == ["ops"]
    assert admin_client.list_channels()[0].secret is None
    _failing_window(admin_client)
    monitor = admin_client.create_monitor(
        "churn", checks=["data_quality"], schedule=None, channels=["ops"]
    )
    admin_client.run_monitor("churn", monitor.id)
    [alert] = admin_client.list_alerts(model="churn", status="open")
    assert isinstance(alert, assay.Alert)
    assert (alert.check, alert.subject, alert.severity) == ("data_quality", "age", "critical")
    assert outbox.run_once() == 1
    [event] = receiver.events
    assert (event["type"], event["data"]["alert_id"]) == ("alert.firing", alert.id)
    [delivery] = admin_client.list_deliveries(alert_id=alert.id)
    assert (delivery.status, delivery.event_id) == ("delivered", event["id"])
    acked = admin_client.acknowledge_alert(alert.id, "looking")
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "live-admin")
    silenced = admin_client.silence_alert(alert.id, datetime.now(timezone.utc) + timedelta(hours=1))
    assert silenced.status == "silenced"
    resolved = admin_client.resolve_alert(alert.id, "fixed the feature pipeline")
    assert resolved.status == "resolved"
    assert admin_client.list_alerts(status="open") == []


def test_alerts_are_acknowledged_and_resolved_in_bulk(admin_client: assay.Client) -> None:
    _failing_window(admin_client)
    for name in ("first", "second"):
        monitor = admin_client.create_monitor(
            "churn", name=name, checks=["data_quality"], schedule=None
        )
        admin_client.run_monitor("churn", monitor.id)
    alerts = admin_client.list_alerts(model="churn", status="open")
    ids = sorted(alert.id for alert in alerts)
    assert len(ids) == 2
    assert [f["subject"] for f in alerts[0].findings] == ["age"]
    assert alerts[0].findings[0]["severity"] == "critical"
    changes = admin_client.acknowledge_alerts([*ids, 999_999], "on it")
    assert [(c.id, c.ok) for c in changes] == [(ids[0], True), (ids[1], True), (999_999, False)]
    assert changes[0].alert is not None and changes[0].alert.status == "acknowledged"
    assert (changes[2].alert, changes[2].error_code) == (None, "not_found")
    resolved = admin_client.resolve_alerts(ids, "fixed upstream")
    assert all(c.ok and c.alert and c.alert.status == "resolved" for c in resolved)
    again = admin_client.resolve_alerts(ids[:1])
    assert (again[0].ok, again[0].error_code) == (False, "conflict")
    assert admin_client.list_alerts(status="open") == []


def test_test_channel_and_redeliver(
    admin_client: assay.Client, receiver: WebhookReceiver, outbox: Outbox
) -> None:
    secret = "whsec_" + "B" * 44
    receiver.secret = secret
    admin_client.create_channel("ops", "webhook", url=receiver.url, secret=secret)
    queued = admin_client.test_channel("ops")
    assert queued.status == "pending" and queued.event_type == "test"
    outbox.run_once()
    delivered = admin_client.get_delivery(queued.id)
    assert delivered.status == "delivered" and delivered.attempt_log[0].status_code == 200
    again = admin_client.redeliver(queued.id)
    assert again.status == "pending"
    outbox.run_once()
    assert [e["id"] for e in receiver.events] == [queued.event_id, queued.event_id]
    rotated = admin_client.rotate_channel_secret("ops")
    assert rotated.secret and rotated.secret != secret
    admin_client.delete_channel("ops")
    with pytest.raises(assay.NotFound):
        admin_client.test_channel("ops")


def test_only_admins_manage_channels(admin_client: assay.Client, client_as: Any) -> None:
    with pytest.raises(assay.PermissionDenied):
        client_as("approver").create_channel("ops", "slack", url="http://127.0.0.1:9/")
    with pytest.raises(assay.ValidationError) as refused:
        admin_client.create_channel("meta", "webhook", url="http://169.254.169.254/")
    assert "url" in refused.value.details
