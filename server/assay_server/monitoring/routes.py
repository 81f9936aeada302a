"""Monitoring endpoints: monitors, running them now, their runs, reports and report HTML."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import requires
from ..request_scope import current_actor, database, db_session, service_context, settings
from ..roles import Role
from ..sandboxed import sandboxed_html
from .html import (
    BUILD_PAGES_IN_BACKGROUND,
    RETRY_SECONDS,
    PagePreparing,
    evidently_page_path,
)
from .models import Monitor, MonitorRun, Report
from .runner import SCHEDULER_ACTOR, MonitorRunner
from .schemas import (
    MonitorCreateSchema,
    MonitorRunSchema,
    MonitorSchema,
    MonitorUpdateSchema,
    ReportListArgsSchema,
    ReportSchema,
    ReportSummarySchema,
    RunArgsSchema,
    RunListArgsSchema,
)
from .service import MonitorService, ReportFilters

blp = Blueprint(
    "monitoring",
    __name__,
    url_prefix="/api/v1",
    description="Monitors, their runs, and the drift, quality, bias and performance reports",
)

MONITOR_URL = "/models/<string:name>/monitors/<int:monitor_id>"


def _monitors() -> MonitorService:
    return MonitorService(db_session(), service_context())


def _runner() -> MonitorRunner:
    return MonitorRunner(database(), service_context().acting_as(SCHEDULER_ACTOR))


@blp.route("/models/<string:name>/monitors")
class Monitors(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, MonitorSchema(many=True))
    def get(self, name: str) -> list[Monitor]:
        """List a model's monitors"""
        return _monitors().list(name)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(MonitorCreateSchema)
    @blp.response(201, MonitorSchema)
    def post(self, args: dict[str, Any], name: str) -> Monitor:
        """Create a monitor (audited)"""
        return _monitors().create(name, args)


@blp.route(MONITOR_URL)
class MonitorItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, MonitorSchema)
    def get(self, name: str, monitor_id: int) -> Monitor:
        """Get a monitor"""
        return _monitors().get(name, monitor_id)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(MonitorUpdateSchema)
    @blp.response(200, MonitorSchema)
    def patch(self, args: dict[str, Any], name: str, monitor_id: int) -> Monitor:
        """Change a monitor, or enable/disable it (audited)"""
        return _monitors().update(name, monitor_id, args)

    @requires(Role.CONTRIBUTOR)
    @blp.response(204)
    def delete(self, name: str, monitor_id: int) -> None:
        """Delete a monitor with its runs and reports (audited)"""
        _monitors().delete(name, monitor_id)


@blp.route(MONITOR_URL + "/run")
class MonitorRunNow(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(RunArgsSchema, location="query", unknown=RAISE)
    @blp.response(201, MonitorRunSchema)
    @blp.alt_response(202, schema=MonitorRunSchema, description="Queued for the scheduler")
    def post(
        self, args: dict[str, Any], name: str, monitor_id: int
    ) -> MonitorRun | tuple[MonitorRun, int, dict[str, str]]:
        """Run a monitor now: 201, the finished run; with wait=false, 202, the run queued for
        the scheduler (poll its Location) (audited)"""
        run = _runner().run_now(name, monitor_id, actor=current_actor(), wait=args["wait"])
        if args["wait"]:
            return run
        return run, 202, {"Location": url_for("monitoring.MonitorRunItem", run_id=run.id)}


@blp.route(MONITOR_URL + "/runs")
class MonitorRuns(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(RunListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, MonitorRunSchema(many=True))
    def get(self, args: dict[str, Any], name: str, monitor_id: int) -> list[MonitorRun]:
        """List a monitor's runs, newest first"""
        return _monitors().runs(name, monitor_id, **args)


@blp.route("/monitor-runs/<int:run_id>")
class MonitorRunItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, MonitorRunSchema)
    def get(self, run_id: int) -> MonitorRun:
        """Get one run (poll a queued run with this)"""
        return _monitors().get_run(run_id)


@blp.route("/models/<string:name>/reports")
class Reports(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ReportListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, ReportSummarySchema(many=True))
    def get(self, args: dict[str, Any], name: str) -> list[Report]:
        """List a model's reports, newest first (filter by kind, status, monitor, version, time)"""
        limit = args.pop("limit")
        before = args.pop("before", None)
        return _monitors().reports(name, ReportFilters(**args), limit=limit, before=before)


@blp.route("/reports/<int:report_id>")
class ReportItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ReportSchema)
    def get(self, report_id: int) -> Report:
        """Get a report with its full detail"""
        return _monitors().get_report(report_id)


@blp.route("/reports/<int:report_id>/html")
class ReportHtml(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, content_type="text/html")
    @blp.alt_response(202, description="The page is being prepared: ask again after Retry-After")
    def get(self, report_id: int) -> Response:
        """Evidently's page of the report (drift, data quality, performance), built in the
        background after the run and cached; 202 while it is being prepared"""
        try:
            path = evidently_page_path(
                database(), settings(), report_id, build_in_background=builds_pages_in_background()
            )
        except PagePreparing as preparing:
            answer = jsonify({"status": "preparing", "message": str(preparing)})
            answer.status_code = 202
            answer.headers["Retry-After"] = str(RETRY_SECONDS)
            return answer
        return sandboxed_html(path, max_age=3600)


def builds_pages_in_background() -> bool:
    """Whether a request may start a page build in a thread (tests on a rolled-back store
    turn it off in the app's config)."""
    return bool(current_app.config.get(BUILD_PAGES_IN_BACKGROUND, True))
