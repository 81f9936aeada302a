"""Retention per model, timestamp bounds per row, and batches stored one per day: on both
databases (the PostgreSQL partitions themselves: ``test_partitions.py``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from assay_server.ingest.label_counts import label_figures
from assay_server.ingest.models import PredictionBatch
from assay_server.ingest.retention import cutoff_day
from assay_server.ingest.store import prediction_store
from assay_server.registry.service import RegistryService
from assay_server.scheduler import MonitorScheduler
from assay_server.settings import Settings, SettingsError
from tests.api.factories import API, audit_events, create_model, declared_version, field_errors

NOON = {"hour": 12, "tzinfo": timezone.utc}


def ts(day: int, hour: int = 12) -> float:
    """Epoch seconds of November ``day``, 2026, at ``hour`` UTC."""
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc).timestamp()


def batch(prefix: str, stamps: list[float]) -> dict[str, Any]:
    """A column-wise batch of one row per timestamp, ids ``{prefix}{i}``."""
    n = len(stamps)
    columns: dict[str, Any] = {
        "prediction_id": [f"{prefix}{i}" for i in range(n)],
        "timestamp": stamps,
        "features": {"age": [30.0 + i for i in range(n)], "plan": ["pro"] * n},
        "prediction": [i % 2 for i in range(n)],
    }
    return {"columns": columns}


def post(client, headers, model: str, body: dict[str, Any]):
    response = client.post(
        f"{API}/models/{model}/versions/1/predictions", json=body, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def model_with_version(client, headers, name: str, **fields: Any) -> None:
    create_model(client, headers, name, **fields)
    declared_version(client, headers, name)


def version_id(db, cli_context, name: str) -> int:
    with db.unit_of_work(write=False) as session:
        return RegistryService(session, cli_context).get_version(name, 1).id


def stored_ids(db, settings, vid: int) -> list[str]:
    with db.unit_of_work(write=False) as session:
        window = prediction_store(session, settings).read_window(vid)
    return sorted(window.frame["prediction_id"])


def test_a_model_keeps_predictions_for_the_settings_days_unless_it_says_otherwise(
    client, contributor_headers
):
    assert create_model(client, contributor_headers, "default")["retention_days"] == 90
    assert (
        create_model(client, contributor_headers, "brief", retention_days=7)["retention_days"] == 7
    )
    assert (
        create_model(client, contributor_headers, "kept", retention_days=None)["retention_days"]
        is None
    )
    changed = client.patch(
        f"{API}/models/brief", json={"retention_days": None}, headers=contributor_headers
    )
    assert changed.status_code == 200 and changed.json["retention_days"] is None
    refused = client.patch(
        f"{API}/models/brief", json={"retention_days": 0}, headers=contributor_headers
    )
    assert "retention_days" in str(field_errors(refused))


def test_the_retention_and_backfill_settings_are_read_from_the_environment():
    settings = Settings.from_env({"ASSAY_RETENTION_DAYS": "30", "ASSAY_MAX_BACKFILL_DAYS": "2"})
    assert (settings.retention_days, settings.max_backfill_days) == (30, 2.0)
    assert Settings.from_env({"ASSAY_RETENTION_DAYS": "forever"}).retention_days is None
    assert Settings.from_env({}).retention_days == 90
    for wrong in ("0", "-3", "soon"):
        try:
            Settings.from_env({"ASSAY_RETENTION_DAYS": wrong})
        except SettingsError as error:
            assert "ASSAY_RETENTION_DAYS" in str(error)
        else:
            raise AssertionError(f"{wrong!r} was taken")


def test_timestamps_outside_the_backfill_window_or_ahead_are_refused_row_by_row(
    client, contributor_headers, clock
):
    model_with_version(client, contributor_headers, "churn", retention_days=None)
    now = clock().timestamp()  # 2026-11-23 09:00 UTC
    result = post(
        client,
        contributor_headers,
        "churn",
        batch("p", [now - 31 * 86_400, now - 29 * 86_400, now + 4 * 60, now + 6 * 60, now]),
    )
    assert (result["accepted"], result["rejected"]) == (3, 2)
    errors = {error["index"]: error for error in result["errors"]}
    assert set(errors) == {0, 3}
    assert errors[0]["field"] == errors[3]["field"] == "timestamp"
    assert "30 days" in errors[0]["message"] and "ASSAY_MAX_BACKFILL_DAYS" in errors[0]["message"]
    assert "5 minutes ahead" in errors[3]["message"]


def test_a_row_of_a_day_the_models_retention_no_longer_keeps_is_refused(
    client, contributor_headers, clock
):
    model_with_version(client, contributor_headers, "churn", retention_days=2)
    result = post(client, contributor_headers, "churn", batch("p", [ts(20), ts(21, 0), ts(22)]))
    assert (result["accepted"], result["rejected"]) == (2, 1)
    assert result["errors"][0]["index"] == 0
    assert "2 days (its retention_days)" in result["errors"][0]["message"]


def test_a_batch_whose_rows_span_days_is_stored_as_one_batch_per_day(
    client, contributor_headers, db, settings, cli_context
):
    model_with_version(client, contributor_headers, "churn", retention_days=None)
    body = batch("p", [ts(21, 23), ts(22, 1), ts(21, 22), ts(23, 2)])
    body["columns"]["features"]["age"][1] = "old"  # refused: counted on the first day's batch
    result = post(client, contributor_headers, "churn", body)
    assert (result["accepted"], result["rejected"]) == (3, 1)
    with db.unit_of_work(write=False) as session:
        batches = session.execute(
            select(
                PredictionBatch.day, PredictionBatch.accepted, PredictionBatch.rejected
            ).order_by(PredictionBatch.id)
        ).all()
    assert [tuple(b) for b in batches] == [(date(2026, 11, 21), 2, 1), (date(2026, 11, 23), 1, 0)]
    vid = version_id(db, cli_context, "churn")
    assert stored_ids(db, settings, vid) == ["p0", "p2", "p3"]
    again = post(client, contributor_headers, "churn", body)  # a retry: every row a duplicate
    assert (again["accepted"], again["duplicates"]) == (0, 3)


def test_an_id_logged_again_with_another_timestamp_within_a_day_is_a_duplicate(
    client, contributor_headers, clock
):
    model_with_version(client, contributor_headers, "churn", retention_days=None)
    first = post(client, contributor_headers, "churn", batch("p", [ts(22, 10), ts(22, 11)]))
    again = post(client, contributor_headers, "churn", batch("p", [ts(23, 8), ts(22, 11)]))
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (2, 0, 2)


def _log_four_days(client, headers, clock, model: str) -> None:
    """Rows on November 20–23 and their labels: logged as the days pass."""
    for today, prefix, stamps in ((21, "a", [ts(20), ts(21, 10)]), (23, "b", [ts(22), ts(23, 10)])):
        clock.now = datetime(2026, 11, today, **NOON)
        post(client, headers, model, batch(prefix, stamps))
        labels = [{"prediction_id": f"{prefix}{i}", "label": 1} for i in range(2)]
        response = client.post(
            f"{API}/models/{model}/labels", json={"labels": labels}, headers=headers
        )
        assert response.json["updated"] == 2, response.get_data(as_text=True)


def test_retention_expires_the_days_past_it_and_keeps_the_rest_and_other_models(
    client, contributor_headers, admin_headers, db, settings, clock, cli_context
):
    model_with_version(client, contributor_headers, "brief", retention_days=3)
    model_with_version(client, contributor_headers, "kept", retention_days=None)
    model_with_version(client, contributor_headers, "longer", retention_days=30)
    for model in ("brief", "kept", "longer"):
        _log_four_days(client, contributor_headers, clock, model)
    clock.now = datetime(2026, 11, 25, **NOON)  # brief keeps from Nov 22 on
    assert cutoff_day(clock(), 3) == date(2026, 11, 22)
    assert MonitorScheduler(db, settings, clock=clock).expire_predictions() == 1
    brief, kept, longer = (version_id(db, cli_context, m) for m in ("brief", "kept", "longer"))
    assert stored_ids(db, settings, brief) == ["b0", "b1"]  # Nov 20 and 21 gone
    assert stored_ids(db, settings, kept) == ["a0", "a1", "b0", "b1"]
    assert stored_ids(db, settings, longer) == ["a0", "a1", "b0", "b1"]
    with db.unit_of_work(write=False) as session:
        store = prediction_store(session, settings)
        assert store.count(brief) == 2 and store.count(kept) == 4
        # the labels received on Nov 21 went with their days; Nov 23's stay
        labels = label_figures(session, brief, None, clock())
        assert (labels.received, labels.rejected) == (2, 0)
        assert label_figures(session, kept, None, clock()).received == 4
    events = [e for e in audit_events(client, admin_headers, "model", "brief")]
    expired = [e for e in events if e["action"] == "predictions.expired"]
    assert len(expired) == 1
    payload = expired[0]["payload"]
    assert payload["first_day"] == "2026-11-20" and payload["last_day"] == "2026-11-21"
    assert payload["rows"] == 2 and payload["kept_from"] == "2026-11-22"
    assert payload["label_days"] == 1
    for other in ("kept", "longer"):
        actions = [e["action"] for e in audit_events(client, admin_headers, "model", other)]
        assert "predictions.expired" not in actions
    # a second run finds nothing more to expire, and appends nothing
    assert MonitorScheduler(db, settings, clock=clock).expire_predictions() == 0


def test_expiry_leaves_reports_audit_and_registry_alone(
    client, contributor_headers, admin_headers, db, settings, clock, cli_context
):
    model_with_version(client, contributor_headers, "brief", retention_days=1)
    _log_four_days(client, contributor_headers, clock, "brief")
    before = audit_events(client, admin_headers, "model", "brief")
    clock.now = datetime(2026, 12, 10, **NOON)
    assert MonitorScheduler(db, settings, clock=clock).expire_predictions() == 1
    assert stored_ids(db, settings, version_id(db, cli_context, "brief")) == []
    after = audit_events(client, admin_headers, "model", "brief")
    assert after[: len(before)] == before
    assert client.get(f"{API}/models/brief/versions/1", headers=admin_headers).status_code == 200
    verified = client.get(f"{API}/audit/verify", headers=admin_headers)
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert verified.json["ok"] is True, verified.json


def test_the_sdk_sets_a_models_retention_and_keeps_predictions_for_ever_on_request(
    live_server, admin_token
):
    import assay

    with assay.Client(live_server.url, admin_token) as sdk:
        assert sdk.create_model("default", task="regression").retention_days == 90
        model = sdk.create_model("brief", task="regression", retention_days=7)
        assert model.retention_days == 7
        assert sdk.update_model("brief", retention_days="forever").retention_days is None
        assert sdk.update_model("brief", description="kept").retention_days is None
        assert sdk.update_model("brief", retention_days=30).retention_days == 30
