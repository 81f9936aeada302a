"""Bad input to the registry, field by field: a specification of what the API refuses.

Each table row names the field, the value sent, and the path under ``error.details`` where
the refusal must appear. Every refusal is a 422 (a 400 when the body cannot be parsed) in
our one error shape, and leaves the store as it was. The last tests check that the tables
cover every field of every registry request schema, so a new field cannot go untested.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from marshmallow import Schema, fields

from assay_server.governance.schemas import StageChangeSchema
from assay_server.registry.schemas import (
    ModelCreateSchema,
    ModelListArgsSchema,
    ModelUpdateSchema,
    VersionCreateSchema,
    VersionListArgsSchema,
    VersionUpdateSchema,
)
from tests.api.factories import API, create_model, declared_version

MODELS = f"{API}/models"
VERSIONS = f"{MODELS}/churn/versions"
MISSING = object()
"""Sent as a value: leave the field out of the request."""

AGE = {"name": "age", "kind": "numerical"}
BIG_DOCUMENT = {"text": "x" * (64 * 1024)}
NAN = float("nan")


class _Several(dict):
    """Several top-level fields sent together."""


def several(**values: Any) -> _Several:
    """A value that sets several top-level fields (``target`` and ``features``) at once."""
    return _Several(values)


def case(path: str, value: Any, name: str) -> Any:
    """One refused value, sent as the top-level field that ``path`` starts with.

    ``path`` is where the refusal appears in ``error.details``, dotted:
    ``lineage.git_commit``, ``features.0.kind``. ``name`` is the pytest id.
    """
    return pytest.param(tuple(path.split(".")), value, id=name)


def body_with(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``base`` with the top-level field of ``path`` set to ``value`` (or left out)."""
    body = dict(base)
    if isinstance(value, _Several):
        body.update(value)
    elif value is MISSING:
        body.pop(path[0], None)
    else:
        body[path[0]] = value
    return body


# the tables -----------------------------------------------------------------------------------

MODEL_CREATE_BASE = {"name": "fresh", "task": "regression"}
MODEL_CREATE_CASES = [
    case("retention_days", 0, "retention-days-zero"),
    case("retention_days", 36_501, "retention-days-too-many"),
    case("retention_days", "30", "retention-days-text"),
    case("name", MISSING, "name-missing"),
    case("name", None, "name-null"),
    case("name", 7, "name-not-a-string"),
    case("name", "", "name-empty"),
    case("name", "Churn", "name-uppercase"),
    case("name", "-churn", "name-leading-dash"),
    case("name", ".churn", "name-leading-dot"),
    case("name", "churn model", "name-with-space"),
    case("name", "churn/eu", "name-with-slash"),
    case("name", "churn\n", "name-trailing-newline"),
    case("name", "a" * 101, "name-too-long"),
    case("task", MISSING, "task-missing"),
    case("task", "clustering", "task-unknown"),
    case("task", ["regression"], "task-not-a-string"),
    case("risk_tier", "extreme", "risk-tier-unknown"),
    case("risk_tier", None, "risk-tier-null"),
    case("owner", "", "owner-empty"),
    case("owner", "o" * 101, "owner-too-long"),
    case("owner", 5, "owner-not-a-string"),
    case("description", "d" * 10_001, "description-too-long"),
    case("description", None, "description-null"),
    case("tags", "retail", "tags-not-a-list"),
    case("tags", None, "tags-null"),
    case("tags.0", [""], "tag-empty"),
    case("tags.0", ["t" * 101], "tag-too-long"),
    case("tags.1", ["ok", 1], "tag-not-a-string"),
    case("tags", [f"t{i}" for i in range(51)], "tags-too-many"),
    case("classes", "yes", "classes-not-a-list"),
    case("classes", ["a", "b", "c"], "classes-three-for-binary"),
    case("id", 5, "unknown-id"),
    case("archived", True, "unknown-archived"),
    case("created_by", "someone-else", "unknown-created-by"),
]

MODEL_UPDATE_CASES = [
    case("retention_days", -1, "retention-days-negative"),
    case("retention_days", 1.5, "retention-days-fraction"),
    case("description", "d" * 10_001, "description-too-long"),
    case("description", None, "description-null"),
    case("owner", "", "owner-empty"),
    case("owner", "o" * 101, "owner-too-long"),
    case("owner", 5, "owner-not-a-string"),
    case("tags", "retail", "tags-not-a-list"),
    case("tags.0", ["t" * 101], "tag-too-long"),
    case("tags", [f"t{i}" for i in range(51)], "tags-too-many"),
    case("risk_tier", "extreme", "risk-tier-unknown"),
    case("risk_tier", None, "risk-tier-null"),
    case("name", "renamed", "unknown-name"),
    case("task", "regression", "unknown-task"),
    case("archived", True, "unknown-archived"),
    case("latest_version", 9, "unknown-latest-version"),
]

MODEL_LIST_CASES = [
    case("q", "q" * 101, "q-too-long"),
    case("task", "clustering", "task-unknown"),
    case("risk_tier", "extreme", "risk-tier-unknown"),
    case("owner", "o" * 101, "owner-too-long"),
    case("tag", "t" * 101, "tag-too-long"),
    case("include_archived", "maybe", "include-archived-not-a-boolean"),
    case("sort", "risk_tier", "sort-unknown-field"),
    case("sort", "+name", "sort-plus-sign"),
    case("sort", "name,created_at", "sort-two-fields"),
    case("page", 0, "page-zero"),
    case("page", "two", "page-not-a-number"),
    case("page", 1_000_001, "page-too-high"),
    case("limit", 0, "limit-zero"),
    case("limit", 501, "limit-over-500"),
    case("limit", "ten", "limit-not-a-number"),
    case("archived", "true", "unknown-archived"),
    case("stage", "production", "unknown-stage"),
]

VERSION_CREATE_BASE = {"features": [AGE]}
VERSION_CREATE_CASES = [
    case("description", "d" * 10_001, "description-too-long"),
    case("description", 5, "description-not-a-string"),
    case("tags", "candidate", "tags-not-a-list"),
    case("tags.0", [""], "tag-empty"),
    case("tags", [f"t{i}" for i in range(51)], "tags-too-many"),
    case("format", "h5", "format-unknown"),
    case("format", "SKOPS", "format-wrong-case"),
    case("artifact_sha256", "xyz", "sha256-not-hex"),
    case("artifact_sha256", "a" * 63, "sha256-too-short"),
    case("artifact_sha256", "a" * 65, "sha256-too-long"),
    case("artifact_sha256", "g" * 64, "sha256-bad-digit"),
    case("artifact_sha256", "a" * 64 + "\n", "sha256-trailing-newline"),
    case("features", [], "features-empty"),
    case("features", "age", "features-not-a-list"),
    case("features", [AGE, AGE], "features-repeat-a-name"),
    case(
        "features",
        [{"name": f"f{i}", "kind": "numerical"} for i in range(2001)],
        "features-too-many",
    ),
    case("features.0", ["age"], "feature-not-an-object"),
    case("features.0.name", [{"kind": "numerical"}], "feature-name-missing"),
    case("features.0.name", [{"name": "", "kind": "numerical"}], "feature-name-empty"),
    case("features.0.name", [{"name": "a" * 201, "kind": "numerical"}], "feature-name-too-long"),
    case(
        "features.0.name",
        [{"name": "a\x00ge", "kind": "numerical"}],
        "feature-name-control-character",
    ),
    case(
        "features.0.name", [{"name": "age\n", "kind": "numerical"}], "feature-name-trailing-newline"
    ),
    case("features.0.name", [{"name": 5, "kind": "numerical"}], "feature-name-not-a-string"),
    case("features.1.kind", [AGE, {"name": "plan"}], "feature-kind-missing"),
    case("features.0.kind", [{"name": "age", "kind": "ordinal"}], "feature-kind-unknown"),
    case("features.0.dtype", [{**AGE, "dtype": "int"}], "feature-unknown-field"),
    case("target", "", "target-empty"),
    case("target", "t" * 201, "target-too-long"),
    case("target", "tab\there", "target-control-character"),
    case("target", 5, "target-not-a-string"),
    case("target", several(target="age", features=[AGE]), "target-is-a-feature"),
    case("prediction", "", "prediction-empty"),
    case("prediction", "p" * 201, "prediction-too-long"),
    case("prediction", "line\nbreak", "prediction-control-character"),
    case("prediction", several(prediction="age", features=[AGE]), "prediction-is-a-feature"),
    case("lineage", "s3://bucket/train.csv", "lineage-not-an-object"),
    case("lineage", None, "lineage-null"),
    case("lineage.dataset", {"dataset": "s3://x"}, "lineage-unknown-field"),
    case("lineage.dataset_uri", {"dataset_uri": "u" * 2001}, "dataset-uri-too-long"),
    case("lineage.dataset_uri", {"dataset_uri": 5}, "dataset-uri-not-a-string"),
    case("lineage.dataset_hash", {"dataset_hash": "h" * 201}, "dataset-hash-too-long"),
    case("lineage.dataset_hash", {"dataset_hash": ["sha256:1"]}, "dataset-hash-not-a-string"),
    case("lineage.git_commit", {"git_commit": "main"}, "git-commit-not-hex"),
    case("lineage.git_commit", {"git_commit": "abc12"}, "git-commit-too-short"),
    case("lineage.git_commit", {"git_commit": "a" * 65}, "git-commit-too-long"),
    case("lineage.git_commit", {"git_commit": "abcdef1\n"}, "git-commit-trailing-newline"),
    case("lineage.params", {"params": "C=1"}, "params-not-an-object"),
    case("lineage.params", {"params": {"k" * 201: 1}}, "params-key-too-long"),
    case("lineage._schema", {"params": {"C": NAN}}, "params-nan"),
    case("lineage._schema", {"params": BIG_DOCUMENT}, "params-too-big"),
    case("lineage.metrics", {"metrics": [0.9]}, "metrics-not-an-object"),
    case("lineage.metrics", {"metrics": {"auc": "high"}}, "metric-not-a-number"),
    case("lineage.metrics", {"metrics": {"auc": NAN}}, "metric-nan"),
    case("lineage.metrics", {"metrics": {"auc": float("inf")}}, "metric-infinite"),
    case("lineage.metrics", {"metrics": {"m" * 201: 1.0}}, "metric-name-too-long"),
    case("lineage.metadata", {"metadata": "free text"}, "metadata-not-an-object"),
    case("lineage.metadata", {"metadata": {"k" * 201: 1}}, "metadata-key-too-long"),
    case("lineage._schema", {"metadata": BIG_DOCUMENT}, "metadata-too-big"),
    case("triggered_by", "alert 1", "triggered-by-not-an-object"),
    case("triggered_by.alert", {}, "triggered-by-alert-missing"),
    case("triggered_by.alert", {"alert": "one"}, "triggered-by-alert-not-a-number"),
    case("triggered_by.alert", {"alert": 0}, "triggered-by-alert-not-positive"),
    case("triggered_by.incident", {"alert": 1, "incident": 1}, "triggered-by-unknown-field"),
    case("triggered_by", {"alert": 999_999}, "triggered-by-no-such-alert"),
    case("model_card", "intended for churn", "model-card-not-an-object"),
    case("model_card", {"intended_use": NAN}, "model-card-nan"),
    case("model_card", BIG_DOCUMENT, "model-card-too-big"),
    case("model_card.Intended Use", {"Intended Use": "x"}, "model-card-key-not-snake-case"),
    case("model_card.1st", {"1st": "x"}, "model-card-key-starts-with-digit"),
    case("model_card." + "k" * 65, {"k" * 65: "x"}, "model-card-key-too-long"),
    case("model_card.use\n", {"use\n": "x"}, "model-card-key-trailing-newline"),
    case("version", 7, "unknown-version"),
    case("stage", "production", "unknown-stage"),
    case("artifact", {"sha256": "a" * 64}, "unknown-artifact"),
]

VERSION_UPDATE_CASES = [
    case("description", "d" * 10_001, "description-too-long"),
    case("description", None, "description-null"),
    case("tags", "candidate", "tags-not-a-list"),
    case("tags.0", ["t" * 101], "tag-too-long"),
    case("tags", [f"t{i}" for i in range(51)], "tags-too-many"),
    case("model_card", ["intended_use"], "model-card-not-an-object"),
    case("model_card.Limits", {"Limits": "x"}, "model-card-key-not-snake-case"),
    case("model_card", BIG_DOCUMENT, "model-card-too-big"),
    case("model_card", {"limitations": float("inf")}, "model-card-infinite"),
    case("lineage", {"git_commit": "abcdef1"}, "unknown-lineage"),
    case("stage", "production", "unknown-stage"),
    case("features", [AGE], "unknown-features"),
    case("target", "churned", "unknown-target"),
    case("format", "onnx", "unknown-format"),
    case("artifact_sha256", "a" * 64, "unknown-artifact-sha256"),
    case("version", 2, "unknown-version"),
    case("created_by", "someone-else", "unknown-created-by"),
]

STAGE_CHANGE_BASE = {"stage": "staging", "reason": "hotfix"}
STAGE_CHANGE_CASES = [
    case("stage", MISSING, "stage-missing"),
    case("stage", None, "stage-null"),
    case("stage", "retired", "stage-unknown"),
    case("stage", "Production", "stage-wrong-case"),
    case("stage", 2, "stage-not-a-string"),
    case("reason", MISSING, "reason-missing-for-an-override"),
    case("reason", None, "reason-null-for-an-override"),
    case("reason", " ", "reason-blank-for-an-override"),
    case("reason", "r" * 5001, "reason-too-long"),
    case("reason", ["hotfix"], "reason-not-a-string"),
    case("comment", "c" * 2001, "comment-too-long"),
    case("comment", ["lgtm"], "comment-not-a-string"),
    case("archive_existing", "perhaps", "archive-existing-not-a-boolean"),
    case("archive_existing", None, "archive-existing-null"),
    case("version", 2, "unknown-version"),
    case("force", True, "unknown-force"),
]

VERSION_LIST_CASES = [
    case("stage", "retired", "stage-unknown"),
    case("tag", "t" * 101, "tag-too-long"),
    case("sort", "stage", "sort-unknown-field"),
    case("sort", "name", "sort-a-model-field"),
    case("page", -1, "page-negative"),
    case("limit", 501, "limit-over-500"),
    case("limit", "all", "limit-not-a-number"),
    case("state", "production", "unknown-state"),
]


# checking a refusal ---------------------------------------------------------------------------


@pytest.fixture
def headers(admin_headers):
    """An admin, so that no refusal is a permission's."""
    return admin_headers


@pytest.fixture
def existing(client, headers):
    """``churn`` with one version: something a bad request could wrongly change."""
    create_model(client, headers, "churn", risk_tier="medium", owner="ds", tags=["eu"])
    declared_version(
        client,
        headers,
        "churn",
        description="v1",
        tags=["candidate"],
        model_card={"intended_use": "tests"},
    )


def snapshot(client, headers) -> tuple[Any, ...]:
    """Everything a request could have stored: models, versions, audit events (how many, and
    the latest: a refusal records none)."""
    models = client.get(MODELS, headers=headers, query_string={"include_archived": "true"})
    versions = client.get(VERSIONS, headers=headers)
    audit = client.get(f"{API}/audit", headers=headers, query_string={"limit": 1})
    return models.json, versions.json, audit.json["total"], audit.json["items"]


def send_json(client, method: str, url: str, headers, body: Any):
    """``body`` as JSON text exactly as Python writes it (NaN included)."""
    return client.open(
        url, method=method, headers=headers, data=json.dumps(body), content_type="application/json"
    )


def assert_error_shape(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def _leaves(node: Any) -> Any:
    if isinstance(node, dict):
        for child in node.values():
            yield from _leaves(child)
    elif isinstance(node, list):
        yield from node
    else:
        yield node


def assert_refused(response, path: tuple[str, ...]) -> None:
    """A 422 in our shape whose details hold messages at ``path``."""
    error = assert_error_shape(response, 422, "validation_error")
    node: Any = error["details"]
    for step in path:
        assert isinstance(node, dict) and step in node, (
            f"no {'.'.join(path)!r} in details {error['details']}"
        )
        node = node[step]
    messages = list(_leaves(node))  # a dict's key or value nests one level more
    assert messages and all(isinstance(m, str) and m for m in messages), node
    if not path[0].startswith("_"):
        assert path[0] in error["message"]


# the refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "value"), MODEL_CREATE_CASES)
def test_creating_a_model_refuses(client, headers, existing, path, value):
    before = snapshot(client, headers)

    response = send_json(client, "POST", MODELS, headers, body_with(MODEL_CREATE_BASE, path, value))

    assert_refused(response, path)
    assert snapshot(client, headers) == before


@pytest.mark.parametrize(("path", "value"), MODEL_UPDATE_CASES)
def test_changing_a_model_refuses(client, headers, existing, path, value):
    before = snapshot(client, headers)

    response = send_json(
        client,
        "PATCH",
        f"{MODELS}/churn",
        headers,
        body_with({"description": "would change"}, path, value),
    )

    assert_refused(response, path)
    assert snapshot(client, headers) == before


@pytest.mark.parametrize(("path", "value"), MODEL_LIST_CASES)
def test_listing_models_refuses(client, headers, existing, path, value):
    response = client.get(MODELS, headers=headers, query_string={path[0]: value})

    assert_refused(response, path)


@pytest.mark.parametrize("transport", ["json", "multipart"])
@pytest.mark.parametrize(("path", "value"), VERSION_CREATE_CASES)
def test_registering_a_version_refuses(client, headers, existing, path, value, transport):
    before = snapshot(client, headers)
    body = body_with(VERSION_CREATE_BASE, path, value)

    if transport == "json":
        response = send_json(client, "POST", VERSIONS, headers, body)
    else:
        response = client.post(
            VERSIONS,
            headers=headers,
            content_type="multipart/form-data",
            data={"metadata": json.dumps(body)},
        )

    assert_refused(response, path)
    assert snapshot(client, headers) == before


@pytest.mark.parametrize(("path", "value"), VERSION_UPDATE_CASES)
def test_changing_a_version_refuses(client, headers, existing, path, value):
    before = snapshot(client, headers)

    response = send_json(
        client,
        "PATCH",
        f"{VERSIONS}/1",
        headers,
        body_with({"description": "would change"}, path, value),
    )

    assert_refused(response, path)
    assert snapshot(client, headers) == before


@pytest.mark.parametrize(("path", "value"), STAGE_CHANGE_CASES)
def test_changing_a_stage_refuses(client, headers, existing, path, value):
    before = snapshot(client, headers)

    response = send_json(
        client, "POST", f"{VERSIONS}/1/stage", headers, body_with(STAGE_CHANGE_BASE, path, value)
    )

    assert_refused(response, path)
    assert snapshot(client, headers) == before


@pytest.mark.parametrize(("path", "value"), VERSION_LIST_CASES)
def test_listing_versions_refuses(client, headers, existing, path, value):
    response = client.get(VERSIONS, headers=headers, query_string={path[0]: value})

    assert_refused(response, path)


# bodies that are not objects, or not JSON at all ----------------------------------------------

JSON_ENDPOINTS = [
    pytest.param("POST", MODELS, id="create-model"),
    pytest.param("PATCH", f"{MODELS}/churn", id="change-model"),
    pytest.param("POST", VERSIONS, id="register-version"),
    pytest.param("PATCH", f"{VERSIONS}/1", id="change-version"),
    pytest.param("POST", f"{VERSIONS}/1/stage", id="change-stage"),
]


@pytest.mark.parametrize(
    "text", ['{"name": ', "{'name': 'single-quoted'}", "not json", '{"a": 1} trailing']
)
@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_a_body_that_is_not_json_is_a_bad_request(client, headers, existing, method, url, text):
    before = snapshot(client, headers)

    response = client.open(
        url, method=method, headers=headers, data=text, content_type="application/json"
    )

    assert_error_shape(response, 400, "bad_request")
    assert snapshot(client, headers) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_version_sent_as_neither_json_nor_multipart_is_a_bad_request(
    client, headers, existing, content_type
):
    before = snapshot(client, headers)

    response = client.post(
        VERSIONS, headers=headers, content_type=content_type, data=json.dumps(VERSION_CREATE_BASE)
    )

    error = assert_error_shape(response, 400, "bad_request")
    assert "multipart/form-data" in error["message"]
    assert snapshot(client, headers) == before


@pytest.mark.parametrize("body", [[], ["name", "churn"], "churn", 42, None])
@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_a_json_body_that_is_not_an_object_is_refused(client, headers, existing, method, url, body):
    before = snapshot(client, headers)

    response = send_json(client, method, url, headers, body)

    assert_refused(response, ("_schema",))
    assert snapshot(client, headers) == before


@pytest.mark.parametrize("metadata", ['{"features": ', "features=age", "{'a': 1}"])
def test_a_metadata_part_that_is_not_json_is_a_bad_request(client, headers, existing, metadata):
    before = snapshot(client, headers)

    response = client.post(
        VERSIONS, headers=headers, content_type="multipart/form-data", data={"metadata": metadata}
    )

    error = assert_error_shape(response, 400, "bad_request")
    assert "metadata" in error["message"]
    assert snapshot(client, headers) == before


@pytest.mark.parametrize("metadata", ["[]", '"features"', "7", "null"])
def test_a_metadata_part_that_is_not_an_object_is_refused(client, headers, existing, metadata):
    before = snapshot(client, headers)

    response = client.post(
        VERSIONS, headers=headers, content_type="multipart/form-data", data={"metadata": metadata}
    )

    assert_refused(response, ("_schema",))
    assert snapshot(client, headers) == before


# the tables cover every field -----------------------------------------------------------------


def _field_paths(schema: Schema, prefix: str = "") -> set[str]:
    """Every field of ``schema``, nested ones as ``lineage.git_commit``, ``features.name``."""
    paths: set[str] = set()
    for name, field in schema.fields.items():
        paths.add(prefix + name)
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            paths |= _field_paths(inner.schema, f"{prefix}{name}.")
    return paths


def _covered(cases: list[Any], schema: Schema) -> set[str]:
    """The schema fields the table's paths reach (list indexes skipped)."""
    paths = set()
    for param in cases:
        path = [step for step in param.values[0] if not step.isdigit()]
        for depth in range(1, len(path) + 1):
            paths.add(".".join(path[:depth]))
    return paths & _field_paths(schema)


def _unknown_fields(cases: list[Any], schema: Schema) -> set[str]:
    top = {param.values[0][0] for param in cases}
    return top - set(schema.fields) - {"_schema"}


@pytest.mark.parametrize(
    ("schema", "cases"),
    [
        pytest.param(ModelCreateSchema(), MODEL_CREATE_CASES, id="ModelCreateSchema"),
        pytest.param(ModelUpdateSchema(), MODEL_UPDATE_CASES, id="ModelUpdateSchema"),
        pytest.param(ModelListArgsSchema(), MODEL_LIST_CASES, id="ModelListArgsSchema"),
        pytest.param(VersionCreateSchema(), VERSION_CREATE_CASES, id="VersionCreateSchema"),
        pytest.param(VersionUpdateSchema(), VERSION_UPDATE_CASES, id="VersionUpdateSchema"),
        pytest.param(StageChangeSchema(), STAGE_CHANGE_CASES, id="StageChangeSchema"),
        pytest.param(VersionListArgsSchema(), VERSION_LIST_CASES, id="VersionListArgsSchema"),
    ],
)
def test_every_field_of_every_registry_request_schema_has_a_refused_value(schema, cases):
    assert _field_paths(schema) - _covered(cases, schema) == set()
    assert _unknown_fields(cases, schema), "each table also sends a field the schema lacks"
