"""One unit of work per request: the request id, the session, and the commit at the end.

The session opens lazily; a request with an unsafe method gets a write session. A response
below 400 commits, anything else rolls back, and the session always closes. Streaming views
open their own session inside the generator.

A POST or PATCH with an ``Idempotency-Key`` reserves the key (in a unit of work of its own,
so other workers see it) before its view runs, or is answered from the stored response of the
request that reserved it. Its response is stored on the key in its own commit; a request that
does not commit gives the key back (``idempotency.py`` holds the rules).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, current_app, g, request
from sqlalchemy.orm import Session

from .context import ServiceContext
from .db import Database, is_unavailable
from .errors import BadRequest, PayloadTooLarge, ValidationFailed
from .events import EventBus
from .evidence import EvidenceProviders
from .http_errors import database_unavailable, error_response
from .idempotency import (
    HEADER,
    IdempotencyKeys,
    KeyedRequest,
    KeyInProgress,
    Reservation,
    StoredResponse,
    caller_of,
)
from .roles import Actor
from .settings import Settings
from .storable import MAX_STORED_ID, UNSTORABLE_TEXT, is_storable_text
from .storage import Storage, open_storage

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")
UPLOAD_MIMETYPES = frozenset({"multipart/form-data"})
FORM_MIMETYPE = "application/x-www-form-urlencoded"
KEYED_METHODS = frozenset({"POST", "PATCH"})
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}\Z")
#: Idempotent by prediction id already, and the hot path: ingest never pays for a key.
UNKEYED_ENDPOINTS = frozenset({"ingest.Predictions", "ingest.Labels"})
#: Their responses hold a secret shown once (a new token, a channel's generated signing
#: secret), which is never stored: a retry learns the request succeeded, not the secret.
SECRET_API_ENDPOINTS = frozenset({"auth.Tokens", "alerts.Channels", "alerts.ChannelItem"})
#: The admin pages' forms that show such a secret once, for a caller scripting them.
SECRET_PAGE_ENDPOINTS = frozenset(
    {"web.create_token", "web.create_channel", "web.rotate_channel_secret"}
)
SECRET_RESPONSE_ENDPOINTS = SECRET_API_ENDPOINTS | SECRET_PAGE_ENDPOINTS
#: What a replay repeats of the stored response's headers (never cookies or the request id).
REPLAYED_HEADERS = frozenset({"content-type", "location", "etag", "content-disposition"})
_HASH_CHUNK_BYTES = 1 << 20
#: Deeper JSON is refused before any view parses it: Python's parser recurses, and at about a
#: thousand levels raises RecursionError. No document of ours needs more than a few levels.
MAX_JSON_DEPTH = 64
_JSON_ESCAPE = re.compile(rb"\\.")
_NOT_A_BRACKET = bytes(set(range(256)) - set(b"[]{}"))
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
#: Decodes its body itself: a batch of predictions, perhaps gzip (``ingest/wire.py``).
DECODES_ITS_OWN_BODY = frozenset({"ingest.Predictions"})


def database() -> Database:
    """The app's store."""
    return current_app.extensions["assay_db"]


def settings() -> Settings:
    """The app's settings."""
    return current_app.extensions["assay_settings"]


def storage() -> Storage:
    """The blob storage the app's settings name (opened once per process and kept)."""
    return open_storage(settings())


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
        storage=storage(),
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
        storage=storage(),
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


def json_nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON document ``raw`` nests arrays and objects deeper than ``limit``.

    Without parsing and without a Python loop over its bytes: drop the strings (0.2 s for
    9 MB of short strings), keep the brackets, and take the innermost pairs away one level
    at a time. A document that is not JSON answers False, for its parser to say why.
    """
    outside_strings = _JSON_ESCAPE.sub(b"", raw).split(b'"')[0::2]
    brackets = b"".join(outside_strings).translate(None, _NOT_A_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        inner = _INNERMOST_PAIR.sub(b"", brackets)
        if len(inner) == len(brackets):
            return False  # unbalanced: not JSON
        brackets = inner
    return bool(brackets) and _INNERMOST_PAIR.search(brackets) is not None


def _refuse_deep_json() -> None:
    """A JSON body nested deeper than :data:`MAX_JSON_DEPTH` is a 400, before a view parses
    it. A batch of predictions is decoded by ingest itself (orjson, which stops at 1,024
    levels, possibly from gzip), and each of its values checked. Runs after the
    authorization hook."""
    if not request.is_json or request.endpoint in DECODES_ITS_OWN_BODY:
        return
    if json_nesting_exceeds(request.get_data(cache=True), MAX_JSON_DEPTH):
        raise BadRequest(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")


def _claim_idempotency_key() -> Response | None:
    """Reserve this request's ``Idempotency-Key``, or answer it as the request that reserved
    the key was answered. Runs after the authorization hook: a key is its caller's."""
    key = request.headers.get(HEADER)
    if (
        key is None
        or request.method not in KEYED_METHODS
        or request.endpoint in UNKEYED_ENDPOINTS
        or "actor" not in g
    ):
        return None
    if not _VALID_KEY.match(key):
        raise ValidationFailed(
            f"The {HEADER} header must be 1 to 255 printable ASCII characters.",
            details={HEADER: ["Must be 1 to 255 printable ASCII characters."]},
        )
    keyed = KeyedRequest(
        caller=caller_of(current_actor()),
        key=key,
        method=request.method,
        path=request.path,
        request_hash=_request_hash(),
    )
    try:
        with database().unit_of_work() as session:
            outcome = IdempotencyKeys(session, clock=_clock()).reserve(keyed)
    except KeyInProgress as exc:
        busy = current_app.make_response(
            error_response(exc.status, exc.code, exc.message, exc.details)
        )
        busy.headers["Retry-After"] = "1"
        return busy
    if isinstance(outcome, StoredResponse):
        replay = current_app.response_class(
            outcome.body, status=outcome.status, headers=outcome.headers
        )
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    g.idempotency_reservation = outcome
    return None


def _request_hash() -> str:
    """SHA-256 of the query string, the media type and the body as the view reads it.

    A form or an upload is hashed field by field, each file streamed from where werkzeug
    spooled it (to disk past 500 KB) and rewound for the view: a client's retry draws a new
    multipart boundary, so its raw bytes differ. Any other body is read once and cached for
    the view.
    """
    digest = hashlib.sha256()

    def add(data: bytes) -> None:
        digest.update(b"%d:" % len(data))
        digest.update(data)

    def add_text(text: str) -> None:
        add(text.encode("utf-8", "surrogatepass"))

    add(request.query_string)
    add_text(request.mimetype)
    if request.mimetype not in UPLOAD_MIMETYPES and request.mimetype != FORM_MIMETYPE:
        add(request.get_data())
        return digest.hexdigest()
    for name, value in sorted(request.form.items(multi=True), key=lambda field: field[0]):
        add_text(name)
        add_text(value)
    for name, upload in sorted(request.files.items(multi=True), key=lambda part: part[0]):
        add_text(name)
        add_text(upload.filename or "")
        upload.stream.seek(0)
        while chunk := upload.stream.read(_HASH_CHUNK_BYTES):
            add(chunk)
        add(b"")
        upload.stream.seek(0)
    return digest.hexdigest()


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    reservation: Reservation | None = g.pop("idempotency_reservation", None)
    session: Session | None = g.pop("db_session", None)
    if session is None and reservation is not None and response.status_code < 400:
        session = database().session(write=True)  # the kept response is all there is to write
    if session is not None:
        response = _end_unit_of_work(session, response, reservation)
    if reservation is not None and response.status_code >= 400:
        _release_idempotency_key(reservation)
    return response


def _end_unit_of_work(
    session: Session, response: Response, reservation: Reservation | None
) -> Response:
    """Commit below 400, roll back otherwise; a commit that fails becomes a 500, or a 503 when
    the store could not serve it (a dropped connection, SQLite's lock). The response is kept on
    the request's idempotency key in the same commit: both are stored, or neither."""
    try:
        if response.status_code < 400:
            if reservation is not None:
                _keep_response(session, reservation, response)
            session.commit()
        else:
            session.rollback()
    except Exception as exc:
        session.rollback()
        if is_unavailable(exc):
            response = database_unavailable(exc)
        else:
            log.exception("commit failed [request %s]", g.get("request_id"))
            failed = error_response(
                500,
                "internal_error",
                "Internal server error. Quote the request id when reporting it.",
            )
            response = current_app.make_response(failed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
    finally:
        session.close()
    return response


def _keep_response(session: Session, reservation: Reservation, response: Response) -> None:
    """Store what the client gets on the reserved key (only the status, when the body is
    streamed or shows a secret once)."""
    kept = not (
        request.endpoint in SECRET_RESPONSE_ENDPOINTS
        or response.is_streamed
        or response.direct_passthrough
    )
    stored = IdempotencyKeys(session, clock=_clock()).complete(
        reservation,
        status=response.status_code,
        headers={
            name: value
            for name, value in response.headers.items()
            if name.lower() in REPLAYED_HEADERS
        },
        body=response.get_data() if kept else None,
    )
    if not stored:
        log.warning(
            "%s taken over before its request finished [request %s]", HEADER, g.get("request_id")
        )


def _release_idempotency_key(reservation: Reservation) -> None:
    """Give the key back, so a corrected retry runs. Never raises: a key left reserved is free
    again after ``ABANDONED_AFTER``."""
    try:
        with database().unit_of_work() as session:
            IdempotencyKeys(session, clock=_clock()).release(reservation)
    except Exception:
        log.exception("could not release the %s [request %s]", HEADER, g.get("request_id"))


def _close_request(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
    reservation: Reservation | None = g.pop("idempotency_reservation", None)
    if reservation is not None:  # the response hook never ran: nothing was committed
        _release_idempotency_key(reservation)


def _clock() -> Callable[[], datetime]:
    return current_app.extensions["assay_clock"]


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


def init_idempotency_keys(app: Flask) -> None:
    """Refuse JSON nested too deeply and honour ``Idempotency-Key`` on POST and PATCH;
    install after the authorization hook (a caller without a token learns nothing of the
    body it sent)."""
    app.before_request(_refuse_deep_json)
    app.before_request(_claim_idempotency_key)
