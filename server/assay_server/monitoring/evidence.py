"""Monitoring reports as evidence for policy rules: drift share, bias, performance, data
quality, and the latest report of a check (for the compliance report). ``wiring.py`` connects
these providers to the rule kinds.

A rule reads the version's latest report of the check with a verdict (an
``insufficient_data`` report is no evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ..evidence import EvidenceQuery, Missing, Observation
from .models import Report

#: Most reports of one check a history reads (a 5-minute schedule fills 30 days with 8,640).
MAX_HISTORY = 10_000


def _latest(query: EvidenceQuery, check: str) -> Report | None:
    return query.session.scalars(
        select(Report)
        .where(
            Report.version_id == query.version_id,
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


def _missing(check: str, query: EvidenceQuery) -> Missing:
    return Missing(
        f"No {check.replace('_', '-')} report with a verdict exists for version "
        f"{query.version_number}: create a monitor with the {check!r} check and run it."
    )


def drift_share(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """The share of drifted columns in the latest drift report."""
    report = _latest(query, "drift")
    if report is None:
        return _missing("drift", query)
    return _observed(report, report.summary.get("share_drifted"))


def bias_metric(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """A disparity metric of the latest bias report: of one sensitive feature, or the worst."""
    report = _latest(query, "bias")
    if report is None:
        return _missing("bias", query)
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


def performance_metric(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """A live metric of the latest performance report."""
    report = _latest(query, "performance")
    if report is None:
        return _missing("performance", query)
    value = (report.summary.get("metrics") or {}).get(params["metric"])
    if value is None:
        return Missing(f"Performance report #{report.id} has no {params['metric']}.")
    return _observed(report, value)


def data_quality(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """A figure of the latest data-quality report (e.g. ``max_missing_share``)."""
    report = _latest(query, "data_quality")
    if report is None:
        return _missing("data_quality", query)
    value = report.summary.get(params["metric"])
    if value is None:
        known = sorted(k for k, v in report.summary.items() if isinstance(v, (int, float)))
        return Missing(
            f"Data-quality report #{report.id} has no {params['metric']}; it has {known}."
        )
    return _observed(report, value)


def latest_report(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """The latest report of ``params['check']``, for the compliance report."""
    check = params["check"]
    report = _latest(query, check)
    if report is None:
        return _missing(check, query)
    return _observed(
        report,
        report.summary,
        created_at=report.created_at.isoformat(),
        window_start=report.window_start.isoformat() if report.window_start else None,
        window_end=report.window_end.isoformat() if report.window_end else None,
        findings=[_finding_row(finding) for finding in report.findings or []],
        headline=headline(check, report.summary),
    )


#: The figure that stands for each check's report over time, as the compliance report names it.
HEADLINE_FIGURES = {
    "drift": "share_drifted",
    "data_quality": "worst_share",
    "bias": "worst group disparity (the monitor's metric)",
    "performance": "first live metric",
}


def report_history(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation | Missing:
    """The check's reports of the version over the last ``params['days']`` days, oldest
    first (each: id, time, status, headline figure), and the latest one's findings, for the
    compliance report."""
    check = params["check"]
    since = query.now - timedelta(days=float(params.get("days", 30)))
    reports = list(
        query.session.scalars(
            select(Report)
            .where(
                Report.version_id == query.version_id,
                Report.kind == check,
                Report.created_at >= since,
            )
            .order_by(Report.id)
            .limit(MAX_HISTORY)
        )
    )
    if not reports:
        return _missing(check, query)
    latest = reports[-1]
    points = [
        {
            "report_id": report.id,
            "created_at": report.created_at.isoformat(),
            "status": report.status,
            "value": headline(check, report.summary),
        }
        for report in reports
    ]
    return _observed(latest, points, figure=HEADLINE_FIGURES.get(check, "value"))


def headline(check: str, summary: Mapping[str, Any]) -> float | None:
    """The one number a check's report is charted by."""
    if check == "bias":
        metric = summary.get("metric")
        values = [
            float(figures[metric])
            for figures in (summary.get("features") or {}).values()
            if isinstance(figures, Mapping) and isinstance(figures.get(metric), (int, float))
        ]
        if not values:
            return None
        return min(values) if str(metric).endswith("ratio") else max(values)
    if check == "performance":
        metrics = summary.get("metrics") or {}
        first = next((v for v in metrics.values() if isinstance(v, (int, float))), None)
        return float(first) if first is not None else None
    value = summary.get({"drift": "share_drifted", "data_quality": "worst_share"}.get(check, ""))
    return float(value) if isinstance(value, (int, float)) else None


def _finding_row(finding: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "subject": finding.get("subject"),
        "metric": finding.get("metric") or finding.get("message"),
        "value": finding.get("value"),
        "threshold": finding.get("threshold"),
        "status": finding.get("status"),
    }
