"""The SDK's one date rule (no timezone means UTC) and its one way of quoting names into paths,
each applied by every call that sends a time or a name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import assay
from assay._dates import as_utc, epoch_seconds, iso_utc, parse_datetime
from assay._paths import model_path, spool_directory_name, version_path
from tests.sdk.conftest import ScriptedServer
from tests.sdk.logger_support import accepted, decoded, wait_for

PARIS_WINTER = timezone(timedelta(hours=1))
NAIVE = datetime(2026, 11, 30, 9, 0)
ALERT = {
    "id": 5,
    "monitor_id": 1,
    "model": "churn",
    "version": 1,
    "check": "drift",
    "subject": "age",
    "status": "silenced",
    "severity": "alert",
    "report_id": 2,
}


def test_a_naive_datetime_is_utc_and_an_aware_one_is_converted() -> None:
    assert as_utc(NAIVE) == datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    assert as_utc(NAIVE.replace(tzinfo=PARIS_WINTER)) == datetime(
        2026, 11, 30, 8, 0, tzinfo=timezone.utc
    )
    assert epoch_seconds(NAIVE) == NAIVE.replace(tzinfo=timezone.utc).timestamp()
    assert epoch_seconds(1.5) == 1.5


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (NAIVE, "2026-11-30T09:00:00Z"),
        (NAIVE.replace(tzinfo=PARIS_WINTER), "2026-11-30T08:00:00Z"),
        ("2026-11-30T09:00:00", "2026-11-30T09:00:00Z"),
        ("2026-11-30T09:00:00+01:00", "2026-11-30T08:00:00Z"),
        ("2026-11-30T09:00:00Z", "2026-11-30T09:00:00Z"),
        ("2026-11-30", "2026-11-30T00:00:00Z"),
    ],
)
def test_times_are_sent_in_utc_whether_given_naive_aware_or_as_text(
    value: datetime | str, sent: str
) -> None:
    assert iso_utc(value) == sent


def test_text_that_is_not_a_timestamp_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        iso_utc("yesterday")


def test_timestamps_read_back_are_aware_and_utc_when_they_carry_no_offset() -> None:
    assert parse_datetime("2026-11-30T09:00:00") == datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
    assert parse_datetime("2026-11-30T09:00:00+01:00") == datetime(
        2026, 11, 30, 8, tzinfo=timezone.utc
    )
    assert parse_datetime("") is None and parse_datetime(None) is None


def _query(server: ScriptedServer) -> dict[str, list[str]]:
    return parse_qs(urlsplit(server.requests[-1].path).query)


@pytest.mark.parametrize(
    ("call", "where", "answer"),
    [
        (lambda c: c.audit_events(since=NAIVE), "since", {"items": []}),
        (lambda c: c.audit_events(until="2026-11-30T09:00:00"), "until", {"items": []}),
        (lambda c: c.list_reports("churn", since=NAIVE), "since", []),
        (lambda c: c.stage_history("churn", at=NAIVE), "at", []),
    ],
)
def test_every_call_that_filters_by_time_sends_a_naive_time_as_utc(
    scripted_server: ScriptedServer, call: Any, where: str, answer: Any
) -> None:
    scripted_server.answer(200, answer)
    with assay.Client(scripted_server.url, "asy_test") as client:
        assert call(client) == []

    assert _query(scripted_server)[where] == ["2026-11-30T09:00:00Z"]


def test_a_silence_until_a_naive_time_is_sent_as_utc(scripted_server: ScriptedServer) -> None:
    scripted_server.answer(200, ALERT)
    with assay.Client(scripted_server.url, "asy_test") as client:
        client.silence_alert(5, NAIVE)

    assert decoded(scripted_server.requests[0].body)["until"] == "2026-11-30T09:00:00Z"


def test_a_prediction_logged_at_a_naive_time_is_stored_at_that_time_in_utc(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.answer(200, accepted(1))
    with assay.Client(scripted_server.url, "asy_test") as client:
        logger = client.prediction_logger("churn", 3, spool_dir=tmp_path)
    logger.log({"age": 1}, 0, timestamp=NAIVE)
    assert logger.flush(timeout=10)
    logger.close(timeout=0)

    (stamp,) = decoded(scripted_server.requests[0].body)["columns"]["timestamp"]
    assert stamp == NAIVE.replace(tzinfo=timezone.utc).timestamp()


def test_names_are_quoted_whole_into_paths() -> None:
    assert model_path("fraud/eu?v=2") == "/models/fraud%2Feu%3Fv%3D2"
    assert version_path("a b", 3) == "/models/a%20b/versions/3"
    assert spool_directory_name("fraud/eu", 2) == "fraud%2Feu-2"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_model("fraud/eu"),
        lambda c: c.get_version("fraud/eu", 2),
        lambda c: c.list_monitors("fraud/eu"),
        lambda c: c.leaderboard("fraud/eu", "holdout"),
        lambda c: c.gate("fraud/eu", 2, "production"),
        lambda c: c.global_explanation("fraud/eu", 2, compute=False),
        lambda c: c.set_default_channels("fraud/eu", []),
    ],
)
def test_every_call_quotes_the_model_name_the_same_way(
    scripted_server: ScriptedServer, call: Any
) -> None:
    scripted_server.answer(404, {"error": {"code": "not_found", "message": "no"}})
    with assay.Client(scripted_server.url, "asy_test") as client, pytest.raises(assay.NotFound):
        call(client)

    assert scripted_server.requests[0].path.startswith("/api/v1/models/fraud%2Feu")


def test_the_logger_posts_to_the_quoted_model_and_spools_under_it(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.answer(200, accepted(1))
    with assay.Client(scripted_server.url, "asy_test") as client:
        logger = client.prediction_logger(
            assay.Model.from_json(_model("fraud/eu")), 2, spool_dir=tmp_path
        )
    logger.log({"age": 1}, 0)
    logger.log_label("p-1", 1)

    assert logger.flush(timeout=10)
    logger.close(timeout=0)
    assert wait_for(lambda: len(scripted_server.requests) == 2)
    assert [r.path for r in scripted_server.requests] == [
        "/api/v1/models/fraud%2Feu/versions/2/predictions",
        "/api/v1/models/fraud%2Feu/labels",
    ]
    assert logger.spool_dir == tmp_path / "fraud%2Feu-2"


def _model(name: str) -> dict[str, Any]:
    return {
        "id": 1,
        "name": name,
        "task": "binary_classification",
        "risk_tier": "low",
        "created_at": "2026-11-30T09:00:00Z",
    }
