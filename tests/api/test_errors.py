"""One error shape for every 4xx and 5xx, and a request id on every response."""

from __future__ import annotations

import logging

from flask.views import MethodView

from assay_server.access import requires
from assay_server.app import create_app
from assay_server.roles import Role


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-Id"]
    return body["error"]


def test_an_unknown_route_is_not_found_in_our_shape(client):
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_a_wrong_method_is_method_not_allowed_in_our_shape(client, admin_headers):
    assert_error_shape(
        client.delete("/api/v1/models", headers=admin_headers), 405, "method_not_allowed"
    )


def test_malformed_json_is_a_bad_request(client, admin_headers):
    response = client.post(
        "/api/v1/models", data='{"name": ', headers=admin_headers, content_type="application/json"
    )
    assert_error_shape(response, 400, "bad_request")


def test_validation_errors_name_each_field(client, admin_headers):
    response = client.post(
        "/api/v1/models",
        json={"name": "UPPER", "task": "poetry", "surprise": 1},
        headers=admin_headers,
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert set(error["details"]) == {"name", "task", "surprise"}


def test_a_body_over_the_size_limit_is_refused(settings, db, clock, admin_headers):
    small = create_app(settings.with_overrides(max_request_mb=0.001), database=db, clock=clock)
    response = small.test_client().post(
        "/api/v1/models",
        json={"name": "big", "task": "regression", "description": "x" * 5000},
        headers=admin_headers,
    )
    assert_error_shape(response, 413, "payload_too_large")


def test_an_unexpected_exception_is_a_generic_500_logged_with_the_request_id(
    own_app, admin_headers, caplog
):
    app = own_app

    class Broken(MethodView):
        @requires(Role.VIEWER)
        def get(self):
            raise RuntimeError("secret internals: password=hunter2")

    app.add_url_rule("/api/v1/broken", view_func=Broken.as_view("broken"))
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/v1/broken", headers=admin_headers)
    error = assert_error_shape(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    assert error["request_id"] in caplog.text
    assert "hunter2" in caplog.text  # the operator still sees what went wrong


def test_every_response_carries_a_request_id_and_a_client_one_is_kept(client):
    assert len(client.get("/api/v1/health").headers["X-Request-Id"]) == 32
    response = client.get("/api/v1/health", headers={"X-Request-Id": "trace-1234-abcd"})
    assert response.headers["X-Request-Id"] == "trace-1234-abcd"


def test_a_request_id_that_could_inject_headers_is_replaced(client):
    response = client.get("/api/v1/health", headers={"X-Request-Id": "bad id; with spaces"})
    assert response.headers["X-Request-Id"] != "bad id; with spaces"


def test_the_openapi_document_describes_the_api(client):
    spec = client.get("/api/openapi.json").json
    assert spec["info"]["title"] == "Assay"
    assert "/api/v1/models/{name}/versions" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert client.get("/api/docs").status_code == 200
