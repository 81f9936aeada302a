"""Pages of models: the model list (home), where the unhealthy model stands out, and a model's
page with its monitoring over time.

Each view parses its query, makes one call to the page's builder below, and renders. The
builders put together what the packages' public services and queries answer (the registry's
models and stages, the alerts' counts and incidents, governance's promotions, monitoring's
aggregated history); the charts are fed by one aggregate query each
(:mod:`..monitoring.history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from flask import render_template, request
from sqlalchemy.orm import Session

from ..access import browser_page, requires
from ..alerts.figures import alert_counts
from ..alerts.models import OPEN_ALERT_STATUSES, SEVERITIES, Alert
from ..alerts.service import AlertFilters, AlertService
from ..context import ServiceContext
from ..errors import ValidationFailed
from ..governance.models import PromotionRequest
from ..governance.promotions import PromotionService
from ..monitoring import history
from ..monitoring.models import CHECKS, Monitor, MonitorRun, Report
from ..monitoring.service import MonitorService, ReportFilters
from ..registry.benchmarks import BenchmarkService, Leaderboard, benchmarks_of
from ..registry.models import ModelVersion, RegisteredModel, RiskTier, StageHistory
from ..registry.service import RegistryService
from ..registry.stages import stage_history
from ..request_scope import current_actor, db_session, service_context
from ..roles import Role
from .alias_pages import AliasPanel, alias_panel
from .blueprint import bp
from .charts import Figure
from .model_charts import (
    Chart,
    drift_share_chart,
    feature_heatmap,
    group_charts,
    performance_chart,
    trend_sparkline,
    volume_charts,
)

LATEST_REPORTS = 25
MODEL_LIMIT = 500
DAY_RANGES = (7, 30, 90)
DEFAULT_DAYS = 30
TREND_DAYS = 30
PROMOTIONS_SHOWN = 20
LEADERBOARDS_SHOWN = 3
#: how bad a check's last verdict is, for ordering the list (worst first)
STATUS_WEIGHT = {"alert": 2, "warning": 1}


@dataclass(frozen=True)
class ModelFilters:
    """What the model list is narrowed by."""

    q: str = ""
    risk_tier: str = ""
    owner: str = ""
    tag: str = ""
    has_alerts: bool = False
    include_archived: bool = False


@dataclass(frozen=True)
class ModelRow:
    """One line of the model list."""

    model: RegisteredModel
    production: list[int]
    staging: list[int]
    open_alerts: dict[str, int]
    checks: dict[str, str]
    trend: history.Trend | None
    sparkline: Figure | None

    @property
    def unhealthy(self) -> bool:
        """An open alert, or a check whose last verdict was a warning or an alert."""
        return bool(sum(self.open_alerts.values())) or any(
            status in STATUS_WEIGHT for status in self.checks.values()
        )

    @property
    def urgency(self) -> tuple[int, int, int]:
        """Critical alerts, then warnings, then the checks' verdicts: higher is worse."""
        return (
            self.open_alerts.get("critical", 0),
            self.open_alerts.get("warning", 0),
            sum(STATUS_WEIGHT.get(status, 0) for status in self.checks.values()),
        )


def _stages(model: RegisteredModel, stage: str) -> list[int]:
    return sorted((v.version for v in model.versions if v.stage == stage), reverse=True)


def model_rows(session: Session, ctx: ServiceContext, filters: ModelFilters) -> list[ModelRow]:
    """The models matching ``filters``, the unhealthiest first, then by name."""
    registry = RegistryService(session, ctx)
    models = registry.list_models(
        q=filters.q or None,
        risk_tier=filters.risk_tier or None,
        owner=filters.owner or None,
        tag=filters.tag or None,
        include_archived=filters.include_archived,
        limit=MODEL_LIMIT,
    ).items
    counts: dict[str, dict[str, int]] = {}
    for (name, status, severity), count in alert_counts(session).items():
        if status in OPEN_ALERT_STATUSES:
            by_severity = counts.setdefault(name, {})
            by_severity[severity] = by_severity.get(severity, 0) + count
    ids = [model.id for model in models]
    stages = registry.versions_in_stages(ids, ("production", "staging"))
    statuses = history.latest_statuses(session, ids)
    trends = history.trends(session, ids, ctx.clock() - timedelta(days=TREND_DAYS))
    rows = []
    for model in models:
        trend = trends.get(model.id)
        rows.append(
            ModelRow(
                model=model,
                production=stages[model.id]["production"],
                staging=stages[model.id]["staging"],
                open_alerts=counts.get(model.name, {}),
                checks=statuses.get(model.id, {}),
                trend=trend,
                sparkline=trend_sparkline(trend) if trend and len(trend.values) > 1 else None,
            )
        )
    if filters.has_alerts:
        rows = [row for row in rows if sum(row.open_alerts.values())]
    rows.sort(key=lambda row: row.model.name)
    rows.sort(key=lambda row: row.urgency, reverse=True)
    return rows


def _model_filters(args: Mapping[str, str]) -> ModelFilters:
    tier = args.get("risk_tier", "")
    tiers = [t.value for t in RiskTier]
    if tier and tier not in tiers:
        raise ValidationFailed(f"Unknown risk tier {tier!r}; choose one of {', '.join(tiers)}.")
    return ModelFilters(
        q=args.get("q", "").strip(),
        risk_tier=tier,
        owner=args.get("owner", "").strip(),
        tag=args.get("tag", "").strip(),
        has_alerts=args.get("alerts") == "1",
        include_archived=args.get("archived") == "1",
    )


@bp.get("/")
@requires(Role.VIEWER)
@browser_page
def index() -> str:
    """The model list: health at a glance, filters and search."""
    filters = _model_filters(request.args)
    rows = model_rows(db_session(), service_context(), filters)
    return render_template(
        "index.html",
        rows=rows,
        filters=filters,
        risk_tiers=[t.value for t in RiskTier],
        checks=CHECKS,
        severities=SEVERITIES,
        trend_days=TREND_DAYS,
    )


@dataclass(frozen=True)
class MonitorLine:
    """A monitor and its newest run (None before its first)."""

    monitor: Monitor
    last_run: MonitorRun | None


@dataclass(frozen=True)
class ModelOverview:
    """Everything the model page shows."""

    model: RegisteredModel
    days: int
    versions: list[ModelVersion]
    incidents: list[Alert]
    charts: list[Chart]
    monitors: list[MonitorLine]
    leaderboards: list[Leaderboard]
    stays: list[StageHistory]
    promotions: list[PromotionRequest]
    reports: list[Report]
    aliases: AliasPanel
    stages: dict[str, list[int]] = field(default_factory=dict)


def _leaderboards(
    session: Session, ctx: ServiceContext, name: str, versions: list[ModelVersion]
) -> list[Leaderboard]:
    names = sorted({bench.name for v in versions for bench in benchmarks_of(session, v.id)})
    service = BenchmarkService(session, ctx)
    return [service.leaderboard(name, benchmark=bench) for bench in names[:LEADERBOARDS_SHOWN]]


def model_overview(session: Session, ctx: ServiceContext, name: str, days: int) -> ModelOverview:
    """A model's page: stages, aliases, incidents, charts over the last ``days``, versions,
    benchmarks, monitors, stage history and promotions."""
    registry = RegistryService(session, ctx)
    monitors = MonitorService(session, ctx)
    model = registry.get_model(name)
    since = ctx.clock() - timedelta(days=days)
    versions = registry.list_versions(name, limit=100).items
    charts = [
        drift_share_chart(history.drift_shares(session, model.id, since)),
        feature_heatmap(history.feature_drift(session, model.id, since)),
        performance_chart(history.performance(session, model.id, since)),
        *group_charts(history.group_rates(session, model.id, since)),
        *volume_charts(history.volumes(session, model.id, since)),
    ]
    lines = [
        MonitorLine(monitor, next(iter(monitors.runs(name, monitor.id, limit=1)), None))
        for monitor in monitors.list(name)
    ]
    return ModelOverview(
        model=model,
        days=days,
        versions=versions,
        incidents=AlertService(session, ctx).list(AlertFilters(model=name, status="open")),
        charts=charts,
        monitors=lines,
        leaderboards=_leaderboards(session, ctx, name, versions),
        stays=list(reversed(stage_history(session, model.id))),
        promotions=PromotionService(session, ctx).list(model=name, limit=PROMOTIONS_SHOWN).items,
        reports=monitors.reports(name, ReportFilters(), limit=LATEST_REPORTS),
        aliases=alias_panel(session, ctx, model),
        stages={stage: _stages(model, stage) for stage in ("production", "staging")},
    )


def _days(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_DAYS
    if not value.isdigit() or int(value) not in DAY_RANGES:
        choices = ", ".join(str(d) for d in DAY_RANGES)
        raise ValidationFailed(f"Show the last {choices} days; {value!r} is not one of them.")
    return int(value)


@bp.get("/models/<name>")
@requires(Role.VIEWER)
@browser_page
def model_page(name: str) -> str:
    """A model: stages and incidents, charts over time, versions, benchmarks, monitors,
    stage history, promotions and its latest reports."""
    days = _days(request.args.get("days"))
    overview = model_overview(db_session(), service_context(), name, days)
    return render_template(
        "model.html",
        page=overview,
        model=overview.model,
        ranges=DAY_RANGES,
        can_contribute=current_actor().role.allows(Role.CONTRIBUTOR),
    )
