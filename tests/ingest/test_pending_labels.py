"""Labels that arrive before their predictions wait for them, are counted, join, and expire."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.factories import API, declared_version
from tests.ingest.conftest import columns, post

LABELS = f"{API}/models/churn/labels"
PENDING = f"{API}/models/churn/labels/pending"


def _label(client, headers, labels: dict[str, object]):
    body = {"labels": [{"prediction_id": pid, "label": lab} for pid, lab in labels.items()]}
    response = client.post(LABELS, json=body, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def _stored_labels(client, headers, version: int = 1) -> dict[str, object]:
    url = f"{API}/models/churn/versions/{version}/predictions"
    items = client.get(url, headers=headers, query_string={"limit": 1000}).json["items"]
    return {item["prediction_id"]: item["label"] for item in items}


def test_labels_sent_first_are_kept_and_joined_when_their_predictions_arrive(
    client, contributor_headers, churn_v1
):
    truth = {f"p{i}": i % 2 for i in range(300)}
    answer = _label(client, contributor_headers, truth)
    assert (answer["updated"], answer["pending"], answer["pending_total"]) == (0, 300, 300)

    first = post(client, contributor_headers, columns(200))
    second = post(client, contributor_headers, columns(150, start=200))

    assert (first.json["labels_joined"], second.json["labels_joined"]) == (200, 100)
    stored = _stored_labels(client, contributor_headers)
    assert {pid: stored[pid] for pid in truth} == truth
    assert all(stored[f"p{i}"] is None for i in range(300, 350))
    assert client.get(PENDING, headers=contributor_headers).json["count"] == 0


def test_the_last_label_sent_for_a_waiting_prediction_wins(client, contributor_headers, churn_v1):
    _label(client, contributor_headers, {"p0": 1})
    _label(client, contributor_headers, {"p0": 0})
    assert client.get(PENDING, headers=contributor_headers).json["count"] == 1
    post(client, contributor_headers, columns(1))
    assert _stored_labels(client, contributor_headers) == {"p0": 0}


def test_a_waiting_label_joins_whichever_version_logs_its_prediction(
    client, contributor_headers, churn_v1
):
    declared_version(client, contributor_headers)
    _label(client, contributor_headers, {"p0": 1})
    url = f"{API}/models/churn/versions/2/predictions"
    joined = client.post(url, json=columns(1), headers=contributor_headers)
    assert joined.json["labels_joined"] == 1
    assert _stored_labels(client, contributor_headers, version=2) == {"p0": 1}


def test_pending_labels_are_listed_and_counted_per_model(client, contributor_headers, churn_v1):
    _label(client, contributor_headers, {f"w{i}": 1 for i in range(5)})
    first = client.get(PENDING, headers=contributor_headers, query_string={"limit": 3}).json
    assert first["count"] == 5 and first["retention_days"] == 7
    assert [item["prediction_id"] for item in first["items"]] == ["w0", "w1", "w2"]
    assert first["items"][0]["label"] == 1 and first["items"][0]["received_at"]
    rest = client.get(
        PENDING,
        headers=contributor_headers,
        query_string={"limit": 3, "after": first["next_cursor"]},
    ).json
    assert [item["prediction_id"] for item in rest["items"]] == ["w3", "w4"]
    assert rest["next_cursor"] is None


def test_pending_labels_are_a_metric(client, contributor_headers, headers_for, churn_v1):
    _label(client, contributor_headers, {"a": 1, "b": 0})
    body = client.get("/metrics", headers=headers_for("viewer")).get_data(as_text=True)
    assert 'assay_pending_labels{model="churn"} 2.0' in body


def test_a_pending_label_expires_after_the_retention_window(
    client, contributor_headers, churn_v1, clock, db
):
    _label(client, contributor_headers, {"p0": 1, "p1": 1})
    clock.advance(days=7, seconds=1)
    assert client.get(PENDING, headers=contributor_headers).json["count"] == 0
    assert post(client, contributor_headers, columns(1)).json["labels_joined"] == 0
    assert _stored_labels(client, contributor_headers) == {"p0": None}
    # the next labels of the model delete what expired
    answer = _label(client, contributor_headers, {"x": 0})
    assert answer["pending_total"] == 1
    with db.unit_of_work(write=False) as session:
        kept = session.execute(text("SELECT prediction_id FROM pending_labels")).scalars()
        assert set(kept) == {"x"}


@pytest.mark.parametrize("setting", ["1", "0.5"])
def test_the_retention_window_is_a_setting(setting):
    from assay_server.settings import Settings

    assert Settings.from_env({"ASSAY_PENDING_LABEL_DAYS": setting}).pending_label_days == float(
        setting
    )
    assert Settings.from_env({}).pending_label_days == 7.0
