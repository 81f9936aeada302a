"""From a window and a monitor's settings to report drafts: the checks, their verdicts, findings.

Everything here works on data already read (the window, the reference profile, the baseline);
the runner reads and stores. A finding names the subject that failed — a column, a group, a
metric — which is what alerts are keyed by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks.profile import ReferenceProfile, category_label
from ..ingest.window import PredictionWindow
from .thresholds import lower_is_worse, resolved, verdict

INSUFFICIENT = "insufficient_data"
_RANK = {"ok": 0, INSUFFICIENT: 0, "warning": 1, "alert": 2}


@dataclass(frozen=True)
class ReportDraft:
    """One check's outcome before it is stored."""

    kind: str
    status: str
    summary: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunInputs:
    """What the checks of one run read. ``baseline`` and ``calibration`` load on demand."""

    task: str
    schema: dict[str, Any]
    window: PredictionWindow
    rows_total: int
    rejected_rows: int
    profile: ReferenceProfile | None
    min_rows: int
    thresholds: dict[str, Any]
    options: dict[str, Any]
    sensitive_features: list[str]
    baseline: Callable[[], tuple[str, dict[str, float]] | None] = lambda: None
    calibration: Callable[[], Any] = lambda: None

    @property
    def is_classifier(self) -> bool:
        """True for binary and multiclass classification."""
        return self.task != "regression"

    @property
    def prediction_name(self) -> str | None:
        """The prediction column's name in the reference, if the schema declares one."""
        prediction = self.schema.get("prediction")
        return prediction["name"] if prediction else None


def class_labels(values: Any) -> Any:
    """Classes as canonical text (as drift compares categories: 1, 1.0 and "1" are one
    class), except that booleans are "1" / "0" so the default favourable label "1" fits
    them; None where missing. Each distinct value is spelled once, not each row."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), use_na_sentinel=True)
    lookup = np.array([_class_text(value) for value in uniques] + [None], dtype=object)
    return pd.Series(lookup[codes], dtype=object)


def _class_text(value: Any) -> str | None:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return category_label(value)


def _insufficient(kind: str, reason: str, **summary: Any) -> ReportDraft:
    return ReportDraft(kind, INSUFFICIENT, {"reason": reason, **summary})


def _monitored_columns(inputs: RunInputs) -> dict[str, Any]:
    """Window columns under the names the reference profile uses."""
    profile = inputs.profile
    assert profile is not None
    features = inputs.window.features
    columns: dict[str, Any] = {}
    for name in profile.kinds:
        if name in features.columns:
            columns[name] = features[name]
        elif name == inputs.prediction_name:
            columns[name] = inputs.window.predictions
    return columns


def check_drift(inputs: RunInputs) -> ReportDraft:
    """Drift of each monitored column; status from the share of drifted columns."""
    from ..checks.drift import detect_drift

    if inputs.profile is None:
        return _insufficient("drift", "The version has no reference dataset to compare with.")
    if len(inputs.window) < inputs.min_rows:
        return _insufficient("drift", _too_few(inputs), rows=len(inputs.window))
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
    return ReportDraft("drift", status, summary, {"columns": as_json["columns"]}, findings)


def check_quality(inputs: RunInputs) -> ReportDraft:
    """Missing values, out-of-range values, unseen categories and rejected rows."""
    from ..checks.quality import check_quality as measure

    if inputs.profile is None:
        return _insufficient("data_quality", "The version has no reference dataset.")
    if len(inputs.window) < inputs.min_rows:
        return _insufficient("data_quality", _too_few(inputs), rows=len(inputs.window))
    result = measure(inputs.profile, _monitored_columns(inputs), rejected_rows=inputs.rejected_rows)
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
    summary = {key: value for key, value in as_json.items() if key != "columns"} | {
        "worst_share": worst,
        "levels": levels,
    }
    return ReportDraft(
        "data_quality", _worst(findings), summary, {"columns": as_json["columns"]}, findings
    )


def check_bias(inputs: RunInputs) -> ReportDraft:
    """Disparities across the groups of each sensitive feature."""
    from ..checks.bias import measure_bias

    if not inputs.is_classifier:
        return _insufficient("bias", "Bias metrics are defined for classifiers.")
    if not inputs.sensitive_features:
        return _insufficient("bias", "The monitor names no sensitive features.")
    if len(inputs.window) < inputs.min_rows:
        return _insufficient("bias", _too_few(inputs), rows=len(inputs.window))
    window = inputs.window
    sensitive_columns = window.sensitive
    features = window.features
    columns: dict[str, Any] = {}
    absent = []
    for name in inputs.sensitive_features:
        if name in sensitive_columns.columns:
            columns[name] = class_labels(sensitive_columns[name])
        elif name in features.columns:
            columns[name] = class_labels(features[name])
        else:
            absent.append(name)
    if not columns:
        return _insufficient(
            "bias", f"No logged predictions carry {', '.join(absent)} (as sensitive or feature)."
        )
    options = inputs.options
    labels = class_labels(window.labels)
    results = measure_bias(
        class_labels(window.predictions),
        columns,
        labels=labels if labels.notna().any() else None,
        favourable_label=str(options.get("favourable_label", "1")),
        min_group_count=int(options.get("min_group_count", 30)),
    )
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
    return ReportDraft("bias", _worst(findings), summary, detail, findings)


def check_performance(inputs: RunInputs) -> ReportDraft:
    """Realised metrics on the labelled rows, against the version's baseline."""
    from ..checks.performance import (
        classification_metrics,
        compare_with_baseline,
        regression_metrics,
    )

    window = inputs.window
    labelled = int(window.labels.notna().sum()) if len(window) else 0
    if labelled < inputs.min_rows:
        return _insufficient(
            "performance",
            f"{labelled} labelled rows in the window; the monitor needs {inputs.min_rows}.",
            n_labelled=labelled,
            label_coverage=(labelled / len(window)) if len(window) else 0.0,
        )
    if inputs.is_classifier:
        metrics = classification_metrics(
            class_labels(window.labels),
            class_labels(window.predictions),
            **_scores(inputs),
            positive_label=str(inputs.options.get("positive_label", "1")),
        )
    else:
        metrics = regression_metrics(window.labels.astype(float), window.predictions.astype(float))
    return _against_baseline("performance", inputs, metrics, compare_with_baseline)


def check_estimated_performance(inputs: RunInputs) -> ReportDraft:
    """Expected performance from calibrated scores (no labels needed); realised beside it."""
    from ..checks.estimated import estimate_performance
    from ..checks.performance import classification_metrics, compare_with_baseline

    if inputs.task != "binary_classification":
        return _insufficient(
            "estimated_performance", "Estimated performance is for binary classifiers."
        )
    window = inputs.window
    if "score" not in window.frame.columns or window.frame["score"].isna().all():
        return _insufficient("estimated_performance", "The logged predictions carry no scores.")
    scores = window.frame["score"].astype(float)
    scored = scores.notna()
    if int(scored.sum()) < inputs.min_rows:
        return _insufficient("estimated_performance", _too_few(inputs), rows=int(scored.sum()))
    calibration = inputs.calibration()
    if calibration is None:
        return _insufficient(
            "estimated_performance",
            "Calibration needs a reference dataset with the target and a 'score' column.",
        )
    positive = str(inputs.options.get("positive_label", "1"))
    estimated = estimate_performance(
        calibration,
        scores[scored].to_numpy(),
        predictions=class_labels(window.predictions[scored]).to_numpy(),
        positive_label=positive,
        threshold=float(inputs.options.get("classification_threshold", 0.5)),
    )
    draft = _against_baseline("estimated_performance", inputs, estimated, compare_with_baseline)
    labelled = int(window.labels.notna().sum())
    realised = None
    if labelled:
        realised = classification_metrics(
            class_labels(window.labels),
            class_labels(window.predictions),
            scores=scores,
            positive_label=positive,
        )
    draft.summary["realised"] = realised
    return draft


def _scores(inputs: RunInputs) -> dict[str, Any]:
    frame = inputs.window.frame
    has_scores = "score" in frame.columns and frame["score"].notna().any()
    if inputs.task == "binary_classification" and has_scores:
        return {"scores": frame["score"].astype(float)}
    probabilities = inputs.window.probabilities
    if len(probabilities.columns):
        return {
            "probabilities": probabilities.astype(float).to_numpy(),
            "classes": [str(c) for c in probabilities.columns],
        }
    return {}


def _against_baseline(
    kind: str, inputs: RunInputs, metrics: dict[str, Any], compare: Callable[..., Any]
) -> ReportDraft:
    levels = resolved(kind, inputs.thresholds.get(kind), inputs.options)
    metric = levels["metric"] or ("accuracy" if inputs.is_classifier else "rmse")
    levels["metric"] = metric
    found = inputs.baseline()
    summary: dict[str, Any] = {"metrics": metrics, "metric": metric, "levels": levels}
    if found is None or metric not in found[1]:
        summary["baseline"] = None
        summary["reason"] = (
            f"No baseline {metric!r}: log a benchmark of the version, or register it with "
            "training metrics."
        )
        return ReportDraft(kind, "ok", summary)
    source, baseline = found
    degradation = compare(
        metrics,
        baseline,
        metric=metric,
        warning=levels["warning"],
        alert=levels["alert"],
        mode=levels["mode"],
    )
    result = degradation.as_json()
    summary["baseline"] = {"source": source, "metrics": baseline}
    summary["degradation"] = result
    status = result["status"]
    findings = []
    if status in ("warning", "alert"):
        findings.append(
            {
                "subject": metric,
                "status": status,
                "metric": metric,
                "value": result["current"],
                "baseline": result["baseline"],
                "drop": result["drop"],
                "threshold": levels[status],
            }
        )
    return ReportDraft(kind, status, summary, {}, findings)


def _worst(findings: list[dict[str, Any]]) -> str:
    return max((f["status"] for f in findings), key=_RANK.__getitem__, default="ok")


def _too_few(inputs: RunInputs) -> str:
    return f"{len(inputs.window)} rows in the window; the monitor needs {inputs.min_rows}."


CHECK_FUNCTIONS: dict[str, Callable[[RunInputs], ReportDraft]] = {
    "drift": check_drift,
    "data_quality": check_quality,
    "bias": check_bias,
    "performance": check_performance,
    "estimated_performance": check_estimated_performance,
}
