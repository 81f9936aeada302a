"""A churn model (binary) with versions 1 and 2, and helpers that log both versions' answers
in shadow or as A/B arms, with their labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from tests.api.factories import API, create_model, declared_version

#: Every logged row falls in the hour before this instant (the FakeClock's default "now").
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
WINDOW = {"start": (NOW - timedelta(days=1)).isoformat(), "end": NOW.isoformat()}


def answers(
    labels: np.ndarray, accuracy: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions right with probability ``accuracy``, and scores that rank them."""
    right = rng.uniform(0, 1, labels.size) < accuracy
    predicted = np.where(right, labels, 1 - labels)
    score = np.clip(np.where(predicted == 1, 0.75, 0.25) + rng.normal(0, 0.1, labels.size), 0, 1)
    return predicted, score


@dataclass
class Churn:
    """Model ``churn`` with versions 1 and 2 (age numerical, plan categorical)."""

    client: Any
    headers: dict[str, str]

    def url(self, path: str = "") -> str:
        """An API URL under the model."""
        return f"{API}/models/churn{path}"

    def log(
        self,
        version: int,
        ids: list[str],
        predicted: np.ndarray,
        score: np.ndarray,
        *,
        shadow_of: int | str | None = None,
        expect: int = 200,
    ) -> Any:
        """POST the rows of ``version`` (in the shadow of ``shadow_of``)."""
        n = len(ids)
        offsets = np.linspace(60, 3500, n) if n else []
        body = {
            "columns": {
                "prediction_id": ids,
                "timestamp": [(NOW - timedelta(seconds=float(o))).timestamp() for o in offsets],
                "features": {
                    "age": [30.0 + i % 40 for i in range(n)],
                    "plan": [("basic", "plus", "pro")[i % 3] for i in range(n)],
                },
                "prediction": [int(p) for p in predicted],
                "score": [float(s) for s in score],
            }
        }
        query = {} if shadow_of is None else {"shadow_of": shadow_of}
        response = self.client.post(
            self.url(f"/versions/{version}/predictions"),
            json=body,
            headers=self.headers,
            query_string=query,
        )
        assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def label(self, ids: list[str], labels: np.ndarray) -> None:
        """POST ground truth by prediction id (it applies to every version that logged it)."""
        for at in range(0, len(ids), 5000):
            body = {
                "labels": [
                    {"prediction_id": i, "label": int(y)}
                    for i, y in zip(ids[at : at + 5000], labels[at : at + 5000], strict=True)
                ]
            }
            response = self.client.post(self.url("/labels"), json=body, headers=self.headers)
            assert response.status_code == 200, response.get_data(as_text=True)

    def shadow(
        self, n: int, champion_accuracy: float, challenger_accuracy: float, *, seed: int = 3
    ) -> list[str]:
        """``n`` requests served by v1 and answered in shadow by v2, labelled."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, n)
        ids = [f"s-{seed}-{i}" for i in range(n)]
        self.log(1, ids, *answers(labels, champion_accuracy, rng))
        self.log(2, ids, *answers(labels, challenger_accuracy, rng), shadow_of=1)
        self.label(ids, labels)
        return ids

    def arm(self, version: int, n: int, accuracy: float, *, seed: int) -> list[str]:
        """``n`` requests served by ``version`` alone (an A/B arm), labelled."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, n)
        ids = [f"ab-{version}-{seed}-{i}" for i in range(n)]
        self.log(version, ids, *answers(labels, accuracy, rng))
        self.label(ids, labels)
        return ids

    def compare(self, expect: int = 200, **query: Any) -> Any:
        """GET the comparison report (over the day before NOW unless told)."""
        response = self.client.get(
            self.url("/comparison"), headers=self.headers, query_string={**WINDOW, **query}
        )
        assert response.status_code == expect, response.get_data(as_text=True)
        return response.json


@pytest.fixture
def churn(client, contributor_headers) -> Churn:
    """Model ``churn`` with versions 1 and 2."""
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers)
    declared_version(client, contributor_headers)
    return Churn(client, contributor_headers)


@pytest.fixture
def signed_in(app: Any, token_for: Any) -> Any:
    """A fresh test client signed in through the login form: ``signed_in("viewer")``."""
    from tests.web.forms import sign_in

    def signed_in_as(role: str, name: str | None = None) -> Any:
        return sign_in(app.test_client(), token_for(role, name))

    return signed_in_as
