"""From stored reports to alerts: raise, repeat, escalate and auto-resolve, in the same
transaction as the reports (a subscriber of ``monitor.run_succeeded``, see ``wiring.py``).
Each change is audited and published as an ``alert.*`` event, which the outbox turns into
notifications in that transaction too.

An alert is keyed by (monitor, check, subject), the subject being what a finding names: a
column, a sensitive feature, a metric, ``dataset``. A report with status ``insufficient_data``
neither raises nor counts towards resolving.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..events import DomainEvent
from ..monitoring.models import Monitor, MonitorRun, Report
from .models import OPEN_ALERT_STATUSES, Alert, AlertStatus

DEFAULT_COOLDOWN_MINUTES = 60.0
DEFAULT_RESOLVE_AFTER_OK_RUNS = 1
_SEVERITY = {"warning": "warning", "alert": "critical"}
_RANK = {"warning": 1, "critical": 2}


def on_run_succeeded(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """Raise, repeat and resolve alerts from the reports of a run that succeeded."""
    run = session.get(MonitorRun, event.payload["run_id"])
    if run is None:
        return
    reports = [session.get(Report, report_id) for report_id in event.payload["report_ids"]]
    raise_alerts(session, ctx, run, [report for report in reports if report is not None])


def raise_alerts(
    session: Session, ctx: ServiceContext, run: MonitorRun, reports: list[Report]
) -> None:
    """Apply a run's reports to the alerts of its monitor."""
    monitor = run.monitor
    now = ctx.clock()
    for report in reports:
        if report.status == "insufficient_data":
            continue
        open_alerts = {
            alert.subject: alert
            for alert in session.scalars(
                select(Alert).where(
                    Alert.monitor_id == monitor.id,
                    Alert.check == report.kind,
                    Alert.status.in_(OPEN_ALERT_STATUSES),
                )
            )
        }
        failing = {f["subject"]: f for f in report.findings if f.get("status") in _SEVERITY}
        for subject, finding in failing.items():
            alert = open_alerts.get(subject)
            if alert is None:
                _fire(session, ctx, monitor, report, finding, now)
            else:
                _repeat(session, ctx, monitor, alert, report, finding, now)
        for subject, alert in open_alerts.items():
            if subject not in failing:
                _count_ok(session, ctx, monitor, alert, report, now)


def _fire(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    report: Report,
    finding: dict[str, Any],
    now: datetime,
) -> None:
    alert = Alert(
        monitor_id=monitor.id,
        model_id=report.model_id,
        version_id=report.version_id,
        check=report.kind,
        subject=str(finding["subject"])[:200],
        status=AlertStatus.FIRING.value,
        severity=_SEVERITY[finding["status"]],
        summary=summarize(report.kind, finding),
        figures=_figures(report, finding),
        report_id=report.id,
        count=1,
        ok_streak=0,
        first_seen=now,
        last_seen=now,
        last_notified_at=now,
    )
    session.add(alert)
    session.flush()
    _audit(session, ctx, alert, "alert.fired", {"severity": alert.severity})
    _publish(session, ctx, "alert.fired", alert, report, finding, notify="alert.firing")


def _repeat(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    alert: Alert,
    report: Report,
    finding: dict[str, Any],
    now: datetime,
) -> None:
    severity = _SEVERITY[finding["status"]]
    alert.count += 1
    alert.last_seen = now
    alert.ok_streak = 0
    alert.report_id = report.id
    alert.version_id = report.version_id
    alert.summary = summarize(report.kind, finding)
    alert.figures = _figures(report, finding)
    silenced = alert.silenced_until is not None and alert.silenced_until > now
    if alert.status == AlertStatus.SILENCED.value and not silenced:
        alert.status = AlertStatus.FIRING.value
        alert.silenced_until = None
    if _RANK[severity] > _RANK[alert.severity]:
        alert.severity = severity
        _audit(session, ctx, alert, "alert.escalated", {"severity": severity})
        if not silenced:
            alert.last_notified_at = now
        notify = None if silenced else "alert.escalated"
        _publish(session, ctx, "alert.escalated", alert, report, finding, notify=notify)
        return
    cooldown = timedelta(minutes=monitor.options.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES))
    due = alert.last_notified_at is None or now - alert.last_notified_at >= cooldown
    remind = alert.status == AlertStatus.FIRING.value and due
    if remind:
        alert.last_notified_at = now
    notify = "alert.firing" if remind else None
    _publish(session, ctx, "alert.repeated", alert, report, finding, notify=notify)


def _count_ok(
    session: Session,
    ctx: ServiceContext,
    monitor: Monitor,
    alert: Alert,
    report: Report,
    now: datetime,
) -> None:
    alert.ok_streak += 1
    needed = int(monitor.options.get("resolve_after_ok_runs", DEFAULT_RESOLVE_AFTER_OK_RUNS))
    if alert.ok_streak < needed:
        return
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    alert.resolved_by = "auto"
    alert.resolve_comment = f"{alert.ok_streak} consecutive run(s) without this finding."
    alert.report_id = report.id
    _audit(session, ctx, alert, "alert.resolved", {"by": "auto", "ok_runs": alert.ok_streak})
    _publish(session, ctx, "alert.resolved", alert, report, None, notify="alert.resolved")


def summarize(check: str, finding: dict[str, Any]) -> str:
    """One sentence saying what failed."""
    value = finding.get("value")
    threshold = finding.get("threshold")
    figure = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
    limit = f"{threshold:.4g}" if isinstance(threshold, (int, float)) else str(threshold)
    subject = finding.get("subject")
    if check == "drift":
        return f"{finding.get('message', 'drift')} (share {figure}, level {limit})"
    if check == "performance" or check == "estimated_performance":
        return (
            f"{subject} is {figure} against a baseline of {finding.get('baseline')} "
            f"(drop {finding.get('drop')}, level {limit})"
        )
    metric = finding.get("metric", check)
    return f"{subject}: {metric} {figure} (level {limit})"


def _figures(report: Report, finding: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in finding.items() if k not in ("columns", "groups")}
    return {"finding": keep, "report_status": report.status}


def _publish(
    session: Session,
    ctx: ServiceContext,
    name: str,
    alert: Alert,
    report: Report,
    finding: dict[str, Any] | None,
    *,
    notify: str | None,
) -> None:
    """Publish an alert's change; ``notify`` names the notification it calls for, if any."""
    session.flush()
    payload = alert.event_payload(report_id=report.id, finding=finding, notify=notify)
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
