"""The OpenAPI document the server serves, and the page that browses it.

:class:`ErrorResponses` is an apispec plugin that completes what flask-smorest writes:

- every operation lists the error statuses it can answer, each a reference to one shared
  response whose body is the one error shape (``ErrorSchema``): 401 and 403 where a token is
  needed, 404 where the path names something, 422 where there are arguments, 400, 409 and 413
  where there is a body, 500 and 503 everywhere;
- a ``@public`` route says so (``security: []``), so a client knows it needs no token;
- a pattern is written in the dialect OpenAPI reads (ECMA 262): our validators end theirs with
  Python's ``\\Z`` (``$`` in Python lets a trailing newline through), which is ``$`` there.

:func:`init_app` serves Swagger UI at ``/api/docs`` from the files of the installed
``flask-swagger-ui`` package: no CDN, so the page works offline and runs only the script the
server shipped, and no inline script, so it runs under a strict Content-Security-Policy.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import flask_swagger_ui
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, abort, send_from_directory, url_for
from marshmallow import fields, validate
from werkzeug.routing import Rule

from .access import PUBLIC, public, required_role_for
from .http_errors import error_code_for
from .schemas import ErrorSchema
from .storable import MAX_STORED_ID

#: What each error status means here: the description of its shared response.
ERROR_RESPONSES: dict[int, str] = {
    400: "The body is not valid JSON, or not a valid multipart body.",
    401: "The token is missing, unknown, expired or revoked.",
    403: "The token's role may not do this.",
    404: "Nothing of that name or id (or no such route).",
    409: (
        "The change conflicts with what is stored (a name in use, an archived model, a state "
        "that does not allow it), or the request's Idempotency-Key is in use."
    ),
    413: "The body is over the server's size limit.",
    422: "An argument is wrong: `details` maps each field to its messages.",
    500: "A bug: logged on the server with the request id, never a stack trace.",
    503: "The database cannot serve now: try again after `Retry-After` seconds.",
}
#: Answered by any operation: a bug, or a store that cannot serve now.
ALWAYS = (500, 503)
#: Answered where a token is needed.
WITH_TOKEN = (401, 403)
#: Answered where there is a body: unreadable, too large, or its Idempotency-Key in use.
WITH_BODY = (400, 409, 413, 422)
BODY_METHODS = frozenset({"post", "put", "patch"})
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).parent / "dist"
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
#: The page's policy: its own scripts only; Swagger UI sets inline styles and draws icons as
#: data: images; it fetches the document from this server.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def error_response_name(status: int) -> str:
    """The name of the shared response of an error status, e.g. ``validation_error``."""
    return error_code_for(status)


def ecma_pattern(pattern: str) -> str:
    """A Python pattern as OpenAPI (ECMA 262) reads it: a final ``\\Z`` becomes ``$``."""
    return re.sub(r"\\Z$", "$", pattern)


class ErrorResponses(BasePlugin):
    """An apispec plugin: error responses, public operations and patterns (module docstring)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.spec: APISpec | None = None

    def init_spec(self, spec: APISpec) -> None:
        """Register the shared error responses and the pattern rewrite."""
        super().init_spec(spec)
        self.spec = spec
        marshmallow = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        if marshmallow.converter is None:  # pragma: no cover - flask-smorest inits it first
            raise RuntimeError("ErrorResponses must come after the marshmallow plugin")
        marshmallow.converter.add_attribute_function(_in_openapi_terms)
        for status, description in ERROR_RESPONSES.items():
            response: dict[str, Any] = {
                "description": f"{HTTPStatus(status).phrase}: {description}",
                "content": {"application/json": {"schema": ErrorSchema}},
            }
            if status == 503:
                response["headers"] = {"Retry-After": _RETRY_AFTER}
            spec.components.response(error_response_name(status), response)

    def path_helper(
        self,
        path: str | None = None,
        operations: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """An integer in a path names a stored row: at most the largest id the store holds
        (a larger one is refused by ``request_scope``)."""
        for parameter in parameters or ():
            schema = parameter.get("schema", {})
            if parameter.get("in") == "path" and schema.get("type") == "integer":
                schema["maximum"] = MAX_STORED_ID

    def operation_helper(
        self,
        path: str | None = None,
        operations: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Complete each operation of ``path`` with its error responses and security."""
        rule: Rule | None = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            public = required_role_for(self.app, rule.endpoint, method.upper()) == PUBLIC
            if public:
                operation["security"] = []
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(method, operation, rule, public=public):
                responses[str(status)] = error_response_name(status)
            operation["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))


_RETRY_AFTER = {"description": "Seconds to wait.", "schema": {"type": "integer"}}


def _error_statuses(
    method: str, operation: dict[str, Any], rule: Rule, *, public: bool
) -> list[int]:
    statuses = set(ALWAYS)
    if not public:
        statuses.update(WITH_TOKEN)
    if rule.arguments:
        statuses.update((404, 422))
    if operation.get("parameters"):
        statuses.add(422)
    if method in BODY_METHODS:
        statuses.update(WITH_BODY)
    return sorted(statuses)


def _in_openapi_terms(
    self: Any, field: fields.Field, ret: dict[str, Any], **_kwargs: Any
) -> dict[str, Any]:
    """A converter attribute function, for what apispec leaves out or says otherwise: a
    pattern in ECMA's dialect, the bounds of an open range (``Range(min_inclusive=False)``),
    and the length of an object (``Length`` on a ``Dict``) as its number of properties."""
    extra: dict[str, Any] = {}
    pattern = ret.get("pattern")
    if isinstance(pattern, str):
        extra["pattern"] = ecma_pattern(pattern)
    for validator in field.validators:
        if isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                extra["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                extra["exclusiveMaximum"] = True
    if isinstance(field, fields.Dict):
        # an object has no length: apispec's minLength/maxLength would be ignored
        for length, count in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                extra[count] = ret.pop(length)
    return extra


docs = Blueprint("api_docs", __name__, url_prefix="/api/docs")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Assay API</title>
<link rel="icon" type="image/png" href="{icon}">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"""

_START = """"use strict";
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    domNode: container,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""


def _with_policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@docs.route("")
@public
def page() -> Response:
    """Swagger UI over the served OpenAPI document."""
    html = _PAGE.format(
        icon=url_for("api_docs.asset", filename="favicon-32x32.png"),
        css=url_for("api_docs.asset", filename="swagger-ui.css"),
        bundle=url_for("api_docs.asset", filename="swagger-ui-bundle.js"),
        start=url_for("api_docs.start"),
        spec=url_for("api-docs.openapi_json"),
    )
    return _with_policy(Response(html, mimetype="text/html"))


@docs.route("/start.js")
@public
def start() -> Response:
    """The few lines that start Swagger UI (a file, so the page needs no inline script)."""
    return _with_policy(Response(_START, mimetype="text/javascript"))


@docs.route("/<filename>")
@public
def asset(filename: str) -> Response:
    """Swagger UI's own files, from the installed package."""
    if filename not in SWAGGER_UI_FILES:
        abort(404)
    return _with_policy(send_from_directory(SWAGGER_UI_DIR, filename, max_age=86_400))


def init_app(app: Flask) -> None:
    """Serve Swagger UI at ``/api/docs``."""
    app.register_blueprint(docs)
