"""Channel secrets are write-only: URLs are read back masked by every role, and no secret
reaches the delivery log, the audit trail or the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from assay_server.alerts.outbox import Outbox
from tests.api.factories import API, audit_events, create_model

from .receivers import SlackReceiver, SmtpReceiver, WebhookReceiver

SLACK_PATH = "/services/T0SECRETWS/B0SECRETHK/xoxSECRETtoken42"
PASSWORD = "s3cret-pa55word"
TOKEN = "tok-SECRET-9f8e7d"
SMTP_PASSWORD = "smtp-SECRET-pa55"
SECRETS = ("T0SECRETWS", "B0SECRETHK", "xoxSECRETtoken42", PASSWORD, TOKEN, SMTP_PASSWORD)


def _hidden(text: str, *also: str) -> bool:
    """True when none of the test's secrets (nor ``also``) appear in ``text``."""
    return not any(secret in text for secret in (*SECRETS, *also))


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("whsec_" + "Q" * 44) as receiver:
        yield receiver


def _base(receiver: Any) -> str:
    """``http://127.0.0.1:PORT`` of a receiver (which answers on any path)."""
    return receiver.url.rsplit("/", 1)[0].split("/services")[0]


def _create(client: Any, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/channels", json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def _channels(client: Any, admin_headers: dict[str, str], slack: Any, hook: Any) -> dict[str, Any]:
    """A Slack channel, a webhook with a password and a token in its URL, and an e-mail one."""
    slack_url = _base(slack) + SLACK_PATH
    hook_url = f"http://ops:{PASSWORD}@{_base(hook)[7:]}/hook?token={TOKEN}&v=1"
    return {
        "chat": _create(client, admin_headers, {"name": "chat", "kind": "slack", "url": slack_url}),
        "hook": _create(
            client,
            admin_headers,
            {"name": "hook", "kind": "webhook", "url": hook_url, "secret": hook.secret},
        ),
        "mail": _create(
            client, admin_headers, {"name": "mail", "kind": "email", "recipients": ["a@x.io"]}
        ),
    }


def test_every_role_reads_channel_urls_masked_and_no_secret(
    client: Any, admin_headers: dict[str, str], headers_for: Any, slack: Any, webhook_receiver: Any
) -> None:
    created = _channels(client, admin_headers, slack, webhook_receiver)
    port = _base(slack).rsplit(":", 1)[1]
    hook_port = _base(webhook_receiver).rsplit(":", 1)[1]
    expected = {
        "chat": f"http://127.0.0.1:{port}/services/T…/…",
        "hook": f"http://ops:…@127.0.0.1:{hook_port}/hook?token=…&v=…",
        "mail": None,
    }
    assert {name: channel["url"] for name, channel in created.items()} == expected
    create_model(client, admin_headers, "churn")
    defaults = client.put(
        f"{API}/models/churn/default-channels",
        json={"channels": ["chat", "hook"]},
        headers=admin_headers,
    )
    assert defaults.status_code == 200
    for role in ("viewer", "admin"):
        headers = headers_for(role)
        listed = client.get(f"{API}/channels", headers=headers)
        assert {c["name"]: c["url"] for c in listed.json} == expected
        one = client.get(f"{API}/channels/{created['chat']['id']}", headers=headers)
        model_defaults = client.get(f"{API}/models/churn/default-channels", headers=headers)
        for response in (listed, one, model_defaults, defaults):
            text = response.get_data(as_text=True)
            assert _hidden(text, webhook_receiver.secret, "whsec_"), text
    assert _hidden(json.dumps(created), webhook_receiver.secret)


def test_an_admin_replaces_a_secret_url_whole_and_rotation_keeps_working(
    client: Any, admin_headers: dict[str, str], slack: Any, webhook_receiver: Any, outbox: Outbox
) -> None:
    created = _channels(client, admin_headers, slack, webhook_receiver)
    chat = f"{API}/channels/{created['chat']['id']}"
    sent_back = client.patch(chat, json={"url": created["chat"]["url"]}, headers=admin_headers)
    assert sent_back.status_code == 422
    assert "masked" in sent_back.json["error"]["details"]["url"][0]

    new_url = _base(slack) + "/services/T0SECRETWS/B0SECRETHK/xoxSECRETnewtoken"
    replaced = client.patch(chat, json={"url": new_url}, headers=admin_headers)
    assert replaced.status_code == 200 and replaced.json["url"].endswith("/services/T…/…")
    assert client.post(f"{chat}/test", headers=admin_headers).status_code == 202

    hook = f"{API}/channels/{created['hook']['id']}"
    rotated = client.patch(hook, json={"rotate_secret": True}, headers=admin_headers).json
    assert rotated["secret"].startswith("whsec_") and "…" in rotated["url"]
    assert outbox.run_once() == 1
    assert len(slack.received) == 1  # the test message went to the replaced URL

    trail = json.dumps(
        audit_events(client, admin_headers, "channel", "chat")
        + audit_events(client, admin_headers, "channel", "hook")
    )
    assert _hidden(trail, "xoxSECRETnewtoken", rotated["secret"], webhook_receiver.secret)
    assert '"replaced": true' in trail  # the masked URLs read alike; the change is recorded


def test_the_delivery_log_and_the_logs_never_carry_a_channels_secrets(
    client: Any,
    admin_headers: dict[str, str],
    headers_for: Any,
    slack: Any,
    webhook_receiver: Any,
    outbox: Outbox,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = _channels(client, admin_headers, slack, webhook_receiver)
    # receivers that quote what they were sent, as a 404 page quotes the path
    slack.fail_next(1, status=404, body=f"no_service: POST {SLACK_PATH}".encode())
    webhook_receiver.fail_next(1, status=401, body=f"bad credentials ops:{PASSWORD}".encode())
    with SmtpReceiver(username="assay", password="the-right-one") as smtp:
        outbox.settings = settings.with_overrides(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security="plain",
            smtp_username="assay",
            smtp_password=SMTP_PASSWORD,
        )
        for channel in created.values():
            queued = client.post(f"{API}/channels/{channel['id']}/test", headers=admin_headers)
            assert queued.status_code == 202
        assert outbox.run_once() == 3

    viewer = headers_for("viewer")
    log = client.get(f"{API}/deliveries", headers=viewer)
    errors = {d["channel"]: d["attempt_log"][0]["error"] for d in log.json}
    assert errors["chat"].startswith(f"HTTP 404 from {_base(slack)}: no_service: POST …")
    assert errors["hook"].startswith("HTTP 401 from") and "ops:…" in errors["hook"]
    assert "refused the login" in errors["mail"]
    for delivery in log.json:
        text = client.get(f"{API}/deliveries/{delivery['id']}", headers=viewer).get_data(True)
        assert _hidden(text), text
    assert _hidden(log.get_data(as_text=True))
    assert _hidden(caplog.text)
