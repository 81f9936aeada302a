"""From stored reports to alert incidents: raise, update, escalate and auto-resolve, in the
same transaction as the reports (a subscriber of ``monitor.run_succeeded``, see ``wiring.py``).
Each change is audited and published as an ``alert.*`` event, which the outbox turns into
notifications in that transaction too.

An alert is an **incident**: one open alert per (monitor, check), carrying every failing
finding of the check's latest report (``figures["findings"]``, worst first: a column, a
sensitive feature, a metric, ``dataset``). Its ``subject`` and ``severity`` are the worst
finding's. A later report that still fails updates it — a new finding joins it, a worse one
escalates it — and a report without failing findings counts towards resolving it
(``resolve_after_ok_runs``). A report with status ``insufficient_data`` neither raises nor
counts towards resolving (silent monitors are :mod:`.silent_failures`' business).

Databases from before incidents may hold several open alerts of one (monitor, check): the next
run that judges that check keeps the oldest as the incident and resolves the others as merged
into it (audited, ``by: auto``, no notification).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..events import DomainEvent
from ..monitoring.models import Monitor, MonitorRun, Report
from .findings import (
    NESTED,
    RANK,
    SEVERITY,
    listing,
    subjects,
    summarize,  # noqa: F401  (re-exported: it was defined here)
    summarize_all,
    worst_first,
)
from .models import OPEN_ALERT_STATUSES, Alert, AlertStatus, Delivery
from .retraining import suggest_retraining

DEFAULT_COOLDOWN_MINUTES = 60.0
DEFAULT_RESOLVE_AFTER_OK_RUNS = 1


@dataclass(frozen=True)
class Occurrence:
    """What one run says about a failing (monitor, check): its failing findings, worst first
    (each with a ``status`` of ``warning`` or ``alert``), and what to say about them."""

    check: str
    version_id: int
    report_id: int | None
    findings: list[dict[str, Any]]
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def worst(self) -> dict[str, Any]:
        """The worst finding."""
        return self.findings[0]

    @property
    def severity(self) -> str:
        """The incident's severity: the worst finding's."""
        return SEVERITY[self.worst["status"]]


def on_run_succeeded(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """Raise, update and resolve incidents from the reports of a run that succeeded."""
    run = session.get(MonitorRun, event.payload["run_id"])
    if run is None:
        return
    reports = [session.get(Report, report_id) for report_id in event.payload["report_ids"]]
    raise_alerts(session, ctx, run, [report for report in reports if report is not None])


def on_monitor_deleted(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """A deleted monitor takes the alerts it raised with it (they refer to its reports); their
    deliveries stay in the delivery log, no longer linked to an alert."""
    monitor_id = event.payload["monitor_id"]
    alerts = select(Alert.id).where(Alert.monitor_id == monitor_id)
    ids = list(session.scalars(alerts))
    if not ids:
        return
    session.execute(update(Delivery).where(Delivery.alert_id.in_(ids)).values(alert_id=None))
    session.execute(delete(Alert).where(Alert.id.in_(ids)))
    AuditTrail(session, ctx).append(
        "alerts.deleted",
        "monitor",
        event.payload["audit_id"],
        {"monitor_id": monitor_id, "alerts": len(ids)},
    )


def raise_alerts(
    session: Session, ctx: ServiceContext, run: MonitorRun, reports: list[Report]
) -> None:
    """Apply a run's reports to the incidents of its monitor."""
    monitor = run.monitor
    now = ctx.clock()
    for report in reports:
        if report.status == "insufficient_data":
            continue
        failing = worst_first([f for f in report.findings if f.get("status") in SEVERITY])
        incident = open_incident(session, ctx, monitor, report.kind, now)
        if failing:
            occurrence = Occurrence(
                check=report.kind,
                version_id=report.version_id,
                report_id=report.id,
                findings=failing,
                summary=summarize_all(report.kind, failing),
                figures={"report_status": report.status},
            )
            record_failing(session, ctx, monitor, incident, occurrence, now)
        elif incident is not None:
            record_ok(
                session,
                ctx,
                monitor,
                incident,
                report.id,
                now,
                why="consecutive run(s) without a failing finding",
            )


def open_incident(
    session: Session, ctx: ServiceContext, monitor: Monitor, check: str, now: datetime
) -> Alert | None:
    """The open incident of (monitor, check), if any. Several open alerts (raised before
    incidents existed, or by two runs at once) are merged: the oldest stays, the others are
    resolved as merged into it, audited, without notifying."""
    alerts = list(
        session.scalars(
            select(Alert)
            .where(
                Alert.monitor_id == monitor.id,
                Alert.check == check,
                Alert.status.in_(OPEN_ALERT_STATUSES),
            )
            .order_by(Alert.id)
        )
    )
    if not alerts:
        return None
    incident, *merged = alerts
    for alert in merged:
        alert.status = AlertStatus.RESOLVED.value
        alert.resolved_at = now
        alert.resolved_by = "auto"
        alert.resolve_comment = f"Merged into alert {incident.id}: one incident per check."
        _audit(session, ctx, alert, "alert.resolved", {"by": "auto", "merged_into": incident.id})
        _publish(session, ctx, "alert.resolved", alert, alert.report_id, None, notify=None)
    if merged:
        session.flush()  # the merged ones leave the open key before the incident changes
    return incident


def record_failing(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    incident: Alert | None,
    occurrence: Occurrence,
    now: datetime,
) -> Alert:
    """Open an incident for ``occurrence``, or update the open one."""
    if incident is None:
        return _fire(session, ctx, monitor, occurrence, now)
    _update(session, ctx, monitor, incident, occurrence, now)
    return incident


def _fire(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    occurrence: Occurrence,
    now: datetime,
) -> Alert:
    alert = Alert(
        monitor_id=monitor.id,
        model_id=monitor.model_id,
        version_id=occurrence.version_id,
        check=occurrence.check,
        subject=str(occurrence.worst["subject"])[:200],
        status=AlertStatus.FIRING.value,
        severity=occurrence.severity,
        summary=occurrence.summary,
        figures=_figures(occurrence),
        report_id=occurrence.report_id,
        count=1,
        ok_streak=0,
        first_seen=now,
        last_seen=now,
        last_notified_at=now,
    )
    session.add(alert)
    session.flush()
    _audit(
        session,
        ctx,
        alert,
        "alert.fired",
        {"severity": alert.severity, "findings": subjects(occurrence.findings)},
    )
    _publish(
        session,
        ctx,
        "alert.fired",
        alert,
        occurrence.report_id,
        occurrence.worst,
        notify="alert.firing",
    )
    suggest_retraining(session, ctx, monitor, alert)
    return alert


def _update(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    alert: Alert,
    occurrence: Occurrence,
    now: datetime,
) -> None:
    severity = occurrence.severity
    known = set(subjects(alert.findings))
    joined = [s for s in subjects(occurrence.findings) if s not in known]
    alert.count += 1
    alert.last_seen = now
    alert.ok_streak = 0
    alert.report_id = occurrence.report_id
    alert.version_id = occurrence.version_id
    alert.subject = str(occurrence.worst["subject"])[:200]
    alert.summary = occurrence.summary
    alert.figures = _figures(occurrence)
    silenced = alert.silenced_until is not None and alert.silenced_until > now
    if alert.status == AlertStatus.SILENCED.value and not silenced:
        alert.status = AlertStatus.FIRING.value
        alert.silenced_until = None
    extra = {"joined": joined}
    if RANK[severity] > RANK[alert.severity]:
        alert.severity = severity
        _audit(session, ctx, alert, "alert.escalated", {"severity": severity, **extra})
        if not silenced:
            alert.last_notified_at = now
        notify = None if silenced else "alert.escalated"
        _publish(
            session,
            ctx,
            "alert.escalated",
            alert,
            occurrence.report_id,
            occurrence.worst,
            notify=notify,
            **extra,
        )
        return
    cooldown = timedelta(minutes=monitor.options.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES))
    due = alert.last_notified_at is None or now - alert.last_notified_at >= cooldown
    remind = alert.status == AlertStatus.FIRING.value and due
    if remind:
        alert.last_notified_at = now
    notify = "alert.firing" if remind else None
    _publish(
        session,
        ctx,
        "alert.repeated",
        alert,
        occurrence.report_id,
        occurrence.worst,
        notify=notify,
        **extra,
    )


def record_ok(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    alert: Alert,
    report_id: int | None,
    now: datetime,
    *,
    why: str,
) -> None:
    """A run without the incident's failure: resolve it after ``resolve_after_ok_runs`` of
    them in a row (``why`` says what such a run is, for the comment)."""
    alert.ok_streak += 1
    needed = int(monitor.options.get("resolve_after_ok_runs", DEFAULT_RESOLVE_AFTER_OK_RUNS))
    if alert.ok_streak < needed:
        return
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    alert.resolved_by = "auto"
    alert.resolve_comment = f"{alert.ok_streak} {why}."
    if report_id is not None:
        alert.report_id = report_id
    _audit(session, ctx, alert, "alert.resolved", {"by": "auto", "ok_runs": alert.ok_streak})
    _publish(session, ctx, "alert.resolved", alert, alert.report_id, None, notify="alert.resolved")


def _figures(occurrence: Occurrence) -> dict[str, Any]:
    worst = {k: v for k, v in occurrence.worst.items() if k not in NESTED}
    return {
        "finding": worst,
        "findings": [listing(f) for f in occurrence.findings],
        **occurrence.figures,
    }


def _publish(
    session: Session,
    ctx: ServiceContext,
    name: str,
    alert: Alert,
    report_id: int | None,
    finding: dict[str, Any] | None,
    *,
    notify: str | None,
    **extra: Any,
) -> None:
    """Publish an alert's change; ``notify`` names the notification it calls for, if any."""
    session.flush()
    payload = alert.event_payload(report_id=report_id, finding=finding, notify=notify, **extra)
    ctx.events.publish(session, ctx, name, payload)


def _audit(
    session: Session, ctx: ServiceContext, alert: Alert, action: str, extra: dict[str, Any]
) -> None:
    AuditTrail(session, ctx).append(
        action,
        "alert",
        alert.audit_id,
        {
            "alert_id": alert.id,
            "monitor_id": alert.monitor_id,
            "check": alert.check,
            "subject": alert.subject,
            "status": alert.status,
            **extra,
        },
    )
