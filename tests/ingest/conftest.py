"""Fixtures for prediction-ingest tests: a churn model with version 1 (age, plan)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.factories import API, create_model, declared_version

PREDICTIONS = f"{API}/models/churn/versions/1/predictions"
BASE_TS = 1_795_000_000.0  # 2026-11-18, epoch seconds


@pytest.fixture
def churn_v1(client, contributor_headers) -> dict[str, Any]:
    """Model ``churn`` (binary classification) with version 1: age numerical, plan categorical."""
    create_model(client, contributor_headers, "churn")
    return declared_version(client, contributor_headers)


def columns(n: int, *, start: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid column-wise batch of ``n`` rows with ids ``p{start}`` … ."""
    body: dict[str, Any] = {
        "prediction_id": [f"p{i}" for i in range(start, start + n)],
        "timestamp": [BASE_TS + i for i in range(start, start + n)],
        "features": {
            "age": [20.0 + i % 50 for i in range(start, start + n)],
            "plan": [("basic", "plus", "pro")[i % 3] for i in range(start, start + n)],
        },
        "prediction": [i % 2 for i in range(start, start + n)],
        "score": [((i % 10) + 0.5) / 10 for i in range(start, start + n)],
    }
    body.update(overrides)
    return {"columns": body}


def row(i: int, **overrides: Any) -> dict[str, Any]:
    """One valid row-wise prediction with id ``r{i}``."""
    body: dict[str, Any] = {
        "prediction_id": f"r{i}",
        "timestamp": BASE_TS + i,
        "features": {"age": 30 + i, "plan": "pro"},
        "prediction": 1,
        "score": 0.8,
    }
    body.update(overrides)
    return body


def post(client, headers, body: Any, **query: Any):
    """POST a batch to churn v1."""
    return client.post(PREDICTIONS, json=body, headers=headers, query_string=query)
