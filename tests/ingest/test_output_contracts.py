"""Each task's contract on predictions, labels and scores: violations are refused row by row,
with the row's index and field, at ingest and for late labels; valid spellings are normalised."""

from __future__ import annotations

import json
import math

import pandas as pd

from tests.api.factories import API, create_model, declared_version, parquet_bytes, register_version
from tests.ingest.conftest import columns, post, row

LABELS = f"{API}/models/churn/labels"


def _errors(response) -> set[tuple[int, str]]:
    return {(e["index"], e["field"]) for e in response.json["errors"]}


def test_a_binary_label_outside_its_classes_is_refused_with_its_row_and_field(
    client, contributor_headers, churn_v1
):
    labels = [0, 1] * 5
    labels[7] = "yes"  # one bad label among good ones: it never reaches a metric
    response = post(client, contributor_headers, columns(10, label=labels))
    assert response.json["accepted"] == 9 and response.json["rejected"] == 1
    ((error),) = response.json["errors"]
    assert (error["index"], error["field"]) == (7, "label")
    assert "classes" in error["message"]


def test_a_binary_prediction_outside_its_classes_is_refused(client, contributor_headers, churn_v1):
    predictions = [0, 1, 2, "maybe", None]
    response = post(client, contributor_headers, columns(5, prediction=predictions))
    assert response.json["accepted"] == 2
    assert _errors(response) == {(2, "prediction"), (3, "prediction"), (4, "prediction")}


def test_a_classifiers_score_is_a_probability(client, contributor_headers, churn_v1):
    scores = [0.0, 1.0, 1.7, -0.1, math.inf, 0.5]
    rows = [row(i, score=score) for i, score in enumerate(scores)]
    response = client.post(
        f"{API}/models/churn/versions/1/predictions",
        data=json.dumps({"rows": rows}),  # Python's json writes Infinity; the server reads it
        headers={**contributor_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.json
    assert response.json["accepted"] == 3
    assert _errors(response) == {(2, "score"), (3, "score"), (4, "score")}


def test_booleans_and_zero_one_spellings_are_stored_as_the_binary_classes(
    client, contributor_headers, churn_v1
):
    body = columns(4, prediction=[True, False, 1, "0"], label=[False, "1", 0, True])
    assert post(client, contributor_headers, body).json["accepted"] == 4
    items = client.get(f"{API}/models/churn/versions/1/predictions", headers=contributor_headers)
    stored = [(i["prediction"], i["label"]) for i in items.json["items"]]
    assert stored == [(1, 0), (0, 1), (1, 0), (0, 1)]


def test_a_late_label_outside_the_classes_is_refused_with_its_index(
    client, contributor_headers, churn_v1
):
    post(client, contributor_headers, columns(3))
    labels = [
        {"prediction_id": "p0", "label": 1},
        {"prediction_id": "p1", "label": "yes"},
        {"prediction_id": "p2", "label": True},
    ]
    response = client.post(LABELS, json={"labels": labels}, headers=contributor_headers)
    assert (response.json["updated"], response.json["rejected"]) == (2, 1)
    assert _errors(response) == {(1, "label")}
    items = client.get(f"{API}/models/churn/versions/1/predictions", headers=contributor_headers)
    assert [i["label"] for i in items.json["items"]] == [1, None, 1]


def test_a_binary_models_classes_come_from_its_reference_target(client, contributor_headers):
    create_model(client, contributor_headers, "loans")
    frame = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0], "paid": ["no", "yes", "yes", "no"]})
    registered = register_version(
        client,
        contributor_headers,
        "loans",
        metadata={"target": "paid"},
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert registered.status_code == 201, registered.json
    rows = [
        {"prediction_id": f"l{i}", "features": {"income": 1.0}, "prediction": p, "label": lab}
        for i, (p, lab) in enumerate([("yes", "no"), (1, "yes"), ("no", True)])
    ]
    response = client.post(
        f"{API}/models/loans/versions/1/predictions",
        json={"rows": rows},
        headers=contributor_headers,
    )
    assert response.json["accepted"] == 1
    assert _errors(response) == {(1, "prediction"), (2, "label")}


def test_a_multiclass_models_classes_are_inferred_from_its_reference_target(
    client, contributor_headers
):
    create_model(client, contributor_headers, "flowers", task="multiclass_classification")
    frame = pd.DataFrame(
        {"petal": [1.0, 2.0, 3.0], "species": ["setosa", "versicolor", "virginica"]}
    )
    registered = register_version(
        client,
        contributor_headers,
        "flowers",
        metadata={"target": "species"},
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert registered.status_code == 201, registered.json
    rows = [
        {"prediction_id": f"f{i}", "features": {"petal": 1.0}, "prediction": p}
        for i, p in enumerate(["setosa", "rose", "virginica", 2])
    ]
    response = client.post(
        f"{API}/models/flowers/versions/1/predictions",
        json={"rows": rows},
        headers=contributor_headers,
    )
    assert response.json["accepted"] == 2
    assert _errors(response) == {(1, "prediction"), (3, "prediction")}
    late = client.post(
        f"{API}/models/flowers/labels",
        json={"labels": [{"prediction_id": "f0", "label": "tulip"}]},
        headers=contributor_headers,
    )
    assert _errors(late) == {(0, "label")}


def test_a_regressions_labels_are_finite_numbers(client, contributor_headers):
    create_model(client, contributor_headers, "price", task="regression")
    declared_version(client, contributor_headers, "price")
    rows = [row(i, prediction=10.0 + i) for i in range(3)]
    stored = client.post(
        f"{API}/models/price/versions/1/predictions",
        json={"rows": [{**r, "score": None} for r in rows]},
        headers=contributor_headers,
    )
    assert stored.json["accepted"] == 3, stored.json
    labels = [
        {"prediction_id": "r0", "label": 12.5},
        {"prediction_id": "r1", "label": "expensive"},
        {"prediction_id": "r2", "label": True},
    ]
    response = client.post(
        f"{API}/models/price/labels", json={"labels": labels}, headers=contributor_headers
    )
    assert (response.json["updated"], response.json["rejected"]) == (1, 2)
    assert _errors(response) == {(1, "label"), (2, "label")}
