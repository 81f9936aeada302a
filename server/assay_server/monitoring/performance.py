"""Performance reports: realised metrics on the labelled rows and performance estimated from
calibrated scores, each against the version's baseline (a benchmark or its training metrics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .drafts import ReportDraft, RunInputs, class_labels, insufficient, too_few
from .thresholds import resolved


def check_performance(inputs: RunInputs) -> ReportDraft:
    """Realised metrics on the labelled rows, against the version's baseline.

    Fewer labelled rows than ``options.min_labelled`` (default: the monitor's ``min_rows``)
    give ``insufficient_data``, never ``ok``; every report states ``n_labelled`` and
    ``label_coverage``.
    """
    from ..checks.performance import (
        classification_metrics,
        compare_with_baseline,
        regression_metrics,
    )

    window = inputs.window
    labelled = int(window.labels.notna().sum()) if len(window) else 0
    coverage = (labelled / len(window)) if len(window) else 0.0
    needed = int(inputs.options.get("min_labelled") or inputs.min_rows)
    if labelled < needed:
        return insufficient(
            "performance",
            f"{labelled} labelled rows in the window; the monitor needs {needed}.",
            n_labelled=labelled,
            label_coverage=coverage,
            min_labelled=needed,
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
    draft = _against_baseline("performance", inputs, metrics, compare_with_baseline)
    draft.summary.update(n_labelled=labelled, label_coverage=coverage, min_labelled=needed)
    return draft


def check_estimated_performance(inputs: RunInputs) -> ReportDraft:
    """Expected performance from calibrated scores (no labels needed); realised beside it."""
    from ..checks.estimated import estimate_performance
    from ..checks.performance import classification_metrics, compare_with_baseline

    if inputs.task != "binary_classification":
        return insufficient(
            "estimated_performance", "Estimated performance is for binary classifiers."
        )
    window = inputs.window
    if "score" not in window.frame.columns or window.frame["score"].isna().all():
        return insufficient("estimated_performance", "The logged predictions carry no scores.")
    scores = window.frame["score"].astype(float)
    scored = scores.notna()
    if int(scored.sum()) < inputs.min_rows:
        return insufficient("estimated_performance", too_few(inputs), rows=int(scored.sum()))
    calibration = inputs.calibration()
    if calibration is None:
        return insufficient(
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
