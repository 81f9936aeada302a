"""The one handler that turns every error into our JSON shape.

:func:`init_app` makes every 4xx/5xx leave the app as
``{"error": {"code", "message", "details", "request_id"}}``; an unexpected exception is logged
with the request id and becomes a generic 500 that never includes ``str(e)``. A store that
cannot serve now (``db.is_unavailable``: unreachable, a dropped connection, SQLite locked past
its busy timeout) is a 503 with ``Retry-After``, logged once in one line; every 503 says when
to try again.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from .db import is_unavailable
from .errors import AssayError, ValidationFailed

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}
#: Seconds a 503 asks the client to wait: the pool reconnects on the next checkout, and
#: SQLite's write lock is held for milliseconds, so a second is enough to find out again.
RETRY_AFTER_SECONDS = 1
DATABASE_UNAVAILABLE = "The database is not available right now; try again after Retry-After."


def error_code_for(status: int) -> str:
    """The error code answered with ``status`` (``validation_error`` for 422)."""
    return "internal_error" if status >= 500 and status != 503 else _HTTP_CODES.get(status, "error")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "request_id": g.get("request_id"),
        }
    }


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> ResponseReturnValue:
    """A JSON response in the one error shape."""
    return jsonify(error_body(code, message, details)), status


def flatten_field_messages(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location (``{"json": {"name": [...]}}``); drop that level."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[f"_{location}"] = fields
    return flat


def _validation_message(details: dict[str, Any]) -> str:
    # a key need not be text: a multipart part can come without a name (None)
    names = [str(name) for name in details if not str(name).startswith("_")]
    if not names:
        first = next(iter(details.values()), ["Invalid input."])
        return str(first[0] if isinstance(first, list) and first else first)
    return "Invalid input: " + ", ".join(sorted(names))


def handle_http_exception(exc: HTTPException) -> Response:
    """Werkzeug and flask-smorest errors (404, 405, 413, webargs' 400/422) in our shape, with
    the headers the exception carries (a 405's ``Allow``, RFC 9110 15.5.6)."""
    response = current_app.make_response(_http_error_answer(exc))
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _http_error_answer(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    if status >= 500:
        log.error("HTTP %s [request %s]: %s", status, g.get("request_id"), exc.description)
        return error_response(status, "internal_error", "Internal server error.")
    code = _HTTP_CODES.get(status, "error")
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages is not None:
        details = flatten_field_messages(messages)
        return error_response(422, code, _validation_message(details), details)
    if status == 400 and messages is not None:
        return error_response(
            400, code, "The request body is not valid JSON.", flatten_field_messages(messages)
        )
    message = {
        404: "No such resource.",
        405: "Method not allowed on this resource.",
        413: "The request body is too large.",
    }.get(status, exc.description or exc.name)
    return error_response(status, code, message)


def retry_later(answer: ResponseReturnValue) -> Response:
    """``answer`` as a response that asks the client to try again in ``Retry-After`` seconds."""
    response = current_app.make_response(answer)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def database_unavailable(exc: BaseException) -> Response:
    """The answer to a store that cannot serve now: one log line that keeps the driver's
    words for the operator, and a 503 that shows the client none of them."""
    log.warning("database unavailable [request %s]: %s", g.get("request_id"), _driver_message(exc))
    return retry_later(error_response(503, "unavailable", DATABASE_UNAVAILABLE))


def _driver_message(exc: BaseException) -> str:
    """The driver's error and its first line, without the statement and parameters that
    SQLAlchemy appends (they may quote stored data)."""
    driver = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    lines = str(driver).strip().splitlines()
    return f"{type(driver).__name__}: {lines[0] if lines else ''}"


def handle_assay_error(exc: AssayError) -> ResponseReturnValue:
    """Our domain errors."""
    if exc.status >= 500:
        log.error("%s [request %s]: %s", exc.code, g.get("request_id"), exc.message)
    message = exc.message
    if isinstance(exc, ValidationFailed) and exc.details and not message:
        message = _validation_message(exc.details)
    answer = error_response(exc.status, exc.code, message, exc.details)
    if exc.status == 401:  # RFC 9110 11.6.1: a 401 names the scheme that would get in
        response = current_app.make_response(answer)
        response.headers["WWW-Authenticate"] = 'Bearer realm="assay"'
        return response
    return retry_later(answer) if exc.status == 503 else answer


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    """Anything else: a store that cannot serve now is a 503 (:func:`database_unavailable`);
    the rest is logged with its traceback and answered with a generic 500."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    if is_unavailable(exc):
        return database_unavailable(exc)
    log.exception("unhandled error [request %s]", g.get("request_id"))
    return error_response(
        500, "internal_error", "Internal server error. Quote the request id when reporting it."
    )


def init_app(app: Flask) -> None:
    """Register the handlers; call after flask-smorest's Api so ours win."""
    app.register_error_handler(AssayError, handle_assay_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
