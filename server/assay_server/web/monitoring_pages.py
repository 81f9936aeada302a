"""Pages of a model (versions, monitors, latest reports) and of a report (findings, detail)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..monitoring.html import report_html_path
from ..monitoring.models import Monitor, MonitorRun
from ..monitoring.service import MonitorService, ReportFilters
from ..registry.service import RegistryService
from ..request_scope import database, db_session, service_context, settings
from ..roles import Role
from ..sandboxed import sandboxed_html
from .blueprint import bp
from .report_tables import detail_tables, findings_table, summary_table

LATEST_REPORTS = 25
EVIDENTLY_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class MonitorLine:
    """A monitor and its newest run (None before its first)."""

    monitor: Monitor
    last_run: MonitorRun | None


@bp.get("/models/<name>")
@requires(Role.VIEWER)
@browser_page
def model_page(name: str) -> str:
    """A model: its versions, its monitors with their last run, its latest reports."""
    session, ctx = db_session(), service_context()
    registry = RegistryService(session, ctx)
    monitors = MonitorService(session, ctx)
    model = registry.get_model(name)
    lines = [
        MonitorLine(monitor, next(iter(monitors.runs(name, monitor.id, limit=1)), None))
        for monitor in monitors.list(name)
    ]
    return render_template(
        "model.html",
        model=model,
        versions=registry.list_versions(name, limit=100).items,
        monitors=lines,
        reports=monitors.reports(name, ReportFilters(), limit=LATEST_REPORTS),
    )


@bp.get("/reports/<int:report_id>")
@requires(Role.VIEWER)
@browser_page
def report_page(report_id: int) -> str:
    """A report: its verdict, window, findings and detail."""
    report = MonitorService(db_session(), service_context()).get_report(report_id)
    return render_template(
        "report.html",
        report=report,
        reason=report.summary.get("reason"),
        summary=summary_table(report.kind, report.summary),
        findings=findings_table(report.findings or []),
        tables=detail_tables(report.kind, report.summary, report.detail, report.findings or []),
    )


@bp.get("/reports/<int:report_id>/evidently")
@requires(Role.VIEWER)
@browser_page
def evidently_page(report_id: int) -> str:
    """Evidently's report for the report's window, framed in a sandbox under our header."""
    report = MonitorService(db_session(), service_context()).get_report(report_id)
    return render_template("evidently.html", report=report)


@bp.get("/reports/<int:report_id>/evidently/page")
@requires(Role.VIEWER)
@browser_page
def evidently_document(report_id: int) -> Response:
    """Evidently's own HTML (built on first request, cached), served to run only sandboxed."""
    path = report_html_path(database(), settings(), report_id)
    return sandboxed_html(path, max_age=EVIDENTLY_CACHE_SECONDS)
