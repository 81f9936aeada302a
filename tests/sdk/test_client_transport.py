"""The client's HTTP layer against a scripted loopback server: what is retried, how long it
waits, the Idempotency-Key on every POST, replayed uploads, headers and errors."""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay._retries import MAX_RETRY_DELAY, RETRY_AFTER_CAP, backoff_delay

WHOAMI = {"token_id": 1, "name": "ci-bot", "role": "viewer", "expires_at": None}
MODEL = {
    "id": 1,
    "name": "churn",
    "task": "binary_classification",
    "risk_tier": "low",
    "created_at": "2026-11-30T09:00:00Z",
}
VERSION = {"id": 7, "model": "churn", "version": 1, "created_at": "2026-11-30T09:00:00Z"}


def error_body(code: str, message: str = "no", request_id: str = "req-1") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}, "request_id": request_id}}


def key_of(request: Any) -> str | None:
    return request.headers.get("Idempotency-Key")


def test_get_is_retried_after_two_503s_and_then_succeeds(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(503, error_body("unavailable"), times=2)
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    identity = client.whoami()

    assert identity.name == "ci-bot"
    assert len(scripted_server.requests) == 3
    assert 0.375 <= delays[0] <= 0.5
    assert 0.75 <= delays[1] <= 1.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_each_retryable_status_is_retried_on_get(
    scripted_server: Any, recorded_sleeps: Any, status: int
) -> None:
    scripted_server.answer(status, {})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    assert client.whoami().role == "viewer"
    assert len(scripted_server.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422, 501, 505])
def test_other_error_statuses_are_final(
    scripted_server: Any, recorded_sleeps: Any, status: int
) -> None:
    # 413 with a Retry-After is one urllib3 would retry by default: a body over the limit
    # stays over it.
    scripted_server.answer(status, error_body("x"), headers={"Retry-After": "1"})
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    with pytest.raises(assay.AssayError) as raised:
        client.whoami()

    assert raised.value.status == status
    assert len(scripted_server.requests) == 1
    assert delays == []


def test_retries_stop_after_max_retries_with_a_server_error(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(503, error_body("unavailable", "database down", "req-503"))
    client = assay.Client(scripted_server.url, "asy_test", max_retries=3)
    delays = recorded_sleeps(client)

    with pytest.raises(assay.ServerError) as raised:
        client.whoami()

    assert len(scripted_server.requests) == 4
    assert len(delays) == 3
    assert raised.value.status == 503
    assert raised.value.request_id == "req-503"


def test_a_post_is_retried_with_the_same_idempotency_key(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(503, error_body("unavailable"))
    scripted_server.answer(201, MODEL)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    model = client.create_model("churn", "binary_classification")

    assert model.name == "churn"
    first, second = scripted_server.requests
    assert (first.method, second.method) == ("POST", "POST")
    assert key_of(first) is not None and key_of(first) == key_of(second)
    assert re.fullmatch(r"[0-9a-f]{32}", key_of(first) or "")
    assert first.body == second.body


def test_every_post_call_gets_its_own_idempotency_key_and_other_calls_none(
    scripted_server: Any,
) -> None:
    scripted_server.answer(201, MODEL)
    client = assay.Client(scripted_server.url, "asy_test")

    client.create_model("churn", "binary_classification")
    client.archive_model("churn")
    client.get_model("churn")
    client.update_model("churn", description="x")

    keys = [key_of(request) for request in scripted_server.requests]
    assert keys[0] and keys[1] and keys[0] != keys[1]
    assert keys[2:] == [None, None]


def test_a_connection_refused_post_is_retried_too(
    closed_port_url: str, recorded_sleeps: Any
) -> None:
    client = assay.Client(closed_port_url, "asy_test", max_retries=2)
    delays = recorded_sleeps(client)

    with pytest.raises(assay.APIConnectionError, match="cannot reach"):
        client.create_model("churn", "binary_classification")

    assert len(delays) == 2


def test_a_patch_without_an_idempotency_key_is_not_retried(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(502, {})
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    with pytest.raises(assay.ServerError):
        client.update_model("churn", description="x")

    assert len(scripted_server.requests) == 1
    assert delays == []


def test_a_patch_with_an_idempotency_key_is_retried(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(502, {})
    scripted_server.answer(200, MODEL)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    client._transport.request("PATCH", "/models/churn", json={}, idempotency_key="k-1")

    assert [key_of(r) for r in scripted_server.requests] == ["k-1", "k-1"]


def test_429_waits_as_long_as_retry_after_says(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(429, {}, headers={"Retry-After": "3"})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    client.whoami()

    assert delays == [3.0]


@pytest.mark.parametrize("value", ["86400", "Fri, 31 Dec 2100 23:59:59 GMT"])
def test_retry_after_is_capped(scripted_server: Any, recorded_sleeps: Any, value: str) -> None:
    scripted_server.answer(503, {}, headers={"Retry-After": value})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    client.whoami()

    assert delays == [RETRY_AFTER_CAP] == [60.0]


def test_an_unreadable_retry_after_falls_back_to_the_backoff(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(429, {}, headers={"Retry-After": "soon"})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    client.whoami()

    assert len(delays) == 1 and 0.375 <= delays[0] <= 0.5


def test_backoff_doubles_from_half_a_second_with_jitter_and_is_capped() -> None:
    for retry, full in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delay = backoff_delay(retry)
        assert full * 0.75 <= delay <= full
    assert backoff_delay(30) <= MAX_RETRY_DELAY
    assert 22.5 <= backoff_delay(5000, 0.5, 30.0) <= 30.0  # no overflow after a long outage


def test_every_call_carries_the_token_and_the_sdk_user_agent(scripted_server: Any) -> None:
    scripted_server.answer(200, WHOAMI)
    assay.Client(scripted_server.url, "asy_secret").whoami()

    headers = scripted_server.requests[0].headers
    assert headers["Authorization"] == "Bearer asy_secret"
    assert headers["User-Agent"] == f"assay-python/{assay.__version__}"


def test_connection_refused_raises_api_connection_error(closed_port_url: str) -> None:
    client = assay.Client(closed_port_url, "asy_test", max_retries=0)

    with pytest.raises(assay.APIConnectionError, match="cannot reach the Assay server"):
        client.whoami()


def test_connection_errors_on_get_are_retried_with_backoff(
    closed_port_url: str, recorded_sleeps: Any
) -> None:
    client = assay.Client(closed_port_url, "asy_test", max_retries=2)
    delays = recorded_sleeps(client)

    with pytest.raises(assay.APIConnectionError):
        client.list_models()

    assert len(delays) == 2


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_server_slower_than_the_timeout_raises_api_timeout_error(
    scripted_server: Any, recorded_sleeps: Any, max_retries: int
) -> None:
    release = threading.Event()
    scripted_server.answer(200, WHOAMI, hold=release)
    client = assay.Client(scripted_server.url, "asy_test", timeout=0.2, max_retries=max_retries)
    recorded_sleeps(client)
    try:
        with pytest.raises(assay.APITimeoutError) as raised:
            client.whoami()
    finally:
        release.set()
    assert isinstance(raised.value, assay.APIConnectionError)
    assert len(scripted_server.requests) == 1 + max_retries


def test_a_retried_upload_sends_every_part_whole_again(
    scripted_server: Any, recorded_sleeps: Any, tmp_path: Path
) -> None:
    artifact = tmp_path / "churn.skops"
    artifact.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 400)  # 100 KB
    reference = tmp_path / "reference.csv"
    reference.write_text("age,churned\n" + "".join(f"{i},{i % 2}\n" for i in range(5000)))
    scripted_server.answer(503, error_body("unavailable"))
    scripted_server.answer(201, VERSION)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    with artifact.open("rb") as opened:
        client.register_version("churn", opened, reference_data=reference)

    first, second = scripted_server.requests
    assert key_of(first) == key_of(second) is not None
    assert first.body == second.body
    assert int(second.headers["Content-Length"]) == len(second.body)
    assert artifact.read_bytes() in second.body
    assert reference.read_bytes() in second.body


def test_a_seekable_stream_body_is_rewound_before_it_is_sent_again(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(503, {})
    scripted_server.answer(200, {})
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)
    body = b"x" * 70_000

    client._transport.session.post(
        client.base_url + "/uploads", data=io.BytesIO(body), headers={"Idempotency-Key": "k"}
    )

    assert [request.body for request in scripted_server.requests] == [body, body]


def test_a_body_that_cannot_be_read_again_is_sent_once(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(503, {})
    scripted_server.answer(200, {})
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    def chunks() -> Iterator[bytes]:
        yield b"first half, "
        yield b"second half"

    response = client._transport.session.post(
        client.base_url + "/uploads", data=chunks(), headers={"Idempotency-Key": "k"}
    )

    assert response.status_code == 503  # handed back rather than resent truncated
    assert len(scripted_server.requests) == 1
    assert delays == []


def test_payload_too_large_is_mapped_from_its_code(scripted_server: Any) -> None:
    scripted_server.answer(413, error_body("payload_too_large", "artifact over 1 MB", "req-413"))
    client = assay.Client(scripted_server.url, "asy_test")

    with pytest.raises(assay.PayloadTooLarge) as raised:
        client.register_version("churn", b"\0" * 10, format="skops")

    assert raised.value.status == 413
    assert "req-413" in str(raised.value)


def test_an_error_without_the_json_shape_still_maps_by_status_and_request_header(
    scripted_server: Any, recorded_sleeps: Any
) -> None:
    scripted_server.answer(500, "<html>oops</html>", headers={"X-Request-Id": "req-html"})
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    with pytest.raises(assay.ServerError) as raised:
        client.whoami()

    assert raised.value.request_id == "req-html"
    assert raised.value.code is None


def test_a_dataframe_reference_is_sent_as_csv_when_pyarrow_is_missing(
    scripted_server: Any, training_frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.answer(422, error_body("validation_error"))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # the next import of it fails
    client = assay.Client(scripted_server.url, "asy_test")

    with pytest.raises(assay.ValidationError):
        client.register_version("churn", reference_data=training_frame, target="churned")

    body = scripted_server.requests[0].body
    assert b'name="reference_data"; filename="reference.csv"' in body
    assert b"age,plan,churned\r\n23,basic,0" in body or b"age,plan,churned\n23,basic,0" in body


def test_a_dataframe_reference_is_sent_as_parquet_when_pyarrow_is_installed(
    scripted_server: Any, training_frame: Any
) -> None:
    scripted_server.answer(422, error_body("validation_error"))
    client = assay.Client(scripted_server.url, "asy_test")

    with pytest.raises(assay.ValidationError):
        client.register_version("churn", reference_data=training_frame, target="churned")

    body = scripted_server.requests[0].body
    assert b'name="reference_data"; filename="reference.parquet"' in body
    assert b'name="metadata"' in body
