"""A report's findings as incidents see them: how bad (:data:`SEVERITY`), worst first, one
sentence about them, and how an incident lists each (used by :mod:`.raising`).
"""

from __future__ import annotations

from typing import Any

#: A finding's status → the alert severity it gives.
SEVERITY = {"warning": "warning", "alert": "critical"}
RANK = {"warning": 1, "critical": 2}
NESTED = ("columns", "groups")


def worst_first(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings ordered worst first: by severity, then by how far past its level."""
    return sorted(findings, key=lambda f: (-RANK[SEVERITY[f["status"]]], -_excess(f)))


def _excess(finding: dict[str, Any]) -> float:
    figure = finding.get("drop", finding.get("value"))
    threshold = finding.get("threshold")
    if isinstance(figure, (int, float)) and isinstance(threshold, (int, float)):
        return abs(float(figure) - float(threshold))
    return 0.0


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


def summarize_all(check: str, findings: list[dict[str, Any]]) -> str:
    """One sentence about an incident: its worst finding, and which others fail."""
    worst = summarize(check, findings[0])
    if len(findings) == 1:
        return worst
    others = subjects(findings[1:])
    shown = ", ".join(others[:5])
    if len(others) > 5:
        shown += f" and {len(others) - 5} more"
    return f"{len(findings)} findings; worst {worst}; also {shown}"


def listing(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as an incident lists it: subject, status, severity, metric, value,
    threshold and its other plain figures (nested columns and groups stay in the report)."""
    first = {
        "subject": finding.get("subject"),
        "status": finding.get("status"),
        "severity": SEVERITY.get(finding.get("status", ""), finding.get("status")),
        "metric": finding.get("metric"),
        "value": finding.get("value"),
        "threshold": finding.get("threshold"),
    }
    rest = {k: v for k, v in finding.items() if k not in first and k not in NESTED}
    return {**first, **rest}


def subjects(findings: list[dict[str, Any]]) -> list[str]:
    return [str(f.get("subject")) for f in findings]
