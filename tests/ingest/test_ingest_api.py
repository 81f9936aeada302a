"""Logging predictions: both wire formats, row-level validation, idempotency, audit."""

from __future__ import annotations

import gzip
import json
import math
from datetime import timedelta

import pytest

from assay_server.ingest.rollup import roll_up_ingest
from tests.api.factories import API, audit_events
from tests.ingest.conftest import BASE_TS, PREDICTIONS, columns, post, row


def test_a_column_wise_batch_is_stored_and_counted(client, contributor_headers, churn_v1):
    response = post(client, contributor_headers, columns(250))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {
        "accepted": 250,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "labels_joined": 0,
    }


def test_a_row_wise_batch_is_stored_and_counted(client, contributor_headers, churn_v1):
    response = post(client, contributor_headers, {"rows": [row(i) for i in range(5)]})
    assert response.json == {
        "accepted": 5,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "labels_joined": 0,
    }


def test_a_gzipped_batch_is_accepted(client, contributor_headers, churn_v1):
    body = gzip.compress(json.dumps(columns(100)).encode())
    response = client.post(
        PREDICTIONS,
        data=body,
        headers={**contributor_headers, "Content-Encoding": "gzip"},
        content_type="application/json",
    )
    assert response.json["accepted"] == 100


def test_a_gzip_bomb_is_refused_as_too_large(settings, db, clock, contributor_headers):
    from assay_server.app import create_app
    from tests.api.factories import create_model, declared_version

    app = create_app(settings.with_overrides(max_request_mb=0.05), database=db, clock=clock)
    client = app.test_client()
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers)
    bomb = gzip.compress(b'{"rows": [' + b" " * 1_000_000 + b"]}")
    response = client.post(
        PREDICTIONS,
        data=bomb,
        headers={**contributor_headers, "Content-Encoding": "gzip"},
        content_type="application/json",
    )
    assert response.status_code == 413


def test_resending_a_batch_stores_nothing_new(client, contributor_headers, churn_v1):
    post(client, contributor_headers, columns(100))
    again = post(client, contributor_headers, columns(100))
    assert again.json == {
        "accepted": 0,
        "duplicates": 100,
        "rejected": 0,
        "errors": [],
        "labels_joined": 0,
    }
    overlapping = post(client, contributor_headers, columns(100, start=50))
    assert (overlapping.json["accepted"], overlapping.json["duplicates"]) == (50, 50)
    listed = client.get(PREDICTIONS, headers=contributor_headers, query_string={"limit": 1000})
    assert len(listed.json["items"]) == 150


def test_an_id_repeated_inside_one_batch_is_stored_once(client, contributor_headers, churn_v1):
    body = {"rows": [row(1), row(1, score=0.1), row(2)]}
    assert post(client, contributor_headers, body).json["duplicates"] == 1
    items = client.get(PREDICTIONS, headers=contributor_headers).json["items"]
    assert [(i["prediction_id"], i["score"]) for i in items] == [("r1", 0.8), ("r2", 0.8)]


BAD_ROWS = [
    (row(0, features={"age": 30, "plan": "pro", "height": 2}), "features.height"),
    (row(0, features={"plan": "pro"}), "features.age"),
    (row(0, features={"age": "thirty", "plan": "pro"}), "features.age"),
    (row(0, features={"age": True, "plan": "pro"}), "features.age"),
    (row(0, features={"age": 30, "plan": 1.5}), "features.plan"),
    (row(0, features={"age": 30, "plan": "x" * 1001}), "features.plan"),
    (row(0, prediction_id=""), "prediction_id"),
    (row(0, prediction_id="x" * 129), "prediction_id"),
    (row(0, prediction_id=7), "prediction_id"),
    ({k: v for k, v in row(0).items() if k != "prediction"}, "prediction"),
    (row(0, prediction=None), "prediction"),
    (row(0, prediction=[1]), "prediction"),
    (row(0, score="high"), "score"),
    (row(0, probabilities={"1": 1.5}), "probabilities"),
    (row(0, probabilities=[0.5]), "probabilities"),
    (row(0, timestamp="yesterday"), "timestamp"),
    (row(0, timestamp=-5), "timestamp"),
    (row(0, sensitive={"sex": {"nested": 1}}), "sensitive.sex"),
    (row(0, label=[1]), "label"),
    (row(0, colour="red"), "colour"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_ROWS, ids=[f for _, f in BAD_ROWS])
def test_an_invalid_row_is_reported_and_the_valid_rows_kept(
    client, contributor_headers, churn_v1, bad, field
):
    response = post(client, contributor_headers, {"rows": [row(1), bad, row(2)]})
    assert response.status_code == 200
    body = response.json
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(1, field)}
    assert all(e["message"] for e in body["errors"])


def test_non_finite_numbers_are_refused(client, contributor_headers, churn_v1):
    text = json.dumps(
        {"rows": [row(1, features={"age": math.nan, "plan": "pro"}), row(2, score=math.inf)]}
    )
    response = client.post(
        PREDICTIONS, data=text, headers=contributor_headers, content_type="application/json"
    )
    assert response.json["rejected"] == 2
    assert {e["field"] for e in response.json["errors"]} == {"features.age", "score"}


def test_a_missing_value_is_stored_as_missing_not_refused(client, contributor_headers, churn_v1):
    body = {"rows": [row(1, features={"age": None, "plan": None})]}
    assert post(client, contributor_headers, body).json["accepted"] == 1


def test_strict_mode_refuses_the_whole_batch(client, contributor_headers, churn_v1):
    response = post(
        client, contributor_headers, {"rows": [row(1), row(2, score="x")]}, strict="true"
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["errors"] == [
        {"index": 1, "field": "score", "message": "Expected a number."}
    ]
    assert client.get(PREDICTIONS, headers=contributor_headers).json["items"] == []


def test_an_unknown_feature_column_refuses_every_row(client, contributor_headers, churn_v1):
    body = columns(3)
    body["columns"]["features"]["height"] = [1, 2, 3]
    response = post(client, contributor_headers, body)
    assert (response.json["accepted"], response.json["rejected"]) == (0, 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"columns": {"prediction_id": ["a"], "prediction": [1, 2], "features": {}}}, "prediction"),
        ({"columns": {"prediction_id": "a", "prediction": [1], "features": {}}}, "prediction_id"),
        ({"columns": {"prediction_id": ["a"], "features": {}}}, "prediction"),
        ({"columns": {"prediction_id": ["a"], "prediction": [1], "features": []}}, "features"),
        ({"rows": {"a": 1}}, "rows"),
        ({"rows": [], "columns": {}}, "_schema"),
        ([1, 2], "_schema"),
    ],
)
def test_a_malformed_batch_is_refused_whole(client, contributor_headers, churn_v1, body, field):
    response = post(client, contributor_headers, body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]


def test_an_empty_batch_is_refused(client, contributor_headers, churn_v1):
    assert post(client, contributor_headers, {"rows": []}).status_code == 422


def test_malformed_json_and_unknown_encodings_are_bad_requests(
    client, contributor_headers, churn_v1
):
    bad_json = client.post(
        PREDICTIONS, data="{", headers=contributor_headers, content_type="application/json"
    )
    assert bad_json.status_code == 400
    brotli = client.post(
        PREDICTIONS,
        data=b"x",
        headers={**contributor_headers, "Content-Encoding": "br"},
        content_type="application/json",
    )
    assert brotli.status_code == 400


def test_a_batch_over_the_row_limit_is_too_large(settings, db, clock, contributor_headers):
    from assay_server.app import create_app
    from tests.api.factories import create_model, declared_version

    app = create_app(settings.with_overrides(max_batch_rows=10), database=db, clock=clock)
    client = app.test_client()
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers)
    assert post(client, contributor_headers, columns(11)).status_code == 413
    assert post(client, contributor_headers, columns(10)).status_code == 200


def test_predictions_for_an_unknown_version_are_not_found(client, contributor_headers, churn_v1):
    response = client.post(
        f"{API}/models/churn/versions/9/predictions", json=columns(1), headers=contributor_headers
    )
    assert response.status_code == 404


def test_an_archived_model_takes_no_predictions(
    client, contributor_headers, admin_headers, churn_v1
):
    client.post(f"{API}/models/churn/archive", headers=admin_headers)
    assert post(client, contributor_headers, columns(1)).status_code == 409


def test_each_hour_of_batches_is_one_audit_event_with_counts_and_time_range(
    client, contributor_headers, churn_v1, db, cli_context, clock
):
    post(client, contributor_headers, columns(300))
    post(client, contributor_headers, {"rows": [row(1), row(2, score="x")]})

    def ingest_events() -> list[dict]:
        events = audit_events(client, contributor_headers, "model_version", "churn/1")
        return [e for e in events if e["action"].startswith("predictions.")]

    assert ingest_events() == []  # ingest leaves the chain alone
    with db.unit_of_work() as session:
        rolled = roll_up_ingest(session, cli_context, clock() + timedelta(hours=1, minutes=6))
    assert rolled == 1
    [event] = ingest_events()
    assert event["action"] == "predictions.rolled_up"
    payload = event["payload"]
    assert payload["hour"] == clock().replace(minute=0, second=0).isoformat()
    assert (payload["batches"], payload["accepted"], payload["rejected"]) == (2, 301, 1)
    assert payload["ts_min_us"] == int(BASE_TS * 1_000_000)
    assert payload["ts_max_us"] >= int((BASE_TS + 299) * 1_000_000)
