"""Pages of alerts (acknowledge, resolve) and of the delivery log (redeliver).

The forms here POST with the session cookie, and each carries the CSRF token of the page it
was rendered in (``protection.py`` refuses a POST without it); the cookie is also
``SameSite=Lax``, so a browser never sends it on a cross-site POST. No GET route here changes
anything: keep every state change behind POST.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..alerts.models import OPEN_ALERT_STATUSES, SEVERITIES, Alert, AlertStatus, DeliveryStatus
from ..alerts.schemas import CommentSchema
from ..alerts.service import AlertFilters, AlertService, DeliveryService
from ..errors import AssayError, ValidationFailed
from ..request_scope import current_actor, db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message, safe_next

ALERT_VIEWS = ("open", "all")
DELIVERY_VIEWS = ("all", *(status.value for status in DeliveryStatus))
REDELIVERABLE = frozenset({DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value})
PAGE_SIZE = 200


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    """A filter from the query string, checked against what the page offers."""
    value = request.args.get(name) or default
    if value not in allowed:
        raise ValidationFailed(
            f"Unknown {name} {value!r}; choose one of {', '.join(allowed)}.",
            details={name: [f"One of {', '.join(allowed)}."]},
        )
    return value


@bp.get("/alerts")
@requires(Role.VIEWER)
@browser_page
def alerts_page() -> str:
    """Alerts, open ones first, filtered by open/all and severity."""
    view = _choice("status", ALERT_VIEWS, "open")
    severity = _choice("severity", ("any", *SEVERITIES), "any")
    service = AlertService(db_session(), service_context())
    narrowed = None if severity == "any" else severity
    alerts = service.list(AlertFilters(status="open", severity=narrowed), limit=PAGE_SIZE)
    if view == "all":
        resolved = AlertFilters(status=AlertStatus.RESOLVED.value, severity=narrowed)
        alerts += service.list(resolved, limit=PAGE_SIZE)
    return render_template(
        "alerts.html",
        alerts=alerts,
        view=view,
        severity=severity,
        views=ALERT_VIEWS,
        severities=("any", *SEVERITIES),
        open_statuses=OPEN_ALERT_STATUSES,
        can_act=current_actor().role.allows(Role.CONTRIBUTOR),
        here=request.full_path,
    )


def _comment() -> str:
    """The form's comment, validated as the API validates it."""
    try:
        return CommentSchema().load({"comment": request.form.get("comment", "")})["comment"]
    except ValidationError as exc:
        # no message of its own: the page shows the field's, e.g. "comment: Longer than …"
        raise ValidationFailed("", details=exc.normalized_messages()) from exc


def _change(apply: Callable[[], object], done: str, back_to: str) -> Response:
    """Apply a change through a service, flash how it went, and go back to the list.

    A refused change is rolled back and its message flashed; the request scope then commits
    what is left (nothing of the refused change).
    """
    try:
        apply()
    except AssayError as exc:
        db_session().rollback()
        flash(error_message(exc), "error")
    else:
        flash(done, "ok")
    return redirect(safe_next(request.form.get("next"), back_to))


@bp.post("/alerts/<int:alert_id>/acknowledge")
@requires(Role.CONTRIBUTOR)
@browser_page
def acknowledge_alert(alert_id: int) -> Response:
    """Acknowledge an alert from the page (audited like the API's)."""

    def acknowledge() -> Alert:
        return AlertService(db_session(), service_context()).acknowledge(alert_id, _comment())

    return _change(acknowledge, f"Alert {alert_id} acknowledged.", "web.alerts_page")


@bp.post("/alerts/<int:alert_id>/resolve")
@requires(Role.CONTRIBUTOR)
@browser_page
def resolve_alert(alert_id: int) -> Response:
    """Resolve an alert from the page (audited like the API's)."""

    def resolve() -> Alert:
        return AlertService(db_session(), service_context()).resolve(alert_id, _comment())

    return _change(resolve, f"Alert {alert_id} resolved.", "web.alerts_page")


@bp.get("/deliveries")
@requires(Role.VIEWER)
@browser_page
def deliveries_page() -> str:
    """The delivery log with every attempt, failed deliveries highlighted."""
    view = _choice("status", DELIVERY_VIEWS, "all")
    deliveries = DeliveryService(db_session(), service_context()).list(
        status=None if view == "all" else view, limit=PAGE_SIZE
    )
    return render_template(
        "deliveries.html",
        deliveries=deliveries,
        view=view,
        views=DELIVERY_VIEWS,
        redeliverable=REDELIVERABLE,
        can_redeliver=current_actor().role.allows(Role.ADMIN),
        here=request.full_path,
    )


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@requires(Role.ADMIN)
@browser_page
def redeliver(delivery_id: int) -> Response:
    """Send a delivered or failed notification again (admin; audited like the API's)."""

    def queue_again() -> object:
        return DeliveryService(db_session(), service_context()).redeliver(delivery_id)

    return _change(queue_again, f"Delivery {delivery_id} queued again.", "web.deliveries_page")
