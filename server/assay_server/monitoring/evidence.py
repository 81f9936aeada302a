"""Monitoring reports as evidence for policy rules: drift share, bias, performance, data
quality, and the latest report of a check (for the compliance report). ``wiring.py`` connects
these providers to the rule kinds.

A rule reads the version's latest report of the check with a verdict (an
``insufficient_data`` report is no evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ..evidence import EvidenceQuery, Missing, Observation
from .models import Report


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
    )
