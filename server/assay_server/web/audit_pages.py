"""The audit log: filtered, paged newest first, with the chain's status and its export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import current_app, render_template, request
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..audit import queries
from ..audit.service import AuditFilters, AuditTrail, export_trail
from ..errors import AssayError, ValidationFailed
from ..request_scope import database, db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message

PAGE_SIZE = 50
MAX_FILTER_LENGTH = 200


@dataclass(frozen=True)
class ChainStatus:
    """What the page says about the chain: intact or not, and the figures behind it."""

    ok: bool
    events: int
    first_broken_seq: int | None
    message: str
    checkpoint: queries.LastCheckpoint | None


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_FILTER_LENGTH:
        raise ValidationFailed(
            f"The {name} filter is longer than {MAX_FILTER_LENGTH} characters.",
            details={name: [f"At most {MAX_FILTER_LENGTH} characters."]},
        )
    return value or None


def _day(name: str, *, end_of_day: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` filter as a UTC time: the day's start, or for ``until`` the next
    day's start, so the day named is included."""
    value = _text(name)
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationFailed(
            f"The {name} date {value!r} is not a date as YYYY-MM-DD.",
            details={name: ["A date as YYYY-MM-DD."]},
        ) from None
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start + timedelta(days=1) if end_of_day else start


def _seq(name: str) -> int | None:
    value = _text(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValidationFailed(
            f"The {name} cursor {value!r} is not an event number.",
            details={name: ["A positive whole number."]},
        )
    return int(value)


def _filters() -> AuditFilters:
    since, until = _day("since"), _day("until", end_of_day=True)
    if since and until and since >= until:
        raise ValidationFailed(
            "The time range ends before it starts.", details={"until": ["On or after since."]}
        )
    return AuditFilters(
        target_type=_text("target_type"),
        target_id=_text("target_id"),
        actor=_text("actor"),
        action=_text("action"),
        since=since,
        until=until,
    )


def _chain_status(trail: AuditTrail) -> ChainStatus:
    """Recompute the chain (every hash, every checkpoint's signature) for the page's banner."""
    checkpoint = queries.last_checkpoint(trail.session)
    try:
        verified = trail.verify()
    except AssayError as exc:  # the signing key cannot be read: the chain cannot be checked
        return ChainStatus(False, 0, None, error_message(exc), checkpoint)
    return ChainStatus(
        ok=verified.ok,
        events=verified.checked,
        first_broken_seq=verified.first_broken_seq,
        message=verified.message,
        checkpoint=checkpoint,
    )


@bp.get("/audit")
@requires(Role.VIEWER)
@browser_page
def audit_page() -> str:
    """The trail, newest first, filtered by actor, action, target and days; the chain's
    status on top."""
    filters = _filters()
    before = _seq("before")
    session = db_session()
    trail = AuditTrail(session, service_context())
    page = queries.recent_events(session, filters, before_seq=before, limit=PAGE_SIZE)
    args = {key: value for key, value in request.args.items() if key != "before" and value}
    return render_template(
        "audit.html",
        chain=_chain_status(trail),
        events=page.items,
        total=page.total,
        older_than=page.older_than,
        paged=before is not None,
        filters=args,
        actions=queries.known_actions(session),
        target_types=queries.known_target_types(session),
    )


@bp.get("/audit/export")
@requires(Role.VIEWER)
@browser_page
def audit_export() -> Response:
    """The trail as the API exports it (JSON Lines ending with a signed head), as a download."""
    lines = export_trail(database(), service_context())
    response = current_app.response_class(lines, mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = 'attachment; filename="assay-audit.jsonl"'
    return response
