"""Performance reports: realised metrics on the labelled rows and performance estimated from
calibrated scores, each against the version's baseline (a benchmark or its training metrics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .drafts import ReportDraft, RunInputs, class_labels, insufficient, too_few
from .thresholds import resolved

#: Figures computed on the run's sample (they need every score at once), the others counted.
SAMPLED_METRICS = ("roc_auc", "log_loss")


def check_performance(inputs: RunInputs) -> ReportDraft:
    """Realised metrics on the labelled rows, against the version's baseline.

    Fewer labelled rows than ``options.min_labelled`` (default: the monitor's ``min_rows``)
    give ``insufficient_data``, never ``ok``; every report states ``n_labelled`` and
    ``label_coverage``. Counted over every row of the window, except ROC AUC and log loss,
    computed on the run's uniform sample (``summary.sample`` says so when it is one).
    """
    from ..checks.performance import compare_with_baseline

    aggregates = inputs.aggregates
    labelled = aggregates.labelled
    coverage = (labelled / inputs.rows_total) if inputs.rows_total else 0.0
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
        metrics = _classification(inputs)
    elif aggregates.regression is not None:
        metrics = aggregates.regression.result()
    else:
        raise ValueError("a performance check of a regression needs its regression sums")
    draft = _against_baseline("performance", inputs, metrics, compare_with_baseline)
    draft.summary.update(n_labelled=labelled, label_coverage=coverage, min_labelled=needed)
    return _sampled_figures(draft, inputs) if inputs.is_classifier else draft


def _classification(inputs: RunInputs) -> dict[str, Any]:
    """Label figures from the window's confusion counts; ROC AUC and log loss from the
    labelled rows of its sample."""
    from ..checks.performance import classification_metrics

    confusion = inputs.aggregates.confusion
    if confusion is None:
        raise ValueError("a classifier's performance check needs its confusion counts")
    positive = str(inputs.options.get("positive_label", "1"))
    scoring = _scores(inputs)
    aggregates = inputs.aggregates
    scored = inputs.task == "binary_classification" and aggregates.scored > 0
    declared = 0 if scored else len(aggregates.probability_columns)  # as _scores chooses
    metrics = confusion.result(positive_label=positive, declared_classes=declared)
    sample = inputs.window
    if len(sample) and scoring:
        on_sample = classification_metrics(
            class_labels(sample.labels),
            class_labels(sample.predictions),
            **scoring,
            positive_label=positive,
        )
        metrics.update({name: on_sample[name] for name in SAMPLED_METRICS})
    return metrics


def _sampled_figures(draft: ReportDraft, inputs: RunInputs, *, mark: bool = True) -> ReportDraft:
    """Say which figures came from the sample, and of how many rows (and, with ``mark``,
    that the report holds sampled figures)."""
    sample = inputs.aggregates.sample
    if not sample.sampled:
        return draft
    draft.summary["sample"] = {
        "sampled": True,
        "metrics": list(SAMPLED_METRICS),
        "rows": len(inputs.window),
        "labelled": int(inputs.window.labels.notna().sum()),
        "rows_total": inputs.rows_total,
        "seed": sample.seed,
    }
    return replace(draft, rows_used=inputs.rows_total, sampled=True) if mark else draft


def check_estimated_performance(inputs: RunInputs) -> ReportDraft:
    """Expected performance from calibrated scores (no labels needed), summed over every
    row; realised beside it (as the performance check computes it)."""
    from ..checks.performance import compare_with_baseline

    if inputs.task != "binary_classification":
        return insufficient(
            "estimated_performance", "Estimated performance is for binary classifiers."
        )
    aggregates = inputs.aggregates
    scored = aggregates.scored
    if not scored:
        return insufficient("estimated_performance", "The logged predictions carry no scores.")
    if scored < inputs.min_rows:
        return insufficient("estimated_performance", too_few(inputs), rows=scored)
    if inputs.calibration() is None or aggregates.expected is None:
        return insufficient(
            "estimated_performance",
            "Calibration needs a reference dataset with the target and a 'score' column.",
        )
    estimated = aggregates.expected.result()
    draft = _against_baseline("estimated_performance", inputs, estimated, compare_with_baseline)
    draft.summary["realised"] = _classification(inputs) if aggregates.labelled else None
    if aggregates.labelled:  # the estimate is exact; only its realised ROC AUC is sampled
        return _sampled_figures(draft, inputs, mark=False)
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
