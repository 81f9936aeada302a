"""Realised performance over the labelled rows of a window, and its comparison with a baseline.

Definitions are scikit-learn's (the tests use it as the oracle), computed with numpy from one
confusion matrix: precision, recall and F1 are ``zero_division=nan`` (reported as None), macro
averages skip the classes where a figure is undefined, ROC AUC is the tie-averaged rank
statistic (equal to the area under sklearn's ROC curve), log loss clips probabilities to
``[eps, 1 - eps]`` like ``sklearn.metrics.log_loss``.

A row is evaluated when it has both a label and a prediction (missing values are None/NaN);
probabilistic figures also skip evaluated rows whose score is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

# pandas is imported by the functions that use it: the server and its CLI start without it

HIGHER_IS_BETTER: Final[dict[str, bool]] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "r2": True,
    "log_loss": False,
    "mae": False,
    "rmse": False,
}

DEGRADATION_MODES: Final[tuple[str, ...]] = ("absolute", "relative")


def factorize_outcomes(values: Any) -> tuple[np.ndarray, list[Any]]:
    """Return int64 codes (-1 where missing) and the distinct values of a 1-D array-like."""
    import pandas as pd

    if isinstance(values, (pd.Series, pd.Index)):
        extension = isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
        values = values.array if extension else values.to_numpy()
    elif not isinstance(values, (np.ndarray, pd.api.extensions.ExtensionArray)):
        values = np.asarray(values, dtype=object)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    if isinstance(values, pd.Categorical):
        # the codes are already there: factorizing would hash every row again
        return values.codes.astype(np.int64), list(values.categories)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), list(uniques)


def numeric_values(values: Any) -> np.ndarray:
    """Return a 1-D array-like as float64, NaN where missing or not a number."""
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(values), errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def matches_label(values: Any, label: Any) -> np.ndarray:
    """Return a boolean array: where a 1-D array-like of outcomes equals ``label``."""
    codes, distinct = factorize_outcomes(values)
    return codes == (distinct.index(label) if label in distinct else -2)


def shared_class_codes(labels: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Encode labels and predictions on one class index (-1 where missing); return both and it."""
    label_codes, label_values = factorize_outcomes(labels)
    prediction_codes, prediction_values = factorize_outcomes(predictions)
    if len(label_codes) != len(prediction_codes):
        raise ValueError(
            f"labels and predictions differ in length: {len(label_codes)} != "
            f"{len(prediction_codes)}"
        )
    classes = list(label_values)
    index_of = {value: index for index, value in enumerate(classes)}
    translation = []
    for value in prediction_values:
        if value not in index_of:
            index_of[value] = len(classes)
            classes.append(value)
        translation.append(index_of[value])
    # the appended -1 makes code -1 (missing) translate to -1
    lookup = np.array([*translation, -1], dtype=np.int64)
    return label_codes, lookup[prediction_codes], classes


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _confusion_matrix(true_index: np.ndarray, predicted_index: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(true_index * k + predicted_index, minlength=k * k).reshape(k, k)


def _label_figures(
    confusion: np.ndarray, classes: list[Any], positive_label: Any, multiclass: bool
) -> dict[str, float | None]:
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    n = confusion.sum()
    figures: dict[str, float | None] = {"accuracy": _ratio(tp.sum(), n)}
    if not multiclass:
        at = classes.index(positive_label) if positive_label in classes else None
        tp_pos = tp[at] if at is not None else 0.0
        pred_pos = predicted[at] if at is not None else 0
        true_pos = actual[at] if at is not None else 0
        figures["precision"] = _ratio(tp_pos, pred_pos)
        figures["recall"] = _ratio(tp_pos, true_pos)
        figures["f1"] = _ratio(2 * tp_pos, pred_pos + true_pos)
        return figures
    present = (predicted + actual) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = {
            "precision": tp / predicted,
            "recall": tp / actual,
            "f1": 2 * tp / (predicted + actual),
        }
    for name, values in per_class.items():
        defined = values[present & ~np.isnan(values)]
        figures[name] = float(defined.mean()) if defined.size else None
    return figures


def _binary_roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    import pandas as pd

    n_positive = int(is_positive.sum())
    n_negative = is_positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    rank_sum = float(ranks[is_positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def _mean_log_loss(probability_of_truth: np.ndarray) -> float | None:
    if probability_of_truth.size == 0:
        return None
    eps = np.finfo(np.float64).eps
    return float(-np.log(np.clip(probability_of_truth, eps, 1 - eps)).mean())


def _binary_score_figures(
    true_index: np.ndarray, scores: np.ndarray, positive_index: int | None
) -> dict[str, float | None]:
    is_positive = true_index == positive_index
    return {
        "roc_auc": _binary_roc_auc(is_positive, scores),
        "log_loss": _mean_log_loss(np.where(is_positive, scores, 1.0 - scores)),
    }


def _multiclass_probability_figures(
    true_index: np.ndarray,
    seen_classes: list[Any],
    probabilities: np.ndarray,
    classes: Sequence[Any],
) -> dict[str, float | None]:
    column_of = {value: column for column, value in enumerate(classes)}
    lookup = np.array([column_of.get(value, -1) for value in seen_classes], dtype=np.int64)
    columns = lookup[true_index]
    if (columns < 0).any():
        unknown = sorted({str(seen_classes[i]) for i in true_index[columns < 0]})
        raise ValueError(f"labels not among the probability classes: {unknown}")
    per_class = [
        _binary_roc_auc(columns == column, probabilities[:, column])
        for column in range(len(classes))
    ]
    scored = [a for a in per_class if a is not None]
    roc_auc = float(np.mean(scored)) if len(scored) == len(per_class) else None
    truth = probabilities[np.arange(columns.size), columns]
    return {"roc_auc": roc_auc, "log_loss": _mean_log_loss(truth)}


def classification_metrics(
    labels: Any,
    predictions: Any,
    *,
    scores: Any = None,
    probabilities: Any = None,
    classes: Sequence[Any] | None = None,
    positive_label: Any = "1",
) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1, ROC AUC and log loss over the rows that have a label.

    Binary (at most two classes seen, and neither ``classes`` nor ``probabilities`` naming more):
    precision/recall/F1 of ``positive_label``; ROC AUC and log loss from ``scores`` =
    P(positive). Multiclass: macro averages; ROC AUC (one-vs-rest, macro) and log loss from
    ``probabilities`` (n x k, columns in the order of ``classes``). None where undefined.
    """
    true_index, predicted_index, seen_classes = shared_class_codes(labels, predictions)
    n_rows = true_index.size
    evaluated = (true_index >= 0) & (predicted_index >= 0)
    n_labelled = int(evaluated.sum())
    k = len(seen_classes)
    confusion = _confusion_matrix(true_index[evaluated], predicted_index[evaluated], k)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    probability_matrix = None if probabilities is None else np.asarray(probabilities, float)
    multiclass = (
        int(present.sum()) > 2
        or (classes is not None and len(classes) > 2)
        or (probability_matrix is not None and probability_matrix.shape[1] > 2)
    )
    figures = _label_figures(confusion, seen_classes, positive_label, multiclass)
    figures.update({"roc_auc": None, "log_loss": None})
    if scores is not None and not multiclass:
        score_column = numeric_values(scores)
        usable = evaluated & ~np.isnan(score_column)
        at = seen_classes.index(positive_label) if positive_label in seen_classes else None
        figures.update(_binary_score_figures(true_index[usable], score_column[usable], at))
    elif probability_matrix is not None and classes is not None:
        usable = evaluated & ~np.isnan(probability_matrix).any(axis=1)
        if multiclass:
            figures.update(
                _multiclass_probability_figures(
                    true_index[usable], seen_classes, probability_matrix[usable], classes
                )
            )
        else:
            if positive_label not in list(classes):
                raise ValueError(f"positive label {positive_label!r} is not among {classes!r}")
            positive_column = list(classes).index(positive_label)
            at = seen_classes.index(positive_label) if positive_label in seen_classes else None
            figures.update(
                _binary_score_figures(
                    true_index[usable], probability_matrix[usable, positive_column], at
                )
            )
    figures["n_labelled"] = n_labelled
    figures["label_coverage"] = _ratio(n_labelled, n_rows)
    return figures


def regression_metrics(labels: Any, predictions: Any) -> dict[str, float | None]:
    """MAE, RMSE and R² over the rows that have both a label and a prediction.

    R² is None where sklearn's ``force_finite=False`` is not finite (fewer than two rows, or
    constant labels); the others are None without labelled rows.
    """
    truth, predicted, rows = labelled_pairs(labels, predictions)
    n_labelled = int(truth.size)
    figures: dict[str, float | None] = {"mae": None, "rmse": None, "r2": None}
    if n_labelled:
        error = truth - predicted
        figures["mae"] = float(np.abs(error).mean())
        figures["rmse"] = float(np.sqrt(np.mean(error**2)))
        total = float(((truth - truth.mean()) ** 2).sum())
        if n_labelled >= 2 and total > 0:
            figures["r2"] = 1.0 - float((error**2).sum()) / total
    figures["n_labelled"] = n_labelled
    figures["label_coverage"] = _ratio(n_labelled, rows)
    return figures


def labelled_pairs(labels: Any, predictions: Any) -> tuple[Any, Any, int]:
    """The numeric labels and predictions of the rows that have both (None/NaN where
    missing), and how many rows there were."""
    truth = numeric_values(labels)
    predicted = numeric_values(predictions)
    if truth.size != predicted.size:
        raise ValueError(
            f"labels and predictions differ in length: {truth.size} != {predicted.size}"
        )
    evaluated = ~np.isnan(truth) & ~np.isnan(predicted)
    return truth[evaluated], predicted[evaluated], int(evaluated.size)


@dataclass(frozen=True)
class Degradation:
    """How far one metric fell from its baseline, and the status that fall earns."""

    metric: str
    current: float | None
    baseline: float | None
    drop: float | None
    mode: str
    warning: float
    alert: float
    status: str

    def as_json(self) -> dict[str, Any]:
        """Return the plain-JSON form stored in the report."""
        return asdict(self)


def _oriented_drop(metric: str, current: float, baseline: float, mode: str) -> float | None:
    drop = baseline - current if HIGHER_IS_BETTER[metric] else current - baseline
    if mode == "absolute":
        return drop
    return drop / abs(baseline) if baseline else None


def compare_with_baseline(
    current: Mapping[str, float | None],
    baseline: Mapping[str, float],
    *,
    metric: str,
    warning: float,
    alert: float,
    mode: str = "absolute",
) -> Degradation:
    """Compare one metric with its baseline: drop > 0 is worse; alert/warning at the thresholds.

    Relative mode divides the drop by |baseline|. The status is ``insufficient_data`` when the
    current or baseline figure is missing, or the baseline is 0 in relative mode.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(HIGHER_IS_BETTER)}")
    if mode not in DEGRADATION_MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {list(DEGRADATION_MODES)}")
    if warning > alert:
        raise ValueError(f"warning threshold {warning} is above the alert threshold {alert}")
    now, then = current.get(metric), baseline.get(metric)
    drop = None
    if now is not None and then is not None and not (np.isnan(now) or np.isnan(then)):
        drop = _oriented_drop(metric, float(now), float(then), mode)
    if drop is None:
        status = "insufficient_data"
    elif drop >= alert:
        status = "alert"
    elif drop >= warning:
        status = "warning"
    else:
        status = "ok"
    return Degradation(
        metric=metric,
        current=None if now is None else float(now),
        baseline=None if then is None else float(then),
        drop=drop,
        mode=mode,
        warning=float(warning),
        alert=float(alert),
        status=status,
    )
