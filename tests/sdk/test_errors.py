"""Mapping server errors to exceptions happens in one function: code first, then status."""

from __future__ import annotations

import pytest

import assay
from assay.errors import error_from_response

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "bad_request", assay.ValidationError),
        (401, "unauthenticated", assay.AuthenticationError),
        (403, "permission_denied", assay.PermissionDenied),
        (404, "not_found", assay.NotFound),
        (409, "conflict", assay.Conflict),
        (413, "payload_too_large", assay.PayloadTooLarge),
        (422, "validation_error", assay.ValidationError),
        (500, "internal_error", assay.ServerError),
        (503, "unavailable", assay.ServerError),
        (405, "method_not_allowed", assay.AssayError),
    ],
)
def test_each_server_error_code_maps_to_its_exception(
    status: int, code: str, expected: type[assay.AssayError]
) -> None:
    body = {"error": {"code": code, "message": "m", "details": {}, "request_id": "r"}}
    error = error_from_response(status, body)
    assert type(error) is expected
    assert (error.status, error.code, error.request_id) == (status, code, "r")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, assay.AuthenticationError), (409, assay.Conflict), (502, assay.ServerError)],
)
def test_an_unknown_body_maps_by_status(status: int, expected: type[assay.AssayError]) -> None:
    assert type(error_from_response(status, None, reason="Bad Gateway")) is expected


def test_str_of_an_error_names_its_status_code_and_request_id() -> None:
    error = assay.NotFound("No model named 'x'.", code="not_found", status=404, request_id="9f0c")
    assert str(error) == "No model named 'x'. (404, not_found, request id 9f0c)"


def test_validation_details_are_kept_per_field() -> None:
    body = {
        "error": {
            "code": "validation_error",
            "message": "Invalid input: name",
            "details": {"name": ["Must be a lowercase slug."]},
        }
    }
    error = error_from_response(422, body, request_id="from-header")
    assert isinstance(error, assay.ValidationError)
    assert error.details == {"name": ["Must be a lowercase slug."]}
    assert error.request_id == "from-header"


def test_network_errors_are_assay_errors_without_a_status() -> None:
    assert issubclass(assay.APITimeoutError, assay.APIConnectionError)
    assert issubclass(assay.APIConnectionError, assay.AssayError)
    assert str(assay.APIConnectionError("cannot reach")) == "cannot reach"
