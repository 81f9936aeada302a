"""Channels through the API: write-only secrets, rotation, SSRF refusals, Slack and e-mail
delivered to real receivers, and /metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay_server.alerts.signing import generate_secret
from tests.api.factories import API, audit_events
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import SlackReceiver, SmtpReceiver, WebhookReceiver


def _post(monitored: Monitored, path: str, body: dict[str, Any], expect: int = 201) -> Any:
    response = monitored.client.post(f"{API}{path}", json=body, headers=monitored.headers)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.json


def test_a_generated_secret_is_shown_once_and_never_again_nor_audited(
    monitored: Monitored,
) -> None:
    created = _post(
        monitored, "/channels", {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/x"}
    )
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["signed"] is True
    for url in (f"{API}/channels", f"{API}/channels/{created['id']}"):
        text = monitored.client.get(url, headers=monitored.headers).get_data(as_text=True)
        assert secret not in text and 'secret"' not in text
    rotated = monitored.client.patch(
        f"{API}/channels/{created['id']}", json={"rotate_secret": True}, headers=monitored.headers
    ).json
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    trail = json.dumps(audit_events(monitored.client, monitored.headers, "channel", "ops"))
    assert secret not in trail and rotated["secret"] not in trail
    assert "whsec_" not in trail


def test_during_a_rotation_deliveries_carry_both_signatures(
    monitored: Monitored, outbox: Any
) -> None:
    old = generate_secret()
    with WebhookReceiver(old) as receiver:
        channel_id = add_webhook_channel(monitored, receiver)
        new = generate_secret()
        response = monitored.client.patch(
            f"{API}/channels/{channel_id}", json={"secret": new}, headers=monitored.headers
        )
        assert response.status_code == 200 and response.json["secret"] is None
        _post(monitored, f"/channels/{channel_id}/test", {}, expect=202)
        outbox.run_once()
        [(headers, _body, verified)] = receiver.received
        assert verified  # the receiver still holds the old secret
        assert len(headers["webhook-signature"].split()) == 2
        receiver.secret = new
        _post(monitored, f"/channels/{channel_id}/test", {}, expect=202)
        outbox.run_once()
        assert receiver.received[-1][2] is True


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "meta", "kind": "webhook", "url": "http://169.254.169.254/latest"}, "url"),
        ({"name": "nourl", "kind": "slack"}, "url"),
        ({"name": "mail", "kind": "email"}, "recipients"),
        ({"name": "mail", "kind": "email", "recipients": ["not-an-address"]}, "recipients"),
        (
            {"name": "bad", "kind": "webhook", "url": "http://127.0.0.1/", "secret": "whsec_%%%"},
            "secret",
        ),
        ({"name": "x", "kind": "pager", "url": "http://127.0.0.1/"}, "kind"),
        ({"name": "ftp", "kind": "webhook", "url": "ftp://127.0.0.1/"}, "url"),
    ],
)
def test_bad_channels_are_refused_with_the_field_named(
    monitored: Monitored, body: dict[str, Any], field: str
) -> None:
    error = _post(monitored, "/channels", body, expect=422)["error"]
    assert field in error["details"], error
    assert monitored.client.get(f"{API}/channels", headers=monitored.headers).json == []


def test_loopback_targets_need_the_private_opt_in(
    monitored: Monitored, app: Any, settings: Any
) -> None:
    app.extensions["assay_settings"] = settings.with_overrides(webhook_allow_private=False)
    body = {"name": "local", "kind": "webhook", "url": "http://127.0.0.1:8080/hook"}
    error = _post(monitored, "/channels", body, expect=422)["error"]
    assert "url" in error["details"]


def test_a_monitor_naming_an_unknown_channel_is_refused(monitored: Monitored) -> None:
    error = monitored.create_monitor(expect=422, checks=["drift"], channels=["nope"])["error"]
    assert error["details"]["channels"] == ["No channel named nope."]


def test_slack_and_email_channels_deliver_to_real_receivers(
    monitored: Monitored, outbox: Any, app: Any, settings: Any
) -> None:
    with SlackReceiver() as slack, SmtpReceiver() as smtp:
        smtp_settings = settings.with_overrides(
            smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="plain", smtp_from="a@x.io"
        )
        outbox.settings = smtp_settings
        _post(monitored, "/channels", {"name": "chat", "kind": "slack", "url": slack.url})
        _post(
            monitored,
            "/channels",
            {"name": "mail", "kind": "email", "recipients": ["oncall@example.com"]},
        )
        monitor = monitored.create_monitor(
            checks=["data_quality"], window={"hours": 1}, channels=["chat", "mail"]
        )
        monitored.log(400, missing_age=0.4)
        monitored.run(monitor["id"])
        assert outbox.run_once() == 2
        [message] = slack.received
        text = json.dumps(message)
        assert "churn" in text and "data_quality" in text and "critical" in text
        assert any(block.get("type") == "section" for block in message["blocks"])
        assert smtp.wait_for(1)
        [mail] = smtp.messages
        assert mail["To"] == "oncall@example.com"
        assert "churn" in mail["Subject"]
        plain = mail.get_body(("plain",)).get_content()
        assert "age" in plain and "critical" in plain
        assert mail.get_body(("html",)) is not None


def test_metrics_in_prometheus_text(monitored: Monitored, webhook: Any, outbox: Any) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = monitored.create_monitor(
        checks=["data_quality"], window={"hours": 1}, channels=["ops"]
    )
    ids = monitored.log(400, missing_age=0.4, labelled=False)
    body = {"labels": [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids[:30])]}
    body["labels"] += [{"prediction_id": pid, "label": "yes"} for pid in ids[30:37]]
    labelled = monitored.client.post(monitored.url("/labels"), json=body, headers=monitored.headers)
    assert labelled.json["rejected"] == 7, labelled.get_data(as_text=True)
    monitored.run(monitor["id"])
    outbox.run_once()
    response = monitored.client.get("/metrics", headers=monitored.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'assay_alerts{model="churn",severity="critical",status="firing"} 1.0' in text
    assert 'assay_deliveries{channel="ops",status="delivered"} 1.0' in text
    assert 'assay_monitor_runs_total{status="succeeded"} 1.0' in text
    assert 'assay_predictions_ingested_total{model="churn",outcome="accepted"} 400.0' in text
    assert 'assay_labels_ingested_total{model="churn",outcome="accepted"} 30.0' in text
    assert 'assay_labels_ingested_total{model="churn",outcome="rejected"} 7.0' in text
    assert monitored.client.get("/metrics").status_code == 401
