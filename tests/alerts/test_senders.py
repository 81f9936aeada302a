"""Delivering one notification to one channel, against real receivers on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from assay_server.alerts.render import Notification, webhook_body
from assay_server.alerts.senders import USER_AGENT, Attempt, Channel, SmtpConfig, deliver
from assay_server.alerts.signing import generate_secret
from assay_server.alerts.targets import (
    UnresolvableTarget,
    UnsafeTarget,
    check_webhook_target,
)
from tests.alerts.receivers import SlackReceiver, SmtpReceiver, WebhookReceiver

REPORT_URL = "http://assay.example/reports/41"
ALERT_URL = "http://assay.example/alerts/7"


def firing(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "event_id": "evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D",
        "type": "alert.firing",
        "occurred_at": datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc),
        "model": "credit-risk",
        "version": 3,
        "check": "drift",
        "subject": "dataset",
        "severity": "critical",
        "status": "firing",
        "summary": "3 of 20 columns drifted (share 0.15 >= 0.1)",
        "figures": {"share_drifted": 0.15, "n_drifted": 3, "n_columns": 20, "levels": {"a": 1}},
        "top": [
            {"feature": "income", "method": "wasserstein", "score": 0.4213},
            {"feature": "age", "method": "ks", "score": 0.0031},
            {"feature": "region", "method": "jensenshannon", "score": 0.2},
        ],
        "report_url": REPORT_URL,
        "alert_url": ALERT_URL,
        "alert_id": 7,
        "report_id": 41,
    }
    return Notification(**(values | changes))


def webhook_channel(url: str, *secrets: str) -> Channel:
    return Channel(id=1, name="on-call hook", kind="webhook", url=url, secrets=list(secrets))


def send(channel: Channel, notification: Notification | None = None, **options: Any) -> Attempt:
    options = {"smtp": None, "allow_private": True} | options
    return deliver(channel, notification or firing(), **options)


@pytest.fixture
def secret() -> str:
    return generate_secret()


@pytest.fixture
def receiver(secret: str) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret) as started:
        yield started


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as started:
        yield started


# -- webhook ----------------------------------------------------------------------------------


def test_webhook_is_delivered_signed_and_verified_by_the_receiver(
    receiver: WebhookReceiver, secret: str
) -> None:
    attempt = send(webhook_channel(receiver.url, secret))

    assert attempt.ok, attempt.error
    assert attempt.status_code == 200
    assert attempt.error is None
    assert attempt.response_excerpt == "ok"
    assert attempt.duration_ms > 0
    [(headers, body, verified)] = receiver.received
    assert verified
    assert headers["webhook-id"] == "evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert body == webhook_body(firing())


def test_webhook_body_is_the_documented_json(receiver: WebhookReceiver, secret: str) -> None:
    notification = firing(figures={"share_drifted": 0.15, "psi": float("nan")})
    send(webhook_channel(receiver.url, secret), notification)

    [event] = receiver.events
    assert event == {
        "id": "evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D",
        "type": "alert.firing",
        "timestamp": "2026-11-23T09:00:00Z",
        "data": {
            "alert_id": 7,
            "status": "firing",
            "severity": "critical",
            "model": "credit-risk",
            "version": 3,
            "check": "drift",
            "subject": "dataset",
            "summary": "3 of 20 columns drifted (share 0.15 >= 0.1)",
            "figures": {"share_drifted": 0.15, "psi": None},
            "top": notification.top,
            "report_id": 41,
            "report_url": REPORT_URL,
            "alert_url": ALERT_URL,
        },
    }


def test_webhook_timestamp_is_the_attempts_time_from_the_clock(
    receiver: WebhookReceiver, secret: str
) -> None:
    moment = datetime.now(timezone.utc) - timedelta(seconds=30)
    send(webhook_channel(receiver.url, secret), now=lambda: moment)
    [(headers, _, verified)] = receiver.received
    assert verified
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))


def test_a_receiver_refuses_a_delivery_signed_301_seconds_ago(
    receiver: WebhookReceiver, secret: str
) -> None:
    stale = datetime.now(timezone.utc) - timedelta(seconds=301)
    attempt = send(webhook_channel(receiver.url, secret), now=lambda: stale)

    assert not attempt.ok
    assert attempt.status_code == 401
    assert attempt.error is not None and "HTTP 401" in attempt.error
    assert [verified for _, _, verified in receiver.received] == [False]
    assert "s old" in receiver.rejections[0]


def test_a_receiver_holding_another_secret_refuses_the_delivery(receiver: WebhookReceiver) -> None:
    attempt = send(webhook_channel(receiver.url, generate_secret()))
    assert not attempt.ok
    assert attempt.status_code == 401
    assert receiver.rejections == ["no webhook-signature entry matches the secret"]


def test_during_rotation_receivers_with_either_secret_verify(secret: str) -> None:
    new = generate_secret()
    with WebhookReceiver(secret) as old_side, WebhookReceiver(new) as new_side:
        for receiver in (old_side, new_side):
            attempt = send(webhook_channel(receiver.url, new, secret))
            assert attempt.ok, attempt.error
            [(headers, _, verified)] = receiver.received
            assert verified
            assert len(headers["webhook-signature"].split(" ")) == 2


def test_every_attempt_carries_the_same_event_id(receiver: WebhookReceiver, secret: str) -> None:
    receiver.fail_next(1)
    channel = webhook_channel(receiver.url, secret)

    first, second = send(channel), send(channel)

    assert (first.ok, second.ok) == (False, True)
    ids = {headers["webhook-id"] for headers, _, _ in receiver.received}
    assert ids == {"evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D"}
    assert [verified for _, _, verified in receiver.received] == [True, True]


def test_a_500_answer_is_a_failure_with_its_status_and_excerpt(
    receiver: WebhookReceiver, secret: str
) -> None:
    receiver.fail_next(1, status=500)
    attempt = send(webhook_channel(receiver.url, secret))

    assert not attempt.ok
    assert attempt.status_code == 500
    assert attempt.error == f"HTTP 500 from {receiver.url.rsplit('/', 1)[0]}: scripted failure"
    assert attempt.response_excerpt == "scripted failure"


def test_a_hanging_receiver_times_out(receiver: WebhookReceiver, secret: str) -> None:
    receiver.hang_next(1, seconds=10)
    attempt = send(webhook_channel(receiver.url, secret), timeout=0.3)

    assert not attempt.ok
    assert attempt.status_code is None
    assert attempt.error is not None
    assert "no response" in attempt.error and "within 0.3 s" in attempt.error
    assert len(receiver.received) == 1


def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver: WebhookReceiver, secret: str
) -> None:
    with WebhookReceiver(secret) as elsewhere:
        receiver.redirect_next(1, elsewhere.url, status=301)
        attempt = send(webhook_channel(receiver.url, secret))
        assert elsewhere.received == []

    assert not attempt.ok
    assert attempt.status_code == 301
    assert attempt.error is not None
    assert "redirects are not followed" in attempt.error
    assert len(receiver.received) == 1


def test_a_closed_port_is_a_connection_failure(secret: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = send(webhook_channel(f"http://127.0.0.1:{port}/hook", secret), timeout=1)

    assert not attempt.ok
    assert attempt.status_code is None
    assert attempt.error == f"connection to http://127.0.0.1:{port} failed: Connection refused"


def test_an_invalid_secret_is_a_failure_not_an_exception(receiver: WebhookReceiver) -> None:
    attempt = send(webhook_channel(receiver.url, "hunter2"))
    assert not attempt.ok
    assert attempt.error == "cannot sign the webhook: a webhook secret starts with 'whsec_'"
    assert receiver.received == []


# -- where webhooks may go (SSRF) -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 written as one number
    ],
)
def test_link_local_and_metadata_targets_are_refused_even_when_private_is_allowed(
    url: str,
) -> None:
    with pytest.raises(UnsafeTarget, match="webhooks never go there"):
        check_webhook_target(url, allow_private=True)


def test_the_metadata_address_is_refused_at_delivery_even_when_private_is_allowed(
    secret: str,
) -> None:
    channel = webhook_channel("http://169.254.169.254/latest/meta-data/", secret)
    attempt = send(channel, allow_private=True, timeout=1)
    assert not attempt.ok
    assert attempt.status_code is None
    assert attempt.error == (
        "target refused: 169.254.169.254 is link-local (where cloud metadata services live); "
        "webhooks never go there"
    )


def test_loopback_is_refused_unless_private_targets_are_allowed(
    receiver: WebhookReceiver, secret: str
) -> None:
    channel = webhook_channel(receiver.url, secret)

    refused = send(channel, allow_private=False)
    allowed = send(channel, allow_private=True)

    assert not refused.ok
    assert refused.error is not None
    assert "127.0.0.1 is a loopback address" in refused.error
    assert "ASSAY_WEBHOOK_ALLOW_PRIVATE=1" in refused.error
    assert allowed.ok, allowed.error
    assert len(receiver.received) == 1


def test_a_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UnsafeTarget, match=r"localhost \((127\.0\.0\.1|::1)\) is a loopback"):
        check_webhook_target("http://localhost:8080/hook", allow_private=False)
    check_webhook_target("http://localhost:8080/hook", allow_private=True)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://10.1.2.3/hook", "private"),  # RFC 1918, each of the three
        ("http://172.16.0.1/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("http://[fd12:3456::1]/hook", "private"),  # unique-local
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
    ],
)
def test_private_and_loopback_addresses_need_the_private_opt_in(url: str, kind: str) -> None:
    with pytest.raises(UnsafeTarget, match=f"is a {kind} address; set ASSAY_WEBHOOK_ALLOW"):
        check_webhook_target(url, allow_private=False)
    check_webhook_target(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://0.0.0.0/hook", "an unspecified"),
        ("http://[::]/hook", "an unspecified"),
        ("http://224.0.0.1/hook", "a multicast"),
        ("http://[ff02::1]/hook", "a multicast"),
        ("http://240.0.0.1/hook", "a reserved"),
        ("http://255.255.255.255/hook", "a reserved"),
        ("http://[fec0::1]/hook", "a site-local"),
        ("http://100.64.0.1/hook", "a non-global"),  # shared address space (RFC 6598)
        ("http://192.0.2.1/hook", "a non-global"),  # documentation
        ("http://198.18.0.1/hook", "a non-global"),  # benchmarking
        ("http://0.1.2.3/hook", "a non-global"),  # "this network"
    ],
)
def test_unspecified_multicast_reserved_and_other_non_global_addresses_are_always_refused(
    url: str, kind: str
) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeTarget, match=f"is {kind} address; webhooks never go there"):
            check_webhook_target(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:a9fe:a9fe::1]/latest/meta-data/",  # 6to4 around 169.254.169.254
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 around it
    ],
)
def test_an_ipv6_address_embedding_the_metadata_address_is_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match=r"\(169\.254\.169\.254\) is link-local"):
        check_webhook_target(url, allow_private=True)


def test_a_public_address_is_allowed() -> None:
    check_webhook_target("https://93.184.215.14/hooks/assay", allow_private=False)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://93.184.215.14/x", "gopher://x/", "http:///nohost"]
)
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_webhook_target(url, allow_private=True)


def test_an_unresolvable_host_is_reported_as_such(secret: str) -> None:
    with pytest.raises(UnresolvableTarget, match="cannot resolve"):
        check_webhook_target("http://no-such-host.invalid/hook", allow_private=True)
    attempt = send(webhook_channel("http://no-such-host.invalid/hook", secret))
    assert not attempt.ok
    assert attempt.error is not None and attempt.error.startswith("cannot resolve")


def test_a_dns_answer_changing_to_loopback_after_the_check_is_refused_at_connection(
    receiver: WebhookReceiver, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1"])  # first the check's, then the connection's

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = receiver.url.split(":")[2].split("/")[0]

    attempt = send(webhook_channel(f"http://rebind.test:{port}/hook", secret), allow_private=False)

    assert not attempt.ok
    assert attempt.error is not None
    assert attempt.error.startswith("target refused at connection: rebind.test (127.0.0.1)")
    assert receiver.received == []


# -- Slack ------------------------------------------------------------------------------------


def slack_channel(url: str) -> Channel:
    return Channel(id=2, name="#ml-oncall", kind="slack", url=url)


def block_texts(payload: dict[str, Any]) -> str:
    """All the text of a Slack message's blocks, for looking things up."""
    return json.dumps(payload["blocks"], ensure_ascii=False)


def test_slack_message_has_blocks_with_the_facts_top_features_and_links(
    slack: SlackReceiver,
) -> None:
    attempt = send(slack_channel(slack.url))

    assert attempt.ok, attempt.error
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "ok"
    [payload] = slack.received
    assert payload["text"].startswith("Firing (critical): drift of dataset on credit-risk v3")
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Firing (critical): drift of dataset on credit-risk v3",
        },
    }
    fields = [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert fields == [
        "*Model*\ncredit-risk",
        "*Version*\n3",
        "*Check*\ndrift",
        "*Subject*\ndataset",
        "*Severity*\ncritical",
        "*Status*\nfiring",
    ]
    top = next(b for b in blocks if "Top drifted features" in b.get("text", {}).get("text", ""))
    assert top["text"]["text"].splitlines() == [
        "*Top drifted features*",
        "• `income` method wasserstein, score 0.4213",
        "• `age` method ks, score 0.0031",
        "• `region` method jensenshannon, score 0.2",
    ]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [
        ("Open report", REPORT_URL),
        ("Acknowledge", ALERT_URL),
    ]
    assert "share_drifted: 0.15" in block_texts(payload)
    assert slack.headers[0]["user-agent"] == USER_AGENT


def test_slack_text_escapes_markup_from_data(slack: SlackReceiver) -> None:
    send(slack_channel(slack.url), firing(summary="share <0.5 & rising", model="a<b>"))
    text = block_texts(slack.received[0])
    assert "share &lt;0.5 &amp; rising" in text
    assert "*Model*\\na&lt;b&gt;" in text
    assert "<0.5" not in text


def test_slack_message_for_a_resolved_alert_offers_to_view_it(slack: SlackReceiver) -> None:
    send(slack_channel(slack.url), firing(type="alert.resolved", status="resolved"))
    payload = slack.received[0]
    assert payload["blocks"][0]["text"]["text"] == "Resolved: drift of dataset on credit-risk v3"
    assert "View alert" in block_texts(payload)
    assert "Acknowledge" not in block_texts(payload)


def test_a_slack_error_is_a_failure_without_the_secret_url_path(slack: SlackReceiver) -> None:
    slack.fail_next(1, status=404)
    attempt = send(slack_channel(slack.url))

    assert not attempt.ok
    assert attempt.status_code == 404
    assert attempt.error is not None
    assert "HTTP 404" in attempt.error
    assert "/services/" not in attempt.error


def test_an_unexpected_error_quoting_the_url_is_logged_scrubbed(
    slack: SlackReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from assay_server.alerts import senders

    def broken(channel: Channel, *_args: Any) -> Attempt:
        raise RuntimeError(f"cannot post to {channel.url}")

    monkeypatch.setattr(senders, "_send_slack", broken)
    attempt = send(slack_channel(slack.url))
    assert attempt.error == "unexpected RuntimeError while delivering"
    assert "cannot post to …" in caplog.text and "XXXXXXXX" not in caplog.text


def test_slack_targets_follow_the_same_address_rules(slack: SlackReceiver) -> None:
    attempt = send(slack_channel(slack.url), allow_private=False)
    assert not attempt.ok
    assert attempt.error is not None and "loopback" in attempt.error
    assert slack.received == []


# -- e-mail -----------------------------------------------------------------------------------


def email_channel(*recipients: str) -> Channel:
    return Channel(id=3, name="ml team", kind="email", recipients=list(recipients))


def smtp_config(receiver: SmtpReceiver, **changes: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": receiver.host,
        "port": receiver.port,
        "security": "plain",
        "username": "",
        "password": "",
        "sender": "Assay <assay@example.org>",
        "timeout": 5.0,
    }
    return SmtpConfig(**(values | changes))


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def test_email_over_plain_smtp_is_one_multipart_message_to_all_recipients() -> None:
    with SmtpReceiver() as smtp:
        attempt = send(email_channel("ana@example.org", "ben@example.org"), smtp=smtp_config(smtp))
        assert smtp.wait_for(1)

    assert attempt.ok, attempt.error
    assert attempt.status_code == 250
    assert attempt.response_excerpt == "accepted for 2 recipient(s)"
    [message] = smtp.messages
    assert smtp.envelopes == [("assay@example.org", ["ana@example.org", "ben@example.org"])]
    assert message["Subject"] == (
        "[Assay] Firing (critical): drift of dataset on credit-risk v3 — "
        "3 of 20 columns drifted (share 0.15 >= 0.1)"
    )
    assert message["From"] == "Assay <assay@example.org>"
    assert message["To"] == "ana@example.org, ben@example.org"
    assert message["Message-ID"] == "<evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D.3@example.org>"
    assert message.get_content_type() == "multipart/alternative"
    assert list(parts(message)) == ["text/plain", "text/html"]


def test_email_text_names_the_alert_its_figures_and_links() -> None:
    with SmtpReceiver() as smtp:
        send(email_channel("ana@example.org"), smtp=smtp_config(smtp))
        assert smtp.wait_for(1)

    text = parts(smtp.messages[0])["text/plain"]
    assert text.splitlines() == [
        "Firing (critical): drift of dataset on credit-risk v3",
        "",
        "3 of 20 columns drifted (share 0.15 >= 0.1)",
        "",
        "Model:    credit-risk",
        "Version:  3",
        "Check:    drift",
        "Subject:  dataset",
        "Severity: critical",
        "Status:   firing",
        "When:     2026-11-23 09:00 UTC",
        "",
        "Top drifted features:",
        "  - income: method wasserstein, score 0.4213",
        "  - age: method ks, score 0.0031",
        "  - region: method jensenshannon, score 0.2",
        "",
        "Figures:",
        "  share_drifted: 0.15",
        "  n_drifted: 3",
        "  n_columns: 20",
        "",
        f"Report: {REPORT_URL}",
        f"Acknowledge: {ALERT_URL}",
        "",
        "Event evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D. Sent by Assay; one e-mail per alert transition.",
    ]


def test_email_html_escapes_data_and_links_the_report() -> None:
    notification = firing(model="<script>x</script>", summary="share < 0.5 & rising")
    with SmtpReceiver() as smtp:
        send(email_channel("ana@example.org"), notification, smtp=smtp_config(smtp))
        assert smtp.wait_for(1)

    html = parts(smtp.messages[0])["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "share &lt; 0.5 &amp; rising" in html
    assert f'<a href="{REPORT_URL}">Open report</a>' in html
    assert f'<a href="{ALERT_URL}">Acknowledge</a>' in html
    assert "<code>income</code> — method wasserstein, score 0.4213" in html


def test_email_with_auth_over_plain_smtp_logs_in() -> None:
    with SmtpReceiver(username="assay", password="s3cret") as smtp:
        attempt = send(
            email_channel("ana@example.org"),
            smtp=smtp_config(smtp, username="assay", password="s3cret"),
        )
        assert smtp.wait_for(1)
    assert attempt.ok, attempt.error
    assert smtp.logins == ["assay"]


def test_a_refused_login_is_a_failure_with_the_smtp_code() -> None:
    with SmtpReceiver(username="assay", password="s3cret") as smtp:
        attempt = send(
            email_channel("ana@example.org"),
            smtp=smtp_config(smtp, username="assay", password="wrong"),
        )
        assert smtp.messages == []
    assert not attempt.ok
    assert attempt.status_code == 535
    assert attempt.error is not None
    assert "refused the login: 535" in attempt.error
    assert "wrong" not in attempt.error


def test_a_server_requiring_auth_refuses_an_anonymous_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpReceiver(
        security="starttls", username="assay", password="s3cret", cert_dir=tmp_path
    ) as smtp:
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))
        attempt = send(
            email_channel("ana@example.org"), smtp=smtp_config(smtp, security="starttls")
        )
    assert not attempt.ok
    assert attempt.status_code == 530
    assert smtp.messages == []


def test_email_over_starttls_with_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver(
        security="starttls", username="assay", password="s3cret", cert_dir=tmp_path
    ) as smtp:
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))
        attempt = send(
            email_channel("ana@example.org"),
            smtp=smtp_config(smtp, security="starttls", username="assay", password="s3cret"),
        )
        assert smtp.wait_for(1)
    assert attempt.ok, attempt.error
    assert smtp.logins == ["assay"]
    assert "3 of 20 columns drifted" in parts(smtp.messages[0])["text/plain"]


def test_email_over_ssl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver(security="ssl", cert_dir=tmp_path) as smtp:
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))
        attempt = send(email_channel("ana@example.org"), smtp=smtp_config(smtp, security="ssl"))
        assert smtp.wait_for(1)
    assert attempt.ok, attempt.error
    assert smtp.messages[0]["Subject"].startswith("[Assay] Firing (critical)")


def test_an_untrusted_smtp_certificate_is_refused(tmp_path: Path) -> None:
    with SmtpReceiver(security="ssl", cert_dir=tmp_path) as smtp:
        attempt = send(email_channel("ana@example.org"), smtp=smtp_config(smtp, security="ssl"))
        assert smtp.messages == []
    assert not attempt.ok
    assert attempt.error is not None
    assert attempt.error.startswith(f"TLS error with SMTP server 127.0.0.1:{smtp.port}")
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error


def test_starttls_against_a_server_without_it_is_a_failure() -> None:
    with SmtpReceiver() as smtp:
        attempt = send(
            email_channel("ana@example.org"), smtp=smtp_config(smtp, security="starttls")
        )
    assert not attempt.ok
    assert attempt.error is not None and "STARTTLS extension not supported" in attempt.error


def test_email_without_smtp_settings_is_a_failure() -> None:
    attempt = send(email_channel("ana@example.org"), smtp=None)
    assert not attempt.ok
    assert attempt.error is not None and "ASSAY_SMTP_HOST" in attempt.error


def test_an_smtp_server_that_is_down_is_a_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SmtpConfig("127.0.0.1", port, "plain", "", "", "assay@example.org", 2.0)
    attempt = send(email_channel("ana@example.org"), smtp=config)
    assert not attempt.ok
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith(f"SMTP server 127.0.0.1:{port} failed: ConnectionRefused")


def test_an_unknown_channel_kind_is_a_failure() -> None:
    attempt = send(Channel(id=9, name="pager", kind="pagerduty", url="https://x.example"))
    assert not attempt.ok
    assert attempt.error == "unknown channel kind 'pagerduty'"
