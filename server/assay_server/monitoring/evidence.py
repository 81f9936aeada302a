"""Monitoring reports as governance evidence: drift share, bias, performance, data quality.

A rule reads the version's latest report of the check with a verdict (an
``insufficient_data`` report is no evidence).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..governance.evidence import EvidenceContext, Missing, Observation, register_provider
from .models import Report


def _latest(ctx: EvidenceContext, check: str) -> Report | None:
    return ctx.session.scalars(
        select(Report)
        .where(
            Report.version_id == ctx.version.id,
            Report.kind == check,
            Report.status != "insufficient_data",
        )
        .order_by(Report.id.desc())
        .limit(1)
    ).first()


def _observed(report: Report, value: Any, **detail: Any) -> Observation:
    return Observation(
        value=value,
        source=f"{report.kind} report #{report.id}",
        link=f"/api/v1/reports/{report.id}",
        detail={"report_id": report.id, "status": report.status, **detail},
    )


def _missing(check: str, ctx: EvidenceContext) -> Missing:
    return Missing(
        f"No {check.replace('_', '-')} report with a verdict exists for version "
        f"{ctx.version.version}: create a monitor with the {check!r} check and run it."
    )


def drift_share(ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """The share of drifted columns in the latest drift report."""
    report = _latest(ctx, "drift")
    if report is None:
        return _missing("drift", ctx)
    return _observed(report, report.summary.get("share_drifted"))


def bias_metric(ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """A disparity metric of the latest bias report: of one sensitive feature, or the worst."""
    report = _latest(ctx, "bias")
    if report is None:
        return _missing("bias", ctx)
    metric = params["metric"]
    features: dict[str, Any] = report.summary.get("features") or {}
    wanted = params.get("sensitive_feature")
    if wanted is not None:
        figures = features.get(wanted)
        if figures is None or figures.get(metric) is None:
            return Missing(f"Bias report #{report.id} has no {metric} for {wanted!r}.")
        return _observed(report, figures[metric], sensitive_feature=wanted)
    values = [(f[metric], name) for name, f in features.items() if f.get(metric) is not None]
    if not values:
        return Missing(f"Bias report #{report.id} has no {metric}.")
    worst = min(values) if metric.endswith("ratio") else max(values)
    return _observed(report, worst[0], sensitive_feature=worst[1])


def performance_metric(ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """A live metric of the latest performance report."""
    report = _latest(ctx, "performance")
    if report is None:
        return _missing("performance", ctx)
    value = (report.summary.get("metrics") or {}).get(params["metric"])
    if value is None:
        return Missing(f"Performance report #{report.id} has no {params['metric']}.")
    return _observed(report, value)


def data_quality(ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """A figure of the latest data-quality report (e.g. ``max_missing_share``)."""
    report = _latest(ctx, "data_quality")
    if report is None:
        return _missing("data_quality", ctx)
    value = report.summary.get(params["metric"])
    if value is None:
        known = sorted(k for k, v in report.summary.items() if isinstance(v, (int, float)))
        return Missing(
            f"Data-quality report #{report.id} has no {params['metric']}; it has {known}."
        )
    return _observed(report, value)


def latest_report(ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """The latest report of ``params['check']``, for the compliance report."""
    check = params["check"]
    report = _latest(ctx, check)
    if report is None:
        return _missing(check, ctx)
    return _observed(
        report,
        report.summary,
        created_at=report.created_at.isoformat(),
        window_start=report.window_start.isoformat() if report.window_start else None,
        window_end=report.window_end.isoformat() if report.window_end else None,
    )


def register() -> None:
    """Install the providers (idempotent)."""
    register_provider("drift_share", drift_share)
    register_provider("bias_metric", bias_metric)
    register_provider("performance_metric", performance_metric)
    register_provider("data_quality", data_quality)
    register_provider("report", latest_report)
