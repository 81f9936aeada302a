"""Webhook secrets and signatures (server) against the receivers' verifier (SDK)."""

from __future__ import annotations

import base64
import time

import pytest

from assay.webhooks import WebhookVerificationError, verify
from assay_server.alerts.signing import decode_secret, generate_secret, sign, signature_header

# from the Standard Webhooks reference library's tests (libraries/python/tests/test_webhooks.py)
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
BODY = b'{"id":"evt_01","type":"alert.firing","data":{"model":"churn"}}'
EVENT_ID = "evt_01JDR9Q3S7ZK4X8N2M5B6V7C8D"


def signed_headers(secrets: list[str], *, age: int = 0, body: bytes = BODY) -> dict[str, str]:
    timestamp = int(time.time()) - age
    return {
        "webhook-id": EVENT_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, EVENT_ID, timestamp, body),
    }


def test_generated_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(decode_secret(first)) == 32
    assert first != second


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "24 to 64 bytes, not 16"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "24 to 64 bytes, not 65"),
    ],
)
def test_malformed_secret_is_refused_with_the_reason(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_secret(secret)


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verifier_accepts_the_standard_webhooks_test_vector() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    age = int(time.time()) - SPEC_TIMESTAMP
    assert verify(headers, SPEC_BODY, SPEC_SECRET, tolerance=age + 60) == {"test": 2432232314}
    # the reference tests' "invalid signature": the same but for its last base64 character
    headers["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify(headers, SPEC_BODY, SPEC_SECRET, tolerance=age + 60)


def test_sign_then_verify_round_trip_returns_the_payload() -> None:
    secret = generate_secret()
    event = verify(signed_headers([secret]), BODY, secret)
    assert event == {"id": "evt_01", "type": "alert.firing", "data": {"model": "churn"}}


def test_verifier_accepts_a_str_body_header_names_in_any_case_and_a_bare_secret() -> None:
    secret = generate_secret()
    headers = {name.title(): value for name, value in signed_headers([secret]).items()}
    assert "Webhook-Signature" in headers
    assert verify(headers, BODY.decode(), secret.removeprefix("whsec_"))["id"] == "evt_01"


def test_during_rotation_both_the_old_and_the_new_secret_verify() -> None:
    old, new = generate_secret(), generate_secret()
    headers = signed_headers([new, old])
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(entry.startswith("v1,") for entry in entries)
    assert entries[0] == sign(new, EVENT_ID, int(headers["webhook-timestamp"]), BODY)
    assert verify(headers, BODY, old)["id"] == "evt_01"
    assert verify(headers, BODY, new)["id"] == "evt_01"
    with pytest.raises(WebhookVerificationError):
        verify(headers, BODY, generate_secret())


def test_a_tampered_body_is_refused() -> None:
    secret = generate_secret()
    headers = signed_headers([secret])
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify(headers, BODY.replace(b"churn", b"chum"), secret)


def test_a_tampered_id_is_refused() -> None:
    secret = generate_secret()
    headers = signed_headers([secret]) | {"webhook-id": "evt_other"}
    with pytest.raises(WebhookVerificationError):
        verify(headers, BODY, secret)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify(signed_headers([generate_secret()]), BODY, generate_secret())


def test_a_301_second_old_timestamp_is_refused_and_a_299_second_old_one_accepted() -> None:
    secret = generate_secret()
    with pytest.raises(WebhookVerificationError, match="s old"):
        verify(signed_headers([secret], age=301), BODY, secret)
    assert verify(signed_headers([secret], age=299), BODY, secret)["id"] == "evt_01"


def test_a_timestamp_301_seconds_in_the_future_is_refused() -> None:
    secret = generate_secret()
    with pytest.raises(WebhookVerificationError, match="in the future"):
        verify(signed_headers([secret], age=-301), BODY, secret)


def test_tolerance_is_the_receivers_choice() -> None:
    secret = generate_secret()
    headers = signed_headers([secret], age=100)
    assert verify(headers, BODY, secret, tolerance=120)["id"] == "evt_01"
    with pytest.raises(WebhookVerificationError):
        verify(headers, BODY, secret, tolerance=60)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    secret = generate_secret()
    headers = signed_headers([secret])
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(headers, BODY, secret)


@pytest.mark.parametrize("timestamp", ["soon", "1.7e9", "-5", "１２３"])
def test_a_timestamp_that_is_not_integer_seconds_is_refused(timestamp: str) -> None:
    secret = generate_secret()
    headers = signed_headers([secret]) | {"webhook-timestamp": timestamp}
    with pytest.raises(WebhookVerificationError, match="not integer epoch seconds"):
        verify(headers, BODY, secret)


def test_other_signature_versions_and_garbage_entries_are_skipped() -> None:
    secret = generate_secret()
    headers = signed_headers([secret])
    valid = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1a,AAAA v2,{valid[3:]} v1,@@@ nonsense {valid}"
    assert verify(headers, BODY, secret)["id"] == "evt_01"
    headers["webhook-signature"] = f"v2,{valid[3:]}"
    with pytest.raises(WebhookVerificationError):
        verify(headers, BODY, secret)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    secret = generate_secret()
    body = b"[1, 2]"
    with pytest.raises(WebhookVerificationError, match="not a JSON object"):
        verify(signed_headers([secret], body=body), body, secret)


def test_a_message_id_with_a_dot_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        sign(generate_secret(), "evt_1.2", 1700000000, BODY)


def test_signing_needs_at_least_one_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], EVENT_ID, 1700000000, BODY)
