"""The alerts inbox (one row per incident: filter, acknowledge, resolve, silence, singly or in
bulk, with each incident's delivery log) and the delivery log (redeliver).

The forms here POST with the session cookie, and each carries the CSRF token of the page it
was rendered in (``protection.py`` refuses a POST without it); the cookie is also
``SameSite=Lax``, so a browser never sends it on a cross-site POST. No GET route here changes
anything: keep every state change behind POST.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import flash, redirect, render_template, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..alerts.models import (
    BULK_ACTIONS,
    OPEN_ALERT_STATUSES,
    SEVERITIES,
    Alert,
    AlertStatus,
    Delivery,
    DeliveryStatus,
)
from ..alerts.schemas import CommentSchema
from ..alerts.service import AlertFilters, AlertService, BulkOutcome, DeliveryService
from ..alerts.silent_failures import MONITOR_FAILED, NO_DATA
from ..errors import AssayError, Conflict, NotFound, ValidationFailed
from ..monitoring.models import CHECKS
from ..registry.service import RegistryService
from ..request_scope import current_actor, db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message, safe_next

#: "open" is firing, acknowledged or silenced; "all" lists the open ones, then the resolved
ALERT_VIEWS = ("open", "all", *(status.value for status in AlertStatus))
ALERT_KINDS = (*CHECKS, NO_DATA, MONITOR_FAILED)
ANY = "any"
#: how long the page may silence an alert for: hours -> words
SILENCE_HOURS = {"1": "1 hour", "4": "4 hours", "24": "1 day", "168": "1 week"}
PAGE_ACTIONS = (*BULK_ACTIONS, "silence")
DELIVERY_VIEWS = ("all", *(status.value for status in DeliveryStatus))
REDELIVERABLE = frozenset({DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value})
PAGE_SIZE = 200


def _choice(name: str, allowed: Iterable[str], default: str, source: str = "args") -> str:
    """A filter (or a form's choice), checked against what the page offers."""
    values = request.args if source == "args" else request.form
    options = tuple(allowed)
    value = values.get(name) or default
    if value not in options:
        raise ValidationFailed(
            f"Unknown {name} {value!r}; choose one of {', '.join(options)}.",
            details={name: [f"One of {', '.join(options)}."]},
        )
    return value


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox shows: a view of statuses, and optionally one severity, model, kind."""

    status: str
    severity: str
    model: str
    kind: str

    def narrowed(self, status: str) -> AlertFilters:
        """The service's filters for one status (or "open")."""
        return AlertFilters(
            model=None if self.model == ANY else self.model,
            status=status,
            severity=None if self.severity == ANY else self.severity,
            check=None if self.kind == ANY else self.kind,
        )


def _inbox_filters(models: list[str]) -> InboxFilters:
    return InboxFilters(
        status=_choice("status", ALERT_VIEWS, "open"),
        severity=_choice("severity", (ANY, *SEVERITIES), ANY),
        model=_choice("model", (ANY, *models), ANY),
        kind=_choice("kind", (ANY, *ALERT_KINDS), ANY),
    )


@bp.get("/alerts")
@requires(Role.VIEWER)
@browser_page
def alerts_page() -> str:
    """The inbox: one row per incident, open ones first, with each one's delivery log."""
    session, ctx = db_session(), service_context()
    registry = RegistryService(session, ctx)
    listed = registry.list_models(include_archived=True, limit=500).items
    models = [model.name for model in listed]
    filters = _inbox_filters(models)
    service = AlertService(session, ctx)
    statuses = (
        ("open", AlertStatus.RESOLVED.value) if filters.status == "all" else (filters.status,)
    )
    alerts: list[Alert] = []
    for status in statuses:
        alerts += service.list(filters.narrowed(status), limit=PAGE_SIZE)
    return render_template(
        "alerts.html",
        alerts=alerts,
        deliveries=_deliveries_by_alert(alerts),
        filters=filters,
        views=ALERT_VIEWS,
        severities=(ANY, *SEVERITIES),
        models=(ANY, *models),
        kinds=(ANY, *ALERT_KINDS),
        silence_hours=SILENCE_HOURS,
        actions=PAGE_ACTIONS,
        open_statuses=OPEN_ALERT_STATUSES,
        can_act=current_actor().role.allows(Role.CONTRIBUTOR),
        here=request.full_path,
    )


def _deliveries_by_alert(alerts: list[Alert]) -> dict[int, list[Delivery]]:
    """Every listed alert's deliveries, newest first (one query for the page)."""
    if not alerts:
        return {}
    service = DeliveryService(db_session(), service_context())
    found = service.list(alert_ids=[alert.id for alert in alerts], limit=20 * len(alerts))
    grouped: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in found:
        if delivery.alert_id is not None:
            grouped[delivery.alert_id].append(delivery)
    return grouped


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


def _silence_until() -> datetime:
    """The end of the silence the form chose (hours from now)."""
    hours = _choice("hours", SILENCE_HOURS, "1", source="form")
    return service_context().clock() + timedelta(hours=int(hours))


@bp.post("/alerts/<int:alert_id>/silence")
@requires(Role.CONTRIBUTOR)
@browser_page
def silence_alert(alert_id: int) -> Response:
    """Silence an alert for the chosen hours (audited like the API's)."""

    def silence() -> Alert:
        service = AlertService(db_session(), service_context())
        return service.silence(alert_id, _silence_until(), _comment())

    return _change(silence, f"Alert {alert_id} silenced.", "web.alerts_page")


@bp.post("/alerts/bulk")
@requires(Role.CONTRIBUTOR)
@browser_page
def bulk_alerts() -> Response:
    """Acknowledge, resolve or silence the ticked alerts, each as its own audited change; what
    could not change is flashed with its reason, the others still change."""
    back = safe_next(request.form.get("next"), "web.alerts_page")
    try:
        action = _choice("action", PAGE_ACTIONS, "", source="form")
        ids = [int(value) for value in request.form.getlist("ids")]
    except (AssayError, ValueError) as exc:
        flash(error_message(exc) if isinstance(exc, AssayError) else "Unknown alert id.", "error")
        return redirect(back)
    if not ids:
        flash("Tick at least one alert.", "error")
        return redirect(back)
    try:
        outcomes = _apply_in_bulk(action, ids, _comment())
    except AssayError as exc:  # a bad comment or duration: nothing changed
        db_session().rollback()
        flash(error_message(exc), "error")
        return redirect(back)
    done = [outcome.id for outcome in outcomes if outcome.ok]
    if done:
        past = {"acknowledge": "acknowledged", "resolve": "resolved", "silence": "silenced"}
        flash(f"{past[action].capitalize()}: {', '.join(f'#{i}' for i in done)}.", "ok")
    for outcome in outcomes:
        if outcome.error:
            flash(f"Alert {outcome.id}: {outcome.error['message']}", "error")
    return redirect(back)


def _apply_in_bulk(action: str, ids: list[int], comment: str) -> list[BulkOutcome]:
    """The bulk service for acknowledge and resolve; silence (not a bulk action of the API)
    alert by alert, reported the same way."""
    service = AlertService(db_session(), service_context())
    if action in BULK_ACTIONS:
        return service.bulk(ids, action, comment)
    until = _silence_until()
    outcomes = []
    for alert_id in dict.fromkeys(ids):
        try:
            outcomes.append(BulkOutcome(alert_id, alert=service.silence(alert_id, until, comment)))
        except (NotFound, Conflict) as exc:  # refused before anything changed
            outcomes.append(BulkOutcome(alert_id, error={"code": exc.code, "message": exc.message}))
    return outcomes


@bp.get("/deliveries")
@requires(Role.VIEWER)
@browser_page
def deliveries_page() -> str:
    """The delivery log with every attempt, failed deliveries highlighted."""
    view = _choice("status", DELIVERY_VIEWS, "all")
    alert_id = request.args.get("alert", type=int)
    deliveries = DeliveryService(db_session(), service_context()).list(
        status=None if view == "all" else view, alert_id=alert_id, limit=PAGE_SIZE
    )
    return render_template(
        "deliveries.html",
        deliveries=deliveries,
        view=view,
        views=DELIVERY_VIEWS,
        alert_id=alert_id,
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
