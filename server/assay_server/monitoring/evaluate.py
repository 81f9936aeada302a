"""From a window and a monitor's settings to report drafts: the checks, their verdicts, findings.

Everything here works on data already read (the window, the reference profile, the baseline);
the runner reads and stores. A finding names the subject that failed — a column, a group, a
metric — which is what alerts are keyed by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypedDict

from .aggregates import monitored_columns
from .drafts import ReportDraft, RunInputs, insufficient, too_few, worst_status
from .performance import check_estimated_performance, check_performance
from .thresholds import lower_is_worse, resolved, verdict


def _monitored_columns(inputs: RunInputs) -> dict[str, Any]:
    """The sample's columns under the names the reference profile uses."""
    if inputs.profile is None:
        raise ValueError("this check needs the version's reference profile")
    return monitored_columns(inputs.profile, inputs.window, inputs.prediction_name)


def check_drift(inputs: RunInputs) -> ReportDraft:
    """Drift of each monitored column on the run's uniform sample of its window; status from
    the share of drifted columns. ``summary.sample`` says how many rows of how many."""
    from ..checks.drift import detect_drift, histograms

    if inputs.profile is None:
        return insufficient("drift", "The version has no reference dataset to compare with.")
    if inputs.rows_total < inputs.min_rows:
        return insufficient("drift", too_few(inputs), rows=inputs.rows_total)
    options = inputs.options
    result = detect_drift(
        inputs.profile,
        _monitored_columns(inputs),
        methods=options.get("feature_methods") or None,
        thresholds=options.get("feature_thresholds") or None,
        drift_share=options.get("drift_share", 0.5),
    )
    levels = resolved("drift", inputs.thresholds.get("drift"), options)
    status = verdict(result.share_drifted, levels)
    as_json = result.as_json()
    drifted = [c for c in as_json["columns"] if c["drifted"]]
    summary = {
        "share_drifted": result.share_drifted,
        "n_drifted": result.n_drifted,
        "n_columns": len(result.columns),
        "dataset_drift": result.dataset_drift,
        "drift_share": result.drift_share,
        "drifted_columns": [c["feature"] for c in drifted],
        "levels": levels,
        "sample": _sample_of(inputs),
    }
    findings = []
    if status != "ok":
        top = sorted(drifted, key=lambda c: c["feature"])
        findings.append(
            {
                "subject": "dataset",
                "status": status,
                "value": result.share_drifted,
                "threshold": levels[status],
                "message": f"{result.n_drifted} of {len(result.columns)} columns drifted",
                "columns": [
                    {"feature": c["feature"], "method": c["method"], "score": c["score"]}
                    for c in top[:10]
                ],
            }
        )
    # the window's counts per reference bin: what the report page draws (docs/monitoring.md)
    shapes = histograms(inputs.profile, _monitored_columns(inputs))
    detail = {"columns": as_json["columns"], "histograms": shapes}
    return ReportDraft("drift", status, summary, detail, findings)


def _sample_of(inputs: RunInputs) -> dict[str, Any]:
    """How the rows a sampled figure comes from were drawn."""
    sample = inputs.aggregates.sample
    return {
        "sampled": sample.sampled,
        "rows": len(inputs.window),
        "rows_total": inputs.rows_total,
        "seed": sample.seed if sample.sampled else None,
    }


def check_quality(inputs: RunInputs) -> ReportDraft:
    """Missing values, out-of-range values, unseen categories, rejected rows and labels,
    counted over every row of the window."""
    counts = inputs.aggregates.quality
    if inputs.profile is None or counts is None:
        return insufficient("data_quality", "The version has no reference dataset.")
    if inputs.rows_total < inputs.min_rows:
        return insufficient("data_quality", too_few(inputs), rows=inputs.rows_total)
    result = counts.result(rejected_rows=inputs.rejected_rows)
    levels = resolved("data_quality", inputs.thresholds.get("data_quality"), inputs.options)
    as_json = result.as_json()
    findings = []
    worst = 0.0
    for column in as_json["columns"]:
        figures = {
            "missing_share": max(
                0.0, (column["missing_share"] or 0.0) - (column["reference_missing_share"] or 0.0)
            ),
            "out_of_range_share": column.get("out_of_range_share") or 0.0,
            "new_category_share": column.get("new_category_share") or 0.0,
        }
        metric, value = max(figures.items(), key=lambda item: item[1])
        worst = max(worst, value)
        status = verdict(value, levels)
        if status != "ok":
            findings.append(
                {
                    "subject": column["feature"],
                    "status": status,
                    "metric": metric,
                    "value": value,
                    "threshold": levels[status],
                }
            )
    rejected_status = verdict(result.rejected_share, levels)
    if rejected_status != "ok":
        findings.append(
            {
                "subject": "rejected_rows",
                "status": rejected_status,
                "metric": "rejected_share",
                "value": result.rejected_share,
                "threshold": levels[rejected_status],
            }
        )
    worst = max(worst, result.rejected_share)
    labels = _rejected_labels(inputs, levels)
    if labels["finding"] is not None:
        findings.append(labels["finding"])
    worst = max(worst, labels["rejected_label_share"])
    summary = {key: value for key, value in as_json.items() if key != "columns"} | {
        "labels_received": inputs.labels_received,
        "labels_rejected": inputs.labels_rejected,
        "rejected_label_share": labels["rejected_label_share"],
        "worst_share": worst,
        "levels": levels,
    }
    return ReportDraft(
        "data_quality", worst_status(findings), summary, {"columns": as_json["columns"]}, findings
    )


class _LabelQuality(TypedDict):
    rejected_label_share: float
    finding: dict[str, Any] | None


def _rejected_labels(inputs: RunInputs, levels: dict[str, Any]) -> _LabelQuality:
    """Ground truth refused at the labels endpoint (not a class, not a finite number), as a
    share of the labels received on the window's days: a finding past the thresholds."""
    received, rejected = inputs.labels_received, inputs.labels_rejected
    share = rejected / received if received else 0.0
    status = verdict(share, levels)
    finding = None
    if status != "ok":
        finding = {
            "subject": "rejected_labels",
            "status": status,
            "metric": "rejected_label_share",
            "value": share,
            "threshold": levels[status],
            "count": rejected,
            "received": received,
            "message": f"{rejected} of {received} labels rejected",
        }
    return {"rejected_label_share": share, "finding": finding}


def check_bias(inputs: RunInputs) -> ReportDraft:
    """Disparities across the groups of each sensitive feature, counted over every row."""
    if not inputs.is_classifier:
        return insufficient("bias", "Bias metrics are defined for classifiers.")
    if not inputs.sensitive_features:
        return insufficient("bias", "The monitor names no sensitive features.")
    if inputs.rows_total < inputs.min_rows:
        return insufficient("bias", too_few(inputs), rows=inputs.rows_total)
    counts = inputs.aggregates.bias
    columns, absent = inputs.aggregates.bias_columns()
    if counts is None or not columns:
        return insufficient(
            "bias", f"No logged predictions carry {', '.join(absent)} (as sensitive or feature)."
        )
    options = inputs.options
    results = [
        replace(result, feature=name)
        for name, result in zip(columns, counts.result(list(columns.values())), strict=True)
    ]
    levels = resolved("bias", inputs.thresholds.get("bias"), options)
    metric = levels["metric"]
    lower_worse = lower_is_worse("bias", levels)
    findings = []
    per_feature = {}
    for result in results:
        as_json = result.as_json()
        per_feature[result.feature] = {k: v for k, v in as_json.items() if k != "groups"}
        value = as_json.get(metric)
        status = verdict(value, levels, lower_worse=lower_worse)
        if status != "ok":
            findings.append(
                {
                    "subject": result.feature,
                    "status": status,
                    "metric": metric,
                    "value": value,
                    "threshold": levels[status],
                    "groups": [
                        {"group": g["group"], "selection_rate": g["selection_rate"]}
                        for g in as_json["groups"]
                        if not g["below_min_count"]
                    ],
                }
            )
    summary = {"metric": metric, "levels": levels, "features": per_feature, "absent": absent}
    detail = {"features": [r.as_json() for r in results]}
    return ReportDraft("bias", worst_status(findings), summary, detail, findings)


CHECK_FUNCTIONS: dict[str, Callable[[RunInputs], ReportDraft]] = {
    "drift": check_drift,
    "data_quality": check_quality,
    "bias": check_bias,
    "performance": check_performance,
    "estimated_performance": check_estimated_performance,
}
