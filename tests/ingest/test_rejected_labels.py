"""Labels refused at the labels endpoint are counted per version and day, for data quality."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.api.factories import API, declared_version
from tests.ingest.conftest import columns, post

LABELS = f"{API}/models/churn/labels"


def _label(client, headers, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = {"labels": [{"prediction_id": pid, "label": label} for pid, label in pairs]}
    response = client.post(LABELS, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _counts(db) -> dict[int, tuple[int, int]]:
    """``version number -> (received, rejected)`` over every day."""
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            text(
                "SELECT v.version, sum(c.received), sum(c.rejected) FROM label_counts AS c "
                "JOIN model_versions AS v ON v.id = c.version_id GROUP BY v.version"
            )
        ).all()
    return {int(version): (int(received), int(rejected)) for version, received, rejected in rows}


def test_refused_labels_are_counted_with_those_received(client, contributor_headers, churn_v1, db):
    assert post(client, contributor_headers, columns(10)).status_code == 200
    answer = _label(
        client,
        contributor_headers,
        [
            *[(f"p{i}", i % 2) for i in range(6)],
            ("p6", "yes"),  # not a class of a 0/1 binary classifier
            ("p7", 2),
            ("p8", 1.5),
            ("later", 1),  # its prediction is not stored yet: kept, not refused
        ],
    )
    assert (answer["updated"], answer["rejected"], answer["pending"]) == (6, 3, 1)
    assert [error["index"] for error in answer["errors"]] == [6, 7, 8]
    assert _counts(db) == {1: (10, 3)}

    _label(client, contributor_headers, [("p9", "no"), ("p9", 1)])
    assert _counts(db) == {1: (12, 4)}


def test_a_refused_label_is_counted_for_the_version_of_its_prediction(
    client, contributor_headers, churn_v1, db
):
    post(client, contributor_headers, columns(3))  # p0..p2 on version 1
    declared_version(client, contributor_headers)
    v2 = f"{API}/models/churn/versions/2/predictions"
    assert (
        client.post(v2, json=columns(3, start=10), headers=contributor_headers).status_code == 200
    )

    _label(
        client,
        contributor_headers,
        [("p0", "bad"), ("p1", 1), ("p10", "bad"), ("p11", "bad"), ("nowhere", "bad")],
    )

    # an unknown prediction's label is counted for the newest version
    assert _counts(db) == {1: (2, 1), 2: (3, 3)}


def test_labels_that_are_all_valid_count_as_received_only(
    client, contributor_headers, churn_v1, db
):
    post(client, contributor_headers, columns(4))
    _label(client, contributor_headers, [(f"p{i}", True) for i in range(4)])
    assert _counts(db) == {1: (4, 0)}


def test_rejected_predictions_are_still_counted_in_their_batch(
    client, contributor_headers, churn_v1, db
):
    body = columns(5, prediction=[0, 1, "maybe", 1, 0])
    assert post(client, contributor_headers, body).json["rejected"] == 1
    with db.unit_of_work(write=False) as session:
        rejected = session.execute(text("SELECT sum(rejected) FROM prediction_batches")).scalar()
    assert rejected == 1
