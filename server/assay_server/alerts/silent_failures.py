"""Silent failures raise alerts: a monitor that sees no data, a monitor whose run fails.

Subscribers of ``monitor.run_succeeded`` and ``monitor.run_failed`` (``wiring.py``); the
alerts they raise are incidents like any other (:mod:`.raising`): audited, published as
``alert.*`` events, notified to the monitor's channels through the outbox.

- ``no_data``: the monitor's last ``options.no_data_after_runs`` (default 3) runs each
  succeeded without data — an empty window, or every report ``insufficient_data`` (the
  "no data" state of Grafana and Datadog, Prometheus' ``absent()``). Failed runs are left out
  of the count; a skipped run (no version in the monitor's stage: nothing to watch) raises
  nothing and starts the count again.
- ``monitor_failed``: a run failed and no retry of it follows. The scheduler retries a
  scheduled run once when it is found stuck past its deadline, so that first attempt raises
  nothing and the retry's failure does; a run that raised (its error is stored) and a manual
  run are not retried, so their failure raises at once.

A ``no_data`` incident resolves after a run with data, a ``monitor_failed`` one after a run
that succeeded (both after ``resolve_after_ok_runs`` of them, default 1).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..events import DomainEvent
from ..monitoring.models import Monitor, MonitorRun, Report, RunStatus
from ..monitoring.run_inputs import version_watched
from .raising import Occurrence, open_incident, record_failing, record_ok

NO_DATA = "no_data"
MONITOR_FAILED = "monitor_failed"
DEFAULT_NO_DATA_AFTER_RUNS = 3
INSUFFICIENT = "insufficient_data"


def on_run_succeeded(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """A run succeeded: it counts towards resolving ``monitor_failed``; with data it counts
    towards resolving ``no_data``, without it may raise ``no_data``."""
    run = session.get(MonitorRun, event.payload["run_id"])
    if run is None:
        return
    monitor = run.monitor
    now = ctx.clock()
    report_ids = list(event.payload.get("report_ids") or [])
    report_id = report_ids[0] if report_ids else None
    failed = open_incident(session, ctx, monitor, MONITOR_FAILED, now)
    if failed is not None:
        record_ok(session, ctx, monitor, failed, None, now, why="run(s) succeeded since")
    incident = open_incident(session, ctx, monitor, NO_DATA, now)
    if has_data(run):
        if incident is not None:
            record_ok(session, ctx, monitor, incident, report_id, now, why="run(s) with data")
        return
    needed = no_data_after_runs(monitor)
    streak = _runs_without_data(session, monitor, needed)
    if streak < needed or run.version_id is None:
        return
    reason = _reason(session, report_ids)
    finding: dict[str, Any] = {
        "subject": "predictions",
        "status": "alert",
        "metric": "runs_without_data",
        "value": streak,
        "threshold": needed,
        "rows": run.rows_total or 0,
        "reason": reason,
    }
    rows = run.rows_total or 0
    summary = (
        f"No usable data in the last {streak} runs of monitor {monitor.name!r}: "
        f"{rows} rows in the latest window"
        + (f" ({reason})" if reason else "")
        + "; is the prediction feed alive?"
    )
    occurrence = Occurrence(
        check=NO_DATA,
        version_id=run.version_id,
        report_id=report_id,
        findings=[finding],
        summary=summary,
        figures={"run_id": run.id, "statuses": dict(run.statuses or {})},
    )
    record_failing(session, ctx, monitor, incident, occurrence, now)


def on_run_failed(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """A run failed: raise (or update) ``monitor_failed`` unless a retry of it follows."""
    run = session.get(MonitorRun, event.payload["run_id"])
    if run is None or retry_follows(run):
        return
    monitor = run.monitor
    version_id = run.version_id
    if version_id is None:
        version = version_watched(session, monitor)
        if version is None:  # nothing to watch: such a run is skipped, not failed
            return
        version_id = version.id
    now = ctx.clock()
    error = run.error or "no error was recorded"
    finding = {
        "subject": "run",
        "status": "alert",
        "metric": "failed_run",
        "value": run.id,
        "threshold": None,
        "attempt": run.attempt,
        "trigger": run.trigger,
        "error": error,
    }
    what = "its retry" if run.attempt > 1 else f"a {run.trigger} run"
    occurrence = Occurrence(
        check=MONITOR_FAILED,
        version_id=version_id,
        report_id=None,
        findings=[finding],
        summary=f"Monitor {monitor.name!r} failed ({what}, run {run.id}): {error}",
        figures={"run_id": run.id},
    )
    incident = open_incident(session, ctx, monitor, MONITOR_FAILED, now)
    record_failing(session, ctx, monitor, incident, occurrence, now)


def retry_follows(run: MonitorRun) -> bool:
    """True for the first attempt of a scheduled slot failed by the reaper (found running past
    its deadline): the reaper claims a second attempt of that slot at once."""
    reaped = (
        run.deadline_at is not None
        and run.finished_at is not None
        and run.finished_at > run.deadline_at
    )
    return reaped and run.scheduled_for is not None and run.attempt == 1


def has_data(run: MonitorRun) -> bool:
    """True when the run read rows and at least one check gave a verdict."""
    statuses = dict(run.statuses or {})
    return bool(run.rows_total) and any(status != INSUFFICIENT for status in statuses.values())


def no_data_after_runs(monitor: Monitor) -> int:
    """How many runs in a row without data raise ``no_data``."""
    return int(monitor.options.get("no_data_after_runs", DEFAULT_NO_DATA_AFTER_RUNS))


def _runs_without_data(session: Session, monitor: Monitor, needed: int) -> int:
    """How many of the monitor's newest succeeded runs in a row had no data (counting up to
    ``needed``; failed runs are left out, a skipped run ends the count)."""
    runs = session.scalars(
        select(MonitorRun)
        .where(
            MonitorRun.monitor_id == monitor.id,
            MonitorRun.status.in_((RunStatus.SUCCEEDED.value, RunStatus.SKIPPED.value)),
        )
        .order_by(MonitorRun.id.desc())
        .limit(needed)
    )
    streak = 0
    for run in runs:
        if run.status != RunStatus.SUCCEEDED.value or has_data(run):
            break
        streak += 1
    return streak


def _reason(session: Session, report_ids: list[int]) -> str:
    """Why the reports had no verdict, as the first of them says."""
    for report_id in report_ids:
        report = session.get(Report, report_id)
        if report is not None and (report.summary or {}).get("reason"):
            return str(report.summary["reason"])
    return ""
