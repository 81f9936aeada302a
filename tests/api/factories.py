"""Test data for the registry: models, versions, reference frames and artifacts.

Each helper does one thing through the public HTTP API (the Flask test client) or builds
bytes a client would upload; the API tests and anyone else may reuse them.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any

import pandas as pd

API = "/api/v1"

CHURN_FEATURES = [
    {"name": "age", "kind": "numerical"},
    {"name": "plan", "kind": "categorical"},
]


def model_body(name: str = "churn", **fields: Any) -> dict[str, Any]:
    """A valid model-creation body; ``fields`` override or add to it."""
    return {"name": name, "task": "binary_classification", **fields}


def create_model(
    client: Any, headers: dict[str, str], name: str = "churn", **fields: Any
) -> dict[str, Any]:
    """Create a model through the API and return its JSON (asserting the 201)."""
    response = client.post(f"{API}/models", json=model_body(name, **fields), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def reference_frame(rows: int = 20) -> pd.DataFrame:
    """A churn-like reference dataset: a numeric and a text feature, and a 0/1 target."""
    return pd.DataFrame(
        {
            "age": [20 + (i * 7) % 50 for i in range(rows)],
            "plan": [("basic", "plus", "pro")[i % 3] for i in range(rows)],
            "churned": [i % 2 for i in range(rows)],
        }
    )


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV, without the index."""
    return frame.to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet, without the index."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def skops_artifact() -> bytes:
    """A small fitted scikit-learn LogisticRegression, serialised with skops."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    return skops.io.dumps(model)


def pickle_artifact() -> bytes:
    """A pickled object (protocol 4), as ``pickle.dumps`` or joblib would write one."""
    import pickle

    return pickle.dumps({"weights": [0.1, 0.2]}, protocol=4)


ONNX_ARTIFACT = b"\x08\x07\x12\x07pytorch\x1a\x032.0:fake-onnx-graph"
"""Bytes that are neither a zip nor a pickle: what the server accepts as an ONNX file."""


def artifact_bytes(kind: str) -> bytes:
    """A small artifact of ``kind``: ``skops``, ``onnx`` or ``pickle``."""
    return {"skops": skops_artifact, "onnx": lambda: ONNX_ARTIFACT, "pickle": pickle_artifact}[
        kind
    ]()


def register_version(
    client: Any,
    headers: dict[str, str],
    model: str = "churn",
    *,
    metadata: dict[str, Any] | None = None,
    artifact: tuple[bytes, str] | None = None,
    reference: tuple[bytes, str] | None = None,
) -> Any:
    """POST a version: a JSON body without files, else multipart with ``metadata``.

    ``artifact`` and ``reference`` are ``(bytes, filename)`` pairs. Returns the response.
    """
    url = f"{API}/models/{model}/versions"
    if artifact is None and reference is None:
        return client.post(url, json=metadata if metadata is not None else {}, headers=headers)
    data: dict[str, Any] = {"metadata": json.dumps(metadata or {})}
    if artifact is not None:
        data["artifact"] = (io.BytesIO(artifact[0]), artifact[1])
    if reference is not None:
        data["reference_data"] = (io.BytesIO(reference[0]), reference[1])
    return client.post(url, data=data, headers=headers, content_type="multipart/form-data")


def declared_version(
    client: Any, headers: dict[str, str], model: str = "churn", **metadata: Any
) -> dict[str, Any]:
    """Register a version with declared features and no files; return its JSON."""
    body = {"features": CHURN_FEATURES, "target": "churned", **metadata}
    response = register_version(client, headers, model, metadata=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def audit_events(
    client: Any, headers: dict[str, str], target_type: str, target_id: str
) -> list[dict[str, Any]]:
    """The audit events about one target, oldest first."""
    response = client.get(
        f"{API}/audit",
        headers=headers,
        query_string={"target_type": target_type, "target_id": target_id},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["items"]


def audit_actions(
    client: Any, headers: dict[str, str], target_type: str, target_id: str
) -> list[str]:
    """Just the actions of :func:`audit_events`."""
    return [e["action"] for e in audit_events(client, headers, target_type, target_id)]


VERSIONS = f"{API}/models/churn/versions"


def stored_files(settings, kind: str) -> list[str]:
    """Files under the data directory's ``artifacts``, ``reference`` or ``incoming`` folder."""
    root = settings.data_dir / kind
    if not root.exists():
        return []
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def assert_nothing_registered(client, headers, settings) -> None:
    assert client.get(VERSIONS, headers=headers).json["total"] == 0
    assert client.get(f"{API}/models/churn", headers=headers).json["latest_version"] is None
    assert audit_actions(client, headers, "model_version", "churn/1") == []
    for store in ("artifacts", "reference", "incoming"):
        assert stored_files(settings, store) == [], store


def field_errors(response, status: int = 422) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert (
        error["code"]
        == {422: "validation_error", 413: "payload_too_large", 400: "bad_request"}[status]
    )
    return error["details"]


def stage(client, headers, version: int, **body):
    """Move version ``version`` of ``churn`` to a stage (admin); a move to staging or
    production overrides the gate, so it says why unless the test gives its own ``reason``."""
    if body.get("stage") in ("staging", "production"):
        body.setdefault("reason", "set up by the test")
    return client.post(f"{VERSIONS}/{version}/stage", headers=headers, json=body)
