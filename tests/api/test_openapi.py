"""The served OpenAPI document is valid and describes every answer, errors included; the
browsable page is served from this server's own files; a 405 says which methods are allowed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from assay_server.openapi import ERROR_RESPONSES, SWAGGER_UI_DIR

ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    """``GET /api/openapi.json``, which needs no token."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def test_the_document_is_valid_openapi(document):
    validate(document)


def test_no_value_in_the_document_is_null_where_openapi_wants_a_string(document):
    text = str(document)
    assert "'format': None" not in text
    assert "'pattern': None" not in text


def test_patterns_are_in_the_dialect_openapi_reads(document):
    patterns = re.findall(r"'pattern': '([^']*)'", str(document))
    assert patterns
    assert not [p for p in patterns if p.endswith("\\\\Z")], "Python's \\Z is $ in ECMA 262"


def test_each_error_status_is_one_shared_response_with_the_error_shape(document):
    responses = document["components"]["responses"]
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = document["components"]["schemas"]["ErrorDetail"]
    assert set(inner["required"]) == {"code", "message", "details", "request_id"}
    for status in ERROR_RESPONSES:
        shared = responses[_error_response_name(document, status)]
        assert shared["content"]["application/json"]["schema"] == ERROR_SCHEMA_REF


def _error_response_name(document: dict[str, Any], status: int) -> str:
    refs = {
        operation["responses"][str(status)]["$ref"]
        for _, _, operation in _operations(document)
        if str(status) in operation["responses"]
    }
    assert len(refs) == 1, f"{status}: {refs}"
    return refs.pop().rsplit("/", 1)[-1]


def test_every_operation_describes_its_errors_by_reference(document):
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        errors = {int(status) for status in responses if int(status) >= 400}
        assert {500, 503} <= errors, (method, path)
        for status in errors:
            assert set(responses[str(status)]) == {"$ref"}, (method, path, status)
        if operation.get("security") != []:
            assert {401, 403} <= errors, (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)
        if "requestBody" in operation:
            assert {400, 409, 413, 422} <= errors, (method, path)


def test_only_the_public_operations_need_no_token(document):
    public = {(m, p) for m, p, op in _operations(document) if op.get("security") == []}
    assert public == {
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/ready"),
        ("GET", "/api/v1/audit/public-key"),
    }
    assert document["security"] == [{"bearer": []}]


def test_an_id_in_a_path_is_bounded_by_what_the_store_holds(document):
    parameters = document["paths"]["/api/v1/promotions/{promotion_id}"]["parameters"]
    [promotion_id] = parameters
    assert promotion_id["schema"]["maximum"] == 2**31 - 1


def test_a_401_names_the_scheme_that_gets_in(client):
    response = client.get("/api/v1/models")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="assay"'


def test_an_error_answer_matches_the_documented_shape(client, contributor_headers):
    response = client.get("/api/v1/models/unknown", headers=contributor_headers)
    assert response.status_code == 404
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message", "details", "request_id"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/models", {"GET", "POST", "HEAD", "OPTIONS"}),
        ("PUT", "/api/v1/whoami", {"GET", "HEAD", "OPTIONS"}),
        ("TRACE", "/api/v1/health", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/api/openapi.json", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_method_the_route_does_not_take_is_a_405_with_allow(
    client, contributor_headers, method, path, allowed
):
    response = client.open(path, method=method, headers=contributor_headers)
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == allowed


def test_the_docs_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/api/") for source in sources), sources
    assert re.search(r"<script>", page) is None, "inline script"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("style-src")[0]


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("start.js", "text/javascript"),
    ],
)
def test_the_docs_page_files_are_served_by_this_server_without_a_token(client, name, mimetype):
    response = client.get(f"/api/docs/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data()


def test_only_swagger_ui_files_are_served(client):
    assert (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file()
    for name in ("LICENSE", "..%2Fflask_swagger_ui.py", "index.html"):
        assert client.get(f"/api/docs/{name}").status_code == 404, name
