"""A monitored model through the API: reference data, logged predictions, labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.api.factories import API, create_model, parquet_bytes, register_version

FEATURES = [
    {"name": "age", "kind": "numerical"},
    {"name": "income", "kind": "numerical"},
    {"name": "plan", "kind": "categorical"},
]
PLANS = np.array(["basic", "plus", "pro"])


def reference(rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    """A churn-like reference dataset with a target, a prediction and a score column."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, rows)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.lognormal(10, 0.5, rows),
            "plan": rng.choice(PLANS, rows),
            "churned": (rng.uniform(0, 1, rows) < score).astype(int),
            "predicted": (score >= 0.5).astype(int),
            "score": score,
        }
    )


@dataclass
class Monitored:
    """A model ``churn`` with version 1 (reference attached) and helpers to feed it."""

    client: Any
    headers: dict[str, str]
    clock: Any
    model: str = "churn"

    def url(self, path: str = "") -> str:
        """An API URL under the model."""
        return f"{API}/models/{self.model}{path}"

    def log(
        self,
        rows: int,
        *,
        seed: int = 2,
        shift: float = 0.0,
        start: datetime | None = None,
        version: int = 1,
        labelled: bool = True,
        groups: tuple[str, ...] = ("F", "M"),
        biased: bool = False,
        prefix: str = "p",
        missing_age: float = 0.0,
    ) -> list[str]:
        """Log ``rows`` predictions spread over the hour before now; return their ids."""
        rng = np.random.default_rng(seed)
        start = start or self.clock() - timedelta(hours=1)
        offsets = np.sort(rng.uniform(0, 3500, rows))
        score = rng.uniform(0, 1, rows)
        age = rng.normal(40 + shift, 10, rows)
        if missing_age:
            age = np.where(rng.uniform(0, 1, rows) < missing_age, np.nan, age)
        sex = rng.choice(np.array(groups), rows)
        prediction = (score >= 0.5).astype(int)
        if biased:
            prediction = np.where(sex == groups[0], (score >= 0.2), (score >= 0.8)).astype(int)
        ids = [f"{prefix}-{seed}-{i}" for i in range(rows)]
        columns: dict[str, Any] = {
            "prediction_id": ids,
            "timestamp": [(start + timedelta(seconds=float(o))).timestamp() for o in offsets],
            "features": {
                "age": [None if np.isnan(a) else float(a) for a in age],
                "income": rng.lognormal(10 + shift / 10, 0.5, rows).tolist(),
                "plan": rng.choice(PLANS, rows).tolist(),
            },
            "prediction": prediction.tolist(),
            "score": score.tolist(),
            "sensitive": {"sex": sex.tolist()},
        }
        if labelled:
            columns["label"] = (rng.uniform(0, 1, rows) < score).astype(int).tolist()
        for start_at in range(0, rows, 5000):
            part = {
                key: (
                    {k: v[start_at : start_at + 5000] for k, v in value.items()}
                    if isinstance(value, dict)
                    else value[start_at : start_at + 5000]
                )
                for key, value in columns.items()
            }
            response = self.client.post(
                self.url(f"/versions/{version}/predictions"),
                data=json.dumps({"columns": part}),
                headers={**self.headers, "Content-Type": "application/json"},
            )
            assert response.status_code == 200, response.get_data(as_text=True)
        return ids

    def create_monitor(self, expect: int = 201, **body: Any) -> dict[str, Any]:
        """POST a monitor; return its JSON."""
        body.setdefault("schedule", None)
        response = self.client.post(self.url("/monitors"), json=body, headers=self.headers)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response.json

    def run(self, monitor_id: int) -> dict[str, Any]:
        """Run a monitor now; return the finished run."""
        response = self.client.post(self.url(f"/monitors/{monitor_id}/run"), headers=self.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json

    def reports(self, **query: Any) -> list[dict[str, Any]]:
        """The model's reports, newest first."""
        response = self.client.get(self.url("/reports"), headers=self.headers, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def report(self, report_id: int) -> dict[str, Any]:
        """One report with its detail."""
        response = self.client.get(f"{API}/reports/{report_id}", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json


@pytest.fixture
def monitored(client: Any, admin_headers: dict[str, str], clock: Any) -> Monitored:
    """``churn`` v1 with a 2,000-row reference dataset (features, target, prediction, score)."""
    create_model(client, admin_headers, "churn")
    metadata = {
        "features": FEATURES,
        "target": "churned",
        "prediction": "predicted",
        "lineage": {"metrics": {"accuracy": 0.75}},
    }
    response = register_version(
        client,
        admin_headers,
        "churn",
        metadata=metadata,
        reference=(parquet_bytes(reference()), "reference.parquet"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return Monitored(client, admin_headers, clock)
