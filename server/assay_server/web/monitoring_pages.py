"""Pages of a report: its findings and detail, and Evidently's own page of it."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..monitoring.html import (
    RETRY_SECONDS,
    PagePreparing,
    evidently_page_path,
)
from ..monitoring.routes import builds_pages_in_background
from ..monitoring.service import MonitorService
from ..request_scope import database, db_session, service_context, settings
from ..roles import Role
from ..sandboxed import sandboxed_html
from .blueprint import bp
from .protection import frameable_by_this_site
from .report_charts import report_charts
from .report_tables import detail_tables, findings_table, summary_table

EVIDENTLY_CACHE_SECONDS = 3600
#: What Evidently's page of each kind of report is called (the kinds that have one).
EVIDENTLY_PAGE_NAMES = {
    "drift": "data drift",
    "data_quality": "data summary",
    "performance": "model performance",
}


@bp.get("/reports/<int:report_id>")
@requires(Role.VIEWER)
@browser_page
def report_page(report_id: int) -> str:
    """A report: its verdict, window, findings, charts and detail."""
    report = MonitorService(db_session(), service_context()).get_report(report_id)
    return render_template(
        "report.html",
        report=report,
        reason=report.summary.get("reason"),
        summary=summary_table(report.kind, report.summary),
        findings=findings_table(report.findings or []),
        tables=detail_tables(report.kind, report.summary, report.detail, report.findings or []),
        charts=report_charts(report.kind, report.summary, report.detail or {}),
        evidently_kinds=EVIDENTLY_PAGE_NAMES,
    )


@bp.get("/reports/<int:report_id>/evidently")
@requires(Role.VIEWER)
@browser_page
def evidently_page(report_id: int) -> str:
    """Evidently's report for the report's window, framed in a sandbox under our header."""
    report = MonitorService(db_session(), service_context()).get_report(report_id)
    try:
        evidently_page_path(
            database(), settings(), report_id, build_in_background=builds_pages_in_background()
        )
    except PagePreparing:
        # waited for here, at the top: a reload inside the sandboxed frame would carry no cookie
        return render_template("evidently.html", report=report, preparing=RETRY_SECONDS)
    return render_template("evidently.html", report=report, preparing=None)


@bp.get("/reports/<int:report_id>/evidently/page")
@frameable_by_this_site
@requires(Role.VIEWER)
@browser_page
def evidently_document(report_id: int) -> Response:
    """Evidently's own HTML (built after the run, cached), served to run only sandboxed; a
    page that reloads itself while it is being prepared."""
    try:
        path = evidently_page_path(
            database(), settings(), report_id, build_in_background=builds_pages_in_background()
        )
    except PagePreparing:
        waiting = render_template("evidently_preparing.html", seconds=RETRY_SECONDS)
        response = Response(waiting, status=202, mimetype="text/html")
        response.headers["Retry-After"] = str(RETRY_SECONDS)
        return response
    return sandboxed_html(path, max_age=EVIDENTLY_CACHE_SECONDS)
