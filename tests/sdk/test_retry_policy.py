"""One definition of what is retried: the client and the prediction logger agree on every status,
and the unit pieces of the policy behave as documented."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

import assay
from assay._retries import (
    RETRY_AFTER_CAP,
    Verdict,
    may_replay,
    retry_after_seconds,
    verdict,
)
from tests.sdk.conftest import ScriptedServer
from tests.sdk.logger_support import accepted

RETRIED = {408, 429, 500, 502, 503, 504}
WHOAMI = {"token_id": 1, "name": "ci-bot", "role": "viewer", "expires_at": None}


@pytest.mark.parametrize(
    "status", [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 501, 502, 503, 504, 505]
)
def test_a_status_the_client_retries_is_one_the_logger_retries(
    scripted_server: ScriptedServer, recorded_sleeps: Any, tmp_path: Path, status: int
) -> None:
    error = {"error": {"code": "x", "message": f"status {status}"}}
    scripted_server.answer(status, error)
    scripted_server.answer(200, WHOAMI)
    client = assay.Client(scripted_server.url, "asy_test")
    recorded_sleeps(client)
    with contextlib.suppress(assay.AssayError):
        client.whoami()
    client_retried = len(scripted_server.requests) == 2

    scripted_server.script.clear()
    scripted_server.requests.clear()
    scripted_server.answer(status, error)
    scripted_server.answer(200, accepted(1))
    logger = client.prediction_logger("churn", 3, spool_dir=tmp_path)
    logger.initial_backoff, logger.max_backoff = 0.01, 0.05
    logger.log({"age": 1}, 0)
    assert logger.flush(timeout=10)
    logger.close(timeout=0)
    logger_retried = logger.stats["retries"] == 1

    assert client_retried == logger_retried == (status in RETRIED)


def test_verdicts_of_statuses() -> None:
    assert [verdict(s) for s in (200, 201, 204, 304)] == [Verdict.DONE] * 4
    assert {s for s in range(400, 600) if verdict(s) is Verdict.RETRY} == RETRIED
    assert verdict(501) is verdict(404) is Verdict.FINAL


@pytest.mark.parametrize(
    ("method", "headers", "body", "expected"),
    [
        ("GET", {}, None, True),
        ("DELETE", {}, None, True),
        ("PUT", {}, b"{}", True),
        ("POST", {}, b"{}", False),
        ("POST", {"Idempotency-Key": "k"}, b"{}", True),
        ("patch", {"Idempotency-Key": "k"}, "{}", True),
        ("PATCH", {}, b"{}", False),
        ("POST", {"Idempotency-Key": "k"}, io.BytesIO(b"{}"), True),
        ("POST", {"Idempotency-Key": "k"}, iter([b"{}"]), False),
    ],
)
def test_what_may_be_sent_again(
    method: str, headers: dict[str, str], body: object, expected: bool
) -> None:
    assert may_replay(method, headers, body) is expected


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("-4") == 0.0
    assert retry_after_seconds("Fri, 15 Jan 2027 08:00:30 GMT", now=lambda: now) == 30.0
    assert retry_after_seconds("Fri, 15 Jan 2027 09:00:00 GMT", now=lambda: now) == RETRY_AFTER_CAP
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds(None) is None
