"""A report's summary, findings and detail as tables of display-ready cells (no Flask, no store).

The shapes read here are the report contract of docs/monitoring.md; a key a newer check adds
shows up in the summary table rather than being lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .formatting import MISSING, figure, label, share

DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)
# summary keys shown by a kind's own tables instead of the summary table
_SHOWN_ELSEWHERE = {
    "bias": {"features"},
    "performance": {"metrics", "baseline", "degradation"},
    "estimated_performance": {"metrics", "baseline", "degradation", "realised"},
}


@dataclass(frozen=True)
class Row:
    """One table row; ``flagged`` rows are what the report found wrong."""

    cells: tuple[str, ...]
    flagged: bool = False


@dataclass(frozen=True)
class Table:
    """A titled table of display-ready cells."""

    title: str
    headers: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    note: str = ""


def summary_table(kind: str, summary: Mapping[str, Any]) -> Table:
    """The summary's figures, one per row (what a kind's tables show is left out)."""
    skip = _SHOWN_ELSEWHERE.get(kind, set()) | {"reason"}
    rows = [Row((label(key), figure(value))) for key, value in summary.items() if key not in skip]
    return Table("Summary", ("Figure", "Value"), rows)


def findings_table(findings: Sequence[Mapping[str, Any]]) -> Table:
    """What failed: subject, status, the figure and its threshold, and what else was said."""
    rows = [
        Row(
            (
                str(finding.get("subject", MISSING)),
                label(finding.get("status")),
                label(finding.get("metric")),
                figure(finding.get("value")),
                figure(finding.get("threshold")),
                _finding_note(finding),
            ),
            flagged=finding.get("status") == "alert",
        )
        for finding in findings
    ]
    headers = ("Subject", "Status", "Metric", "Value", "Threshold", "Note")
    return Table("Findings", headers, rows)


def _finding_note(finding: Mapping[str, Any]) -> str:
    parts = [str(finding["message"])] if finding.get("message") else []
    for key in ("baseline", "drop"):
        if key in finding:
            parts.append(f"{key} {figure(finding[key])}")
    columns = finding.get("columns") or []
    if columns:
        parts.append("columns: " + ", ".join(str(c.get("feature")) for c in columns))
    groups = finding.get("groups") or []
    if groups:
        rates = (f"{g.get('group')} {figure(g.get('selection_rate'))}" for g in groups)
        parts.append("selection rates: " + ", ".join(rates))
    return "; ".join(parts)


def detail_tables(
    kind: str,
    summary: Mapping[str, Any],
    detail: Mapping[str, Any],
    findings: Sequence[Mapping[str, Any]] = (),
) -> list[Table]:
    """The report's detail as the tables its kind calls for."""
    subjects = {str(finding.get("subject")) for finding in findings}
    if kind == "drift":
        return [drift_table(detail.get("columns") or [])]
    if kind == "data_quality":
        return [quality_table(detail.get("columns") or [], subjects)]
    if kind == "bias":
        return bias_tables(detail.get("features") or [], str(summary.get("metric") or ""), subjects)
    if kind in ("performance", "estimated_performance"):
        return performance_tables(summary)
    return []


def drift_table(columns: Iterable[Mapping[str, Any]]) -> Table:
    """One row per column, drifted ones first: the method, its score against the threshold."""
    ordered = sorted(columns, key=lambda column: not column.get("drifted"))
    rows = [
        Row(
            (
                str(column.get("feature")),
                str(column.get("kind", MISSING)),
                str(column.get("method", MISSING)),
                figure(column.get("score")),
                figure(column.get("threshold")),
                figure(column.get("drifted")),
                figure(column.get("n_reference")),
                figure(column.get("n_current")),
            ),
            flagged=bool(column.get("drifted")),
        )
        for column in ordered
    ]
    headers = (
        "Column",
        "Kind",
        "Method",
        "Score",
        "Threshold",
        "Drifted",
        "Reference rows",
        "Current rows",
    )
    note = (
        "ks, chisquare and z scores are p-values (drifted below the threshold); "
        "wasserstein, jensenshannon and psi are distances (drifted at or above it)."
    )
    return Table("Drift per column", headers, rows, note)


def quality_table(columns: Iterable[Mapping[str, Any]], subjects: set[str]) -> Table:
    """Per column: rows, and the shares missing, out of range and of unseen categories."""
    rows = [
        Row(
            (
                str(column.get("feature")),
                str(column.get("kind", MISSING)),
                figure(column.get("n_current")),
                share(column.get("missing_share")),
                share(column.get("reference_missing_share")),
                share(column.get("out_of_range_share")),
                share(column.get("new_category_share")),
                figure(column.get("new_categories") or None),
            ),
            flagged=str(column.get("feature")) in subjects,
        )
        for column in columns
    ]
    headers = (
        "Column",
        "Kind",
        "Rows",
        "Missing",
        "Missing in reference",
        "Out of range",
        "New categories",
        "New category values",
    )
    return Table("Data quality per column", headers, rows)


def bias_tables(
    features: Iterable[Mapping[str, Any]], metric: str, subjects: set[str]
) -> list[Table]:
    """Per sensitive feature: the four disparity figures, then its groups."""
    tables = []
    for feature in features:
        name = str(feature.get("feature"))
        disparities = [
            Row(
                (label(key), figure(feature.get(key))),
                flagged=key == metric and name in subjects,
            )
            for key in DISPARITIES
        ]
        tables.append(Table(f"{name}: disparities", ("Metric", "Value"), disparities))
        groups = [
            Row(
                tuple(
                    figure(group.get(key))
                    for key in (
                        "group",
                        "count",
                        "labelled",
                        "selection_rate",
                        "accuracy",
                        "tpr",
                        "fpr",
                        "below_min_count",
                    )
                )
            )
            for group in feature.get("groups") or []
        ]
        headers = (
            "Group",
            "Count",
            "Labelled",
            "Selection rate",
            "Accuracy",
            "TPR",
            "FPR",
            "Below minimum count",
        )
        note = "Groups below the minimum count are listed but left out of the disparities."
        tables.append(Table(f"{name}: groups", headers, groups, note))
    return tables


def performance_tables(summary: Mapping[str, Any]) -> list[Table]:
    """The metrics beside their baseline (and realised figures), then the degradation."""
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    baseline: Mapping[str, Any] = summary.get("baseline") or {}
    baseline_metrics: Mapping[str, Any] = baseline.get("metrics") or {}
    realised: Mapping[str, Any] | None = summary.get("realised")
    degradation: Mapping[str, Any] = summary.get("degradation") or {}
    failing = degradation.get("status") in ("warning", "alert")
    headers = ("Metric", "Current", "Baseline") + (("Realised",) if realised else ())
    rows = []
    for name in dict.fromkeys([*metrics, *baseline_metrics]):
        cells: tuple[str, ...] = (
            label(name),
            figure(metrics.get(name)),
            figure(baseline_metrics.get(name)),
        )
        if realised:
            cells += (figure(realised.get(name)),)
        rows.append(Row(cells, flagged=failing and name == degradation.get("metric")))
    source = str(baseline.get("source") or "none")
    tables = [Table("Metrics", headers, rows, f"Baseline: {source}.")]
    if degradation:
        facts = [Row((label(key), figure(value))) for key, value in degradation.items()]
        tables.append(Table("Degradation", ("Figure", "Value"), facts))
    return tables
