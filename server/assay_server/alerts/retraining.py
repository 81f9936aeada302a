"""Retraining suggestions: a monitor with ``options.suggest_retraining`` makes each incident its
reports raise carry a ``retraining.suggested`` domain event, which the channels subscribed to
it receive (:mod:`.subscriptions`) with the alert, the window and the drifted features.

A version registered in answer (``triggered_by={"alert": id}``) is checked here too: the
alert must exist and belong to the version's model (:func:`check_version_trigger`, a
subscriber of ``version.registering``, refuses the registration otherwise, before a file of
it is stored).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT
from ..errors import ValidationFailed
from ..events import DomainEvent
from ..monitoring.models import Monitor, Report
from ..registry.models import ModelVersion
from .models import Alert


def suggests_retraining(monitor: Monitor) -> bool:
    """True when the monitor's options ask its incidents to suggest retraining."""
    return bool((monitor.options or {}).get("suggest_retraining"))


def drifted_features(session: Session, report: Report) -> list[str]:
    """The features the drift report of the report's run found drifted (none without one)."""
    if report.kind == "drift":
        drift: Report | None = report
    else:
        drift = session.scalar(
            select(Report).where(Report.run_id == report.run_id, Report.kind == "drift").limit(1)
        )
    if drift is None:
        return []
    return [str(name) for name in (drift.summary or {}).get("drifted_columns", [])]


def suggest_retraining(
    session: Session, ctx: ServiceContext, monitor: Monitor, alert: Alert
) -> None:
    """Publish ``retraining.suggested`` for a newly raised incident of ``monitor``, if the
    monitor asks for it: the alert, its model and version, the window its report covered and
    the drifted features."""
    if not suggests_retraining(monitor):
        return
    report = session.get(Report, alert.report_id) if alert.report_id is not None else None
    version = session.get(ModelVersion, alert.version_id)
    window: dict[str, Any] = {"start": None, "end": None}
    if report is not None:
        window = {
            "start": _ts(report.window_start),
            "end": _ts(report.window_end),
        }
    ctx.events.publish(
        session,
        ctx,
        "retraining.suggested",
        {
            "model": version.model.name if version is not None else None,
            "model_id": alert.model_id,
            "version": version.version if version is not None else None,
            "alert_id": alert.id,
            "monitor": monitor.name,
            "check": alert.check,
            "severity": alert.severity,
            "subject": alert.subject,
            "report_id": alert.report_id,
            "window": window,
            "features": drifted_features(session, report) if report is not None else [],
        },
    )


def check_version_trigger(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """``version.registering``: a version ``triggered_by`` an alert names an alert of its own
    model; refused (422) otherwise, before any of its files is stored."""
    alert_id = event.payload.get("triggered_by_alert_id")
    if alert_id is None:
        return
    alert = session.get(Alert, alert_id)
    if alert is None or alert.model_id != event.payload.get("model_id"):
        message = f"triggered_by names no alert {alert_id} of model {event.payload.get('model')!r}."
        raise ValidationFailed(message, details={"triggered_by": {"alert": [message]}})


def _ts(value: Any) -> str | None:
    return value.strftime(TIMESTAMP_FORMAT) if value is not None else None


def alert_facts(session: Session, alert_id: int) -> dict[str, Any] | None:
    """What the chain of a retrained version says of the alert it answers (None when the
    alert is gone with its monitor): id, check, subject, severity, status, first seen, the
    version it fired on, the window of its report and the drifted features."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    version = session.get(ModelVersion, alert.version_id)
    report = session.get(Report, alert.report_id) if alert.report_id is not None else None
    return {
        "id": alert.id,
        "check": alert.check,
        "subject": alert.subject,
        "severity": alert.severity,
        "status": alert.status,
        "first_seen": _ts(alert.first_seen),
        "version": version.version if version is not None else None,
        "window": {
            "start": _ts(report.window_start) if report is not None else None,
            "end": _ts(report.window_end) if report is not None else None,
        },
        "features": drifted_features(session, report) if report is not None else [],
    }


def alert_ids_of_version(session: Session, version_id: int) -> list[int]:
    """The ids of the alerts raised on a version, oldest first."""
    return list(
        session.scalars(select(Alert.id).where(Alert.version_id == version_id).order_by(Alert.id))
    )
