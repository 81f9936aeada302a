"""One unit of work per request: the request id, the session, and the commit at the end.

The session opens lazily; a request with an unsafe method gets a write session. A response
below 400 commits, anything else rolls back, and the session always closes. Streaming views
open their own session inside the generator.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, current_app, g, request
from sqlalchemy.orm import Session

from .context import ServiceContext
from .db import Database
from .errors import PayloadTooLarge, ValidationFailed
from .events import EventBus
from .evidence import EvidenceProviders
from .http_errors import error_response
from .roles import Actor
from .settings import Settings
from .storable import UNSTORABLE_TEXT, is_storable_text

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")
UPLOAD_MIMETYPES = frozenset({"multipart/form-data"})
FORM_MIMETYPE = "application/x-www-form-urlencoded"
MAX_STORED_ID = 2**31 - 1  # the ids in paths are INTEGER columns: 32 bits on PostgreSQL


def database() -> Database:
    """The app's store."""
    return current_app.extensions["assay_db"]


def settings() -> Settings:
    """The app's settings."""
    return current_app.extensions["assay_settings"]


def db_session() -> Session:
    """This request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().session(write=request.method not in SAFE_METHODS)
    return g.db_session


def current_actor() -> Actor:
    """The authenticated caller (set by the authorization hook)."""
    return g.actor


def service_context() -> ServiceContext:
    """What services are built with for this request."""
    return ServiceContext(
        actor=current_actor(),
        settings=settings(),
        events=current_app.extensions["assay_events"],
        evidence=current_app.extensions["assay_evidence"],
        request_id=g.get("request_id"),
        clock=current_app.extensions["assay_clock"],
    )


def background_context(actor: Actor) -> ServiceContext:
    """What services are built with for work this app does outside a request (as ``actor``)."""
    return ServiceContext(
        actor=actor,
        settings=settings(),
        events=current_app.extensions["assay_events"],
        evidence=current_app.extensions["assay_evidence"],
        clock=current_app.extensions["assay_clock"],
    )


def _begin_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _CLIENT_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    limit = settings().max_request_bytes
    if request.mimetype in UPLOAD_MIMETYPES:
        limit = settings().max_artifact_bytes + settings().max_reference_bytes + limit
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"The request body is {request.content_length} bytes; the limit is {limit}."
        )
    _refuse_values_the_store_cannot_hold()


def _refuse_values_the_store_cannot_hold() -> None:
    """Path parameters, query strings and the UI's forms, before any view or query sees them:
    a NUL, a lone surrogate or an id past 2^31 - 1 is a 422 naming it, never a database error.
    (JSON bodies are checked by their schemas, prediction batches row by row.)"""
    problems: dict[str, list[str]] = {}
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and not is_storable_text(value):
            problems[name] = [UNSTORABLE_TEXT]
        elif isinstance(value, int) and value > MAX_STORED_ID:
            problems[name] = [f"Too large: no stored id is above {MAX_STORED_ID}."]
    fields = list(request.args.items(multi=True))
    if request.mimetype == FORM_MIMETYPE and request.blueprint == "web":
        fields += list(request.form.items(multi=True))  # the UI's forms (the API takes JSON)
    for name, value in fields:
        if not (is_storable_text(name) and is_storable_text(value)):
            problems[name if is_storable_text(name) else "_query"] = [UNSTORABLE_TEXT]
    if problems:
        raise ValidationFailed("", details=problems)


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return response
    try:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    except Exception:
        session.rollback()
        log.exception("commit failed [request %s]", g.get("request_id"))
        failed = error_response(
            500, "internal_error", "Internal server error. Quote the request id when reporting it."
        )
        response = current_app.make_response(failed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
    finally:
        session.close()
    return response


def _close_request(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def init_app(
    app: Flask,
    db: Database,
    app_settings: Settings,
    clock: object,
    *,
    events: EventBus,
    evidence: EvidenceProviders,
) -> None:
    """Bind the store, settings, clock and the wired events and evidence to ``app``, and
    install the request hooks."""
    app.extensions["assay_db"] = db
    app.extensions["assay_settings"] = app_settings
    app.extensions["assay_clock"] = clock
    app.extensions["assay_events"] = events
    app.extensions["assay_evidence"] = evidence
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_close_request)
