"""The transport against a scripted loopback server: retries, backoff, headers, errors."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

import assay
from assay._http import MAX_RETRY_DELAY, RETRY_AFTER_CAP, backoff_delay

WHOAMI = {"token_id": 1, "name": "ci-bot", "role": "viewer", "expires_at": None}


def error_body(code: str, message: str = "no", request_id: str = "req-1") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}, "request_id": request_id}}


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


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_on_get(
    scripted_server: Any, recorded_sleeps: Any, status: int
) -> None:
    scripted_server.answer(status, {})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    assert client.whoami().role == "viewer"
    assert len(scripted_server.requests) == 2


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


def test_post_is_never_retried(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(503, error_body("unavailable"))
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    with pytest.raises(assay.ServerError):
        client.create_model("churn", "binary_classification")

    assert [r.method for r in scripted_server.requests] == ["POST"]
    assert delays == []


def test_patch_is_not_retried_either(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(502, {})
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)

    with pytest.raises(assay.ServerError):
        client.update_model("churn", description="x")

    assert len(scripted_server.requests) == 1


def test_429_waits_as_long_as_retry_after_says(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(429, {}, headers={"Retry-After": "3"})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    client.whoami()

    assert delays == [3.0]


def test_retry_after_is_capped(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(429, {}, headers={"Retry-After": "86400"})
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    client.whoami()

    assert delays == [RETRY_AFTER_CAP]


def test_client_errors_are_not_retried(scripted_server: Any, recorded_sleeps: Any) -> None:
    scripted_server.answer(404, error_body("not_found"))
    client = assay.Client(scripted_server.url, "asy_test")
    delays = recorded_sleeps(client)

    with pytest.raises(assay.NotFound):
        client.get_model("churn")

    assert len(scripted_server.requests) == 1
    assert delays == []


def test_backoff_doubles_from_half_a_second_with_jitter_and_is_capped() -> None:
    for retry, full in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delay = backoff_delay(retry)
        assert full * 0.75 <= delay <= full
    assert backoff_delay(30) <= MAX_RETRY_DELAY


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


def test_a_server_slower_than_the_timeout_raises_api_timeout_error(scripted_server: Any) -> None:
    release = threading.Event()
    scripted_server.answer(200, WHOAMI, hold=release)
    client = assay.Client(scripted_server.url, "asy_test", timeout=0.2, max_retries=0)
    try:
        with pytest.raises(assay.APITimeoutError) as raised:
            client.whoami()
    finally:
        release.set()
    assert isinstance(raised.value, assay.APIConnectionError)


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
    scripted_server.answer(500, {})
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # the next import of it fails
    client = assay.Client(scripted_server.url, "asy_test")

    with pytest.raises(assay.ServerError):
        client.register_version("churn", reference_data=training_frame, target="churned")

    body = scripted_server.requests[0].body
    assert b'name="reference_data"; filename="reference.csv"' in body
    assert b"age,plan,churned\r\n23,basic,0" in body or b"age,plan,churned\n23,basic,0" in body


def test_a_dataframe_reference_is_sent_as_parquet_when_pyarrow_is_installed(
    scripted_server: Any, training_frame: Any
) -> None:
    scripted_server.answer(500, {})
    client = assay.Client(scripted_server.url, "asy_test")

    with pytest.raises(assay.ServerError):
        client.register_version("churn", reference_data=training_frame, target="churned")

    body = scripted_server.requests[0].body
    assert b'name="reference_data"; filename="reference.parquet"' in body
    assert b'name="metadata"' in body
