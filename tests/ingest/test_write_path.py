"""The ingest write path: checking before the write transaction, storing each id once."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from assay_server.audit.models import AuditEvent
from assay_server.audit.service import AuditTrail
from assay_server.context import ServiceContext
from assay_server.errors import Conflict, ValidationFailed
from assay_server.ingest import service as ingest_service
from assay_server.ingest.models import PredictionBatch, PredictionRow
from assay_server.ingest.rollup import roll_up_ingest
from assay_server.ingest.service import IngestService, ingest_batch
from assay_server.ingest.window import read_window
from assay_server.registry.service import RegistryService
from assay_server.roles import Actor, Role
from assay_server.settings import Settings
from assay_server.wiring import wire
from tests.api.factories import API, audit_events
from tests.ingest.conftest import PREDICTIONS, columns, post, row


def _sender(settings: Settings) -> ServiceContext:
    return wire().context(Actor("sender", Role.CONTRIBUTOR, None), settings)


def _ingest_events(client, headers) -> list[dict]:
    """Audit events about predictions: none until the hourly roll-up (ingest/rollup.py)."""
    events = audit_events(client, headers, "model_version", "churn/1")
    return [e for e in events if e["action"].startswith("predictions.")]


def _batches(db) -> list[PredictionBatch]:
    with db.unit_of_work(write=False) as session:
        return list(session.scalars(select(PredictionBatch).order_by(PredictionBatch.id)))


def test_a_batch_is_checked_before_the_callers_write_transaction_begins(
    churn_v1, db, settings, monkeypatch
):
    checked_inside_the_write: list[bool] = []
    check_batch = ingest_service.check_batch

    def watched_check(*args, **kwargs):
        checked_inside_the_write.append(session.in_transaction())
        return check_batch(*args, **kwargs)

    monkeypatch.setattr(ingest_service, "check_batch", watched_check)
    with db.unit_of_work() as session:
        result = ingest_batch(db, session, _sender(settings), "churn", 1, columns(10))
        assert session.in_transaction()  # the store, which the unit of work then commits
    assert checked_inside_the_write == [False]
    assert result.accepted == 10


def test_a_batch_refused_in_strict_mode_never_takes_the_write_lock(churn_v1, db, settings):
    body = columns(3)
    body["columns"]["features"]["age"][0] = "old"
    with db.unit_of_work() as session:
        with pytest.raises(ValidationFailed):
            ingest_batch(db, session, _sender(settings), "churn", 1, body, strict=True)
        assert not session.in_transaction()
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(PredictionBatch)) == 0


def test_a_batch_checked_before_its_model_was_archived_is_not_stored(
    client, contributor_headers, churn_v1, db, settings, cli_context
):
    ctx = _sender(settings)
    with db.unit_of_work(write=False) as session:
        prepared = IngestService(session, ctx).prepare("churn", 1, columns(10))
    with db.unit_of_work() as session:
        RegistryService(session, cli_context).archive_model("churn")
    with pytest.raises(Conflict), db.unit_of_work() as session:
        IngestService(session, ctx).store(prepared)
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(PredictionBatch)) == 0
        assert session.scalar(select(func.count()).select_from(PredictionRow)) == 0
    assert _ingest_events(client, contributor_headers) == []


def test_a_prepared_batch_stored_twice_is_counted_as_duplicates_the_second_time(
    client, contributor_headers, churn_v1, db, settings
):
    ctx = _sender(settings)
    with db.unit_of_work(write=False) as session:
        prepared = IngestService(session, ctx).prepare("churn", 1, columns(20))
    with db.unit_of_work() as session:
        first = IngestService(session, ctx).store(prepared)
    with db.unit_of_work() as session:
        second = IngestService(session, ctx).store(prepared)
    assert (first.accepted, first.duplicates) == (20, 0)
    assert (second.accepted, second.duplicates) == (0, 20)
    with db.unit_of_work(write=False) as session:
        again = session.get(PredictionBatch, second.batch_id)
        assert (again.accepted, again.duplicates, again.block) == (0, 20, None)
        assert (again.ts_min_us, again.ts_max_us) == (None, None)
    assert [batch.accepted for batch in _batches(db)] == [20, 0]
    assert _ingest_events(client, contributor_headers) == []  # the batch rows are the record


def test_a_partly_new_batch_stores_and_audits_only_its_new_rows(
    client, contributor_headers, churn_v1, db, settings
):
    post(client, contributor_headers, columns(10, start=5))
    response = post(client, contributor_headers, columns(10))
    assert (response.json["accepted"], response.json["duplicates"]) == (5, 5)
    batch = _batches(db)[1]
    first_ts = columns(1)["columns"]["timestamp"][0]
    assert batch.ts_min_us == round(first_ts * 1_000_000)
    assert batch.ts_max_us == round((first_ts + 4) * 1_000_000)
    assert (batch.accepted, batch.duplicates) == (5, 5)
    with db.unit_of_work(write=False) as session:
        version_id = RegistryService(session, _sender(settings)).get_version("churn", 1).id
        window = read_window(session, version_id)
    assert sorted(window.frame["prediction_id"]) == sorted(f"p{i}" for i in range(15))


def test_the_rows_kept_beside_a_refused_one_read_back_exactly(
    client, contributor_headers, churn_v1, db, cli_context
):
    body = columns(4)
    body["columns"]["features"]["age"][1] = "old"
    body["columns"]["features"]["plan"][2] = None
    response = post(client, contributor_headers, body)
    assert (response.json["accepted"], response.json["rejected"]) == (3, 1)
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("churn", 1)
        frame = read_window(session, version.id).frame
    sent = body["columns"]
    kept = [0, 2, 3]
    assert list(frame["prediction_id"]) == [sent["prediction_id"][i] for i in kept]
    assert list(frame["feature.age"]) == [sent["features"]["age"][i] for i in kept]
    plans = [None if v is None or v != v else v for v in frame["feature.plan"]]
    assert plans == [sent["features"]["plan"][i] for i in kept]
    assert list(frame["score"]) == [sent["score"][i] for i in kept]


def test_labels_sent_with_predictions_are_stored_with_their_time(
    client, contributor_headers, churn_v1, db, clock
):
    body = columns(4, label=[1, None, "0", True])
    assert post(client, contributor_headers, body).json["accepted"] == 4
    items = client.get(PREDICTIONS, headers=contributor_headers).json["items"]
    assert [i["label"] for i in items] == [1, None, 0, 1]  # a binary model's classes: 0 and 1
    with db.unit_of_work(write=False) as session:
        stamped = session.execute(
            select(PredictionRow.prediction_id, PredictionRow.label_updated_at).order_by(
                PredictionRow.ts_us
            )
        ).all()
    assert [when for _pid, when in stamped] == [clock(), None, clock(), clock()]


@pytest.mark.parametrize(
    ("features", "field", "message"),
    [
        ('{"age": 1%s, "plan": "pro"}' % ("0" * 400), "features.age", "Too large"),
        ('{"age": 30, "plan": "\\ud800"}', "features.plan", "lone surrogates"),
    ],
    ids=["number-beyond-float64", "lone-surrogate-category"],
)
def test_values_no_column_could_store_are_row_errors(
    client, contributor_headers, churn_v1, features, field, message
):
    bad = row(1, features="FEATURES")
    body = json.dumps({"rows": [bad, row(2)]}).replace('"FEATURES"', features)
    response = client.post(
        PREDICTIONS, data=body, headers=contributor_headers, content_type="application/json"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["accepted"], response.json["rejected"]) == (1, 1)
    [error] = response.json["errors"]
    assert (error["index"], error["field"]) == (0, field)
    assert message in error["message"]


def test_a_prediction_id_with_a_lone_surrogate_is_a_row_error(
    client, contributor_headers, churn_v1
):
    body = json.dumps(columns(2)).replace('"p0"', '"\\ud800"')  # JSON's escape, not UTF-8
    response = client.post(
        PREDICTIONS, data=body, headers=contributor_headers, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json["errors"] == [
        {
            "index": 0,
            "field": "prediction_id",
            "message": "Text cannot contain NUL characters or lone surrogates.",
        }
    ]
    labels = client.post(
        f"{API}/models/churn/labels",
        data='{"labels": [{"prediction_id": "\\ud800", "label": 1}]}',
        headers=contributor_headers,
        content_type="application/json",
    )
    assert labels.status_code == 200
    assert labels.json["rejected"] == 1


def test_an_integer_a_float_holds_only_approximately_is_stored_rounded(
    client, contributor_headers, churn_v1, db, cli_context
):
    big = 2**53 + 1
    body = columns(2)
    body["columns"]["features"]["age"] = [big, 1]
    assert post(client, contributor_headers, body).json["accepted"] == 2
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("churn", 1)
        ages = list(read_window(session, version.id).frame["feature.age"])
    assert ages == [float(big), 1.0]


def test_batches_leave_the_chain_alone_and_their_hour_rolls_up_into_one_event(
    churn_v1, db, settings, cli_context
):
    ctx = _sender(settings)
    # the sender's clock stamps the batches; their hour ends at hour_end
    hour_end = ctx.clock().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with db.unit_of_work() as session:
        trail = AuditTrail(session, cli_context)
        before = trail.head()["seq"]
        ingest_batch(db, session, ctx, "churn", 1, columns(5))
        ingest_batch(db, session, ctx, "churn", 1, columns(5, start=5))
        assert trail.head()["seq"] == before  # no event, no wait for the chain head's lock
    with db.unit_of_work() as session:
        # the hour has ended, but not its grace (transactions still committing): not yet
        assert roll_up_ingest(session, cli_context, hour_end + timedelta(minutes=4)) == 0
    with db.unit_of_work() as session:
        assert roll_up_ingest(session, cli_context, hour_end + timedelta(minutes=6)) == 1
    with db.unit_of_work() as session:
        assert roll_up_ingest(session, cli_context, hour_end + timedelta(hours=1)) == 0  # once
    with db.unit_of_work(write=False) as session:
        outcome = AuditTrail(session, cli_context).verify()
        assert outcome.ok, outcome.message
        assert outcome.checked == before + 1
    batches = _batches(db)
    with db.unit_of_work(write=False) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.seq == before + 1)).one()
        assert (event.action, event.target_id) == ("predictions.rolled_up", "churn/1")
        payload = dict(event.payload)
    ids = ",".join(str(batch.id) for batch in batches)
    assert payload["batch_ids_sha256"] == hashlib.sha256(ids.encode()).hexdigest()
    assert (payload["batches"], payload["accepted"]) == (2, 10)
    assert all(batch.rolled_up_at is not None for batch in batches)
