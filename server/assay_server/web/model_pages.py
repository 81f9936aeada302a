"""Pages of models: the model list (home) and a model's page."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, request

from ..access import browser_page, requires
from ..monitoring.models import Monitor, MonitorRun
from ..monitoring.service import MonitorService, ReportFilters
from ..registry.service import RegistryService
from ..request_scope import db_session, service_context
from ..roles import Role
from .blueprint import bp

LATEST_REPORTS = 25


@bp.get("/")
@requires(Role.VIEWER)
@browser_page
def index() -> str:
    """The model list."""
    include_archived = request.args.get("archived") == "1"
    page = RegistryService(db_session(), service_context()).list_models(
        include_archived=include_archived, limit=500
    )
    return render_template(
        "index.html",
        models=page.items,
        total=page.total,
        include_archived=include_archived,
    )


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
