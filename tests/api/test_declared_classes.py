"""A classifier's classes declared at model creation: checked, stored, and what ingest,
labels and registration check against instead of the reference target."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.api.factories import (
    API,
    CHURN_FEATURES,
    audit_events,
    create_model,
    field_errors,
    model_body,
    parquet_bytes,
    register_version,
)

ANIMALS = ["cat", "dog", "bird"]


def _reference(targets: list[Any]) -> bytes:
    n = len(targets)
    frame = pd.DataFrame(
        {
            "age": [20.0 + i for i in range(n)],
            "plan": [("basic", "pro")[i % 2] for i in range(n)],
            "kind": targets,
        }
    )
    return parquet_bytes(frame)


def _register(client, headers, model: str, targets: list[Any]):
    return register_version(
        client,
        headers,
        model,
        metadata={"features": CHURN_FEATURES, "target": "kind"},
        reference=(_reference(targets), "reference.parquet"),
    )


def _predict(client, headers, model: str, predictions: list[Any]) -> dict[str, Any]:
    n = len(predictions)
    body = {
        "columns": {
            "prediction_id": [f"p{i}" for i in range(n)],
            "timestamp": [1_795_000_000.0 + i for i in range(n)],
            "features": {"age": [30.0] * n, "plan": ["pro"] * n},
            "prediction": predictions,
        }
    }
    url = f"{API}/models/{model}/versions/1/predictions"
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _labels(client, headers, model: str, labels: list[Any]) -> dict[str, Any]:
    body = {"labels": [{"prediction_id": f"p{i}", "label": v} for i, v in enumerate(labels)]}
    response = client.post(f"{API}/models/{model}/labels", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_a_model_keeps_its_declared_classes_and_audits_them(client, contributor_headers):
    created = create_model(
        client, contributor_headers, "zoo", task="multiclass_classification", classes=ANIMALS
    )
    assert created["classes"] == ANIMALS
    fetched = client.get(f"{API}/models/zoo", headers=contributor_headers).json
    assert fetched["classes"] == ANIMALS
    [event] = audit_events(client, contributor_headers, "model", "zoo")
    assert event["payload"]["classes"] == ANIMALS


def test_a_model_without_declared_classes_says_none(client, contributor_headers):
    assert create_model(client, contributor_headers, "churn")["classes"] is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"classes": ["a", "b", "c"]}, "exactly two"),
        ({"classes": ["a"], "task": "multiclass_classification"}, "at least two classes"),
        ({"classes": [0, 1], "task": "regression"}, "regression"),
        ({"classes": [1, "1"]}, "same class"),
        ({"classes": [1, 1.0]}, "same class"),
        ({"classes": [{"a": 1}, "b"]}, "not a class"),
        ({"classes": [["a"], "b"]}, "not a class"),
        ({"classes": ["", "b"]}, "empty"),
        ({"classes": ["x" * 201, "b"]}, "storable characters"),
    ],
)
def test_declared_classes_that_cannot_be_classes_are_refused(
    client, contributor_headers, fields, expected
):
    response = client.post(
        f"{API}/models", json=model_body("bad", **fields), headers=contributor_headers
    )
    details = field_errors(response)
    assert expected in " ".join(details["classes"])
    assert client.get(f"{API}/models/bad", headers=contributor_headers).status_code == 404


def test_a_null_class_is_refused(client, contributor_headers):
    response = client.post(
        f"{API}/models", json=model_body("bad", classes=["a", None]), headers=contributor_headers
    )
    assert "classes" in field_errors(response)


def test_a_reference_target_outside_the_declared_classes_is_refused_naming_the_values(
    client, contributor_headers
):
    create_model(
        client, contributor_headers, "zoo", task="multiclass_classification", classes=ANIMALS
    )
    response = _register(client, contributor_headers, "zoo", ["cat", "dog", "fish", "cow"] * 5)

    details = field_errors(response)
    [message] = details["target"]
    assert "'fish'" in message and "'cow'" in message and "'cat'" not in message.split(":")[-1]
    versions = client.get(f"{API}/models/zoo/versions", headers=contributor_headers).json
    assert versions["items"] == []


def test_ingest_and_labels_check_against_the_declared_classes_not_the_reference(
    client, contributor_headers
):
    create_model(
        client, contributor_headers, "zoo", task="multiclass_classification", classes=ANIMALS
    )
    # the reference holds two of the three classes: "bird" is a class all the same
    response = _register(client, contributor_headers, "zoo", ["cat", "dog"] * 10)
    assert response.status_code == 201, response.get_data(as_text=True)

    ingested = _predict(client, contributor_headers, "zoo", ["bird", "cat", "fish"])
    assert (ingested["accepted"], ingested["rejected"]) == (2, 1)
    [error] = ingested["errors"]
    assert error["index"] == 2 and "declared at model creation" in error["message"]

    labelled = _labels(client, contributor_headers, "zoo", ["bird", "fish"])
    assert (labelled["updated"], labelled["rejected"]) == (1, 1)


def test_a_binary_classifier_declared_with_text_classes_refuses_zero_and_one(
    client, contributor_headers
):
    create_model(client, contributor_headers, "triage", classes=["benign", "malignant"])
    response = register_version(
        client,
        contributor_headers,
        "triage",
        metadata={"features": CHURN_FEATURES, "target": "kind"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)

    ingested = _predict(client, contributor_headers, "triage", ["malignant", 1, True])
    assert (ingested["accepted"], ingested["rejected"]) == (1, 2)
