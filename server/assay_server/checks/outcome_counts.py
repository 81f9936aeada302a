"""Bias and performance counted part by part: exact figures over any number of rows.

Each accumulator takes one part of a window at a time (:meth:`update`), adds another's counts
(:meth:`merge`) and returns what the one-shot function returns on the whole window
(:meth:`result`):

- :class:`BiasCounts` — :func:`.bias.measure_bias`: per sensitive feature, each group's count
  of rows in each of the 16 outcome states (labelled, positive, selected, correct); integer
  counts, so the figures are identical to the one-shot ones.
- :class:`ConfusionCounts` — the label figures of :func:`.performance.classification_metrics`
  (accuracy, precision, recall, F1, ``n_labelled``, ``label_coverage``) from the confusion
  counts; identical too. ROC AUC needs every score at once (a rank statistic) and log loss the
  score's form (scores or probabilities) decided over the whole window: those two are left to
  the caller (a uniform sample).
- :class:`RegressionSums` — :func:`.performance.regression_metrics`: MAE, RMSE and R² from
  sums of absolute and squared errors and the label's count, mean and sum of squared
  deviations (Chan's pairwise update); equal up to floating-point summation order.
- :class:`ExpectedConfusion` — :func:`.estimated.estimate_performance`: the expected
  confusion matrix is a sum of calibrated probabilities; equal up to summation order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .bias import (
    MISSING_GROUP,
    SensitiveFeatureBias,
    _feature_bias,
    _group_figures,
    _group_order,
    _outcome_states,
)
from .estimated import Calibration, _share
from .performance import (
    _confusion_matrix,
    _label_figures,
    _ratio,
    factorize_outcomes,
    labelled_pairs,
    matches_label,
    numeric_values,
    shared_class_codes,
)

_NO_STATES = np.zeros(16, dtype=np.int64)


class BiasCounts:
    """Per sensitive feature and group, how many rows fell in each outcome state."""

    def __init__(self, *, favourable_label: Any = "1", min_group_count: int = 30) -> None:
        self.favourable_label = favourable_label
        self.min_group_count = min_group_count
        self.rows = np.zeros(16, dtype=np.int64)  # every row counted, by state
        # feature -> (group, is the missing group) -> counts by state
        self.groups: dict[str, dict[tuple[str, bool], np.ndarray]] = {}

    def update(self, predictions: Any, sensitive: Mapping[str, Any], *, labels: Any = None) -> None:
        """Count one part: its predictions, labels (or None) and the sensitive columns it
        carries. A feature absent from a part has its rows in the group ``(missing)``."""
        states = _outcome_states(predictions, labels, self.favourable_label)
        part = np.bincount(states, minlength=16).astype(np.int64)
        for feature in self.groups.keys() - sensitive.keys():
            self._add(feature, (MISSING_GROUP, True), part)
        for feature, values in sensitive.items():
            if feature not in self.groups:  # first seen now: earlier rows were missing it
                self.groups[feature] = {}
                if self.rows.any():
                    self._add(feature, (MISSING_GROUP, True), self.rows)
            codes, distinct = factorize_outcomes(values)
            if codes.size != states.size:
                raise ValueError(
                    f"sensitive feature has {codes.size} rows, predictions {states.size}"
                )
            k = len(distinct) + 1  # the last code is the missing group
            codes = np.where(codes < 0, k - 1, codes)
            counts = np.bincount(codes * 16 + states, minlength=k * 16).reshape(k, 16)
            for value, row in zip([*distinct, None], counts, strict=True):
                if row.any():
                    key = (MISSING_GROUP, True) if value is None else (str(value), False)
                    self._add(feature, key, row)
        self.rows += part

    def _add(self, feature: str, key: tuple[str, bool], counts: np.ndarray) -> None:
        groups = self.groups.setdefault(feature, {})
        groups[key] = groups.get(key, _NO_STATES) + counts

    def merge(self, other: BiasCounts) -> None:
        """Add the counts of ``other`` (a later part of the window)."""
        for feature in self.groups.keys() - other.groups.keys():
            if other.rows.any():
                self._add(feature, (MISSING_GROUP, True), other.rows)
        for feature, groups in other.groups.items():
            if feature not in self.groups:
                self.groups[feature] = {}
                if self.rows.any():
                    self._add(feature, (MISSING_GROUP, True), self.rows)
            for key, counts in groups.items():
                self._add(feature, key, counts)
        self.rows += other.rows

    def result(self, features: list[str] | None = None) -> list[SensitiveFeatureBias]:
        """fairlearn's figures per feature (``features``, in that order; default: all seen)."""
        results = []
        for feature in self.groups if features is None else features:
            groups = [
                _group_figures(name, counts, self.min_group_count)
                for (name, _missing), counts in self.groups.get(feature, {}).items()
                if counts.sum() > 0
            ]
            results.append(_feature_bias(feature, sorted(groups, key=_group_order)))
        return results


class ConfusionCounts:
    """Confusion counts of labelled rows, with classes in the one-shot function's order."""

    def __init__(self) -> None:
        self.rows = 0
        self._index: dict[Any, int] = {}  # class -> row/column of ``confusion``
        self._label_order: dict[Any, None] = {}  # classes seen as labels, first seen first
        self._prediction_order: dict[Any, None] = {}
        self.confusion = np.zeros((0, 0), dtype=np.int64)

    def update(self, labels: Any, predictions: Any) -> None:
        """Count one part's labels (None/NaN where missing) against its predictions."""
        true_index, predicted_index, classes = shared_class_codes(labels, predictions)
        # the labels' classes come first, in order; then the predictions' others, in order
        # (a prediction's class that is also a label here keeps its place as a label)
        n_label_classes = int(true_index.max()) + 1 if true_index.size else 0
        self._label_order.update(dict.fromkeys(classes[:n_label_classes]))
        self._prediction_order.update(dict.fromkeys(classes[n_label_classes:]))
        evaluated = (true_index >= 0) & (predicted_index >= 0)
        part = _confusion_matrix(true_index[evaluated], predicted_index[evaluated], len(classes))
        self._add(classes, part)
        self.rows += int(true_index.size)

    def _add(self, classes: list[Any], part: np.ndarray) -> None:
        for value in classes:
            if value not in self._index:
                self._index[value] = len(self._index)
        k = len(self._index)
        if self.confusion.shape[0] < k:
            grown = np.zeros((k, k), dtype=np.int64)
            n = self.confusion.shape[0]
            grown[:n, :n] = self.confusion
            self.confusion = grown
        at = np.array([self._index[value] for value in classes], dtype=np.int64)
        self.confusion[np.ix_(at, at)] += part

    def merge(self, other: ConfusionCounts) -> None:
        """Add the counts of ``other`` (a later part of the window)."""
        self._label_order.update(other._label_order)
        self._prediction_order.update(other._prediction_order)
        self._add(list(other._index), other.confusion)
        self.rows += other.rows

    @property
    def classes(self) -> list[Any]:
        """Classes as ``classification_metrics`` orders them: labels', then predictions'."""
        labels = list(self._label_order)
        return labels + [c for c in self._prediction_order if c not in self._label_order]

    def result(
        self, *, positive_label: Any = "1", declared_classes: int = 0
    ) -> dict[str, float | None]:
        """Accuracy, precision, recall, F1 (macro averages past two classes, or when
        ``declared_classes`` — the probability columns — are more than two), ``n_labelled``
        and ``label_coverage``; ``roc_auc`` and ``log_loss`` are None (not counted)."""
        classes = self.classes
        at = np.array([self._index[value] for value in classes], dtype=np.int64)
        confusion = self.confusion[np.ix_(at, at)]
        present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
        multiclass = int(present.sum()) > 2 or declared_classes > 2
        figures = _label_figures(confusion, classes, positive_label, multiclass)
        figures.update({"roc_auc": None, "log_loss": None})
        n_labelled = int(confusion.sum())
        figures["n_labelled"] = n_labelled
        figures["label_coverage"] = _ratio(n_labelled, self.rows)
        return figures


class RegressionSums:
    """Sums behind MAE, RMSE and R² of the rows with a label and a prediction."""

    def __init__(self) -> None:
        self.rows = 0
        self.n = 0
        self.absolute = 0.0
        self.squared = 0.0
        self.mean = 0.0  # of the labels
        self.deviations = 0.0  # sum of squared deviations of the labels from their mean

    def update(self, labels: Any, predictions: Any) -> None:
        """Add one part's labels and predictions (None/NaN where missing)."""
        truth, predicted, rows = labelled_pairs(labels, predictions)
        error = truth - predicted
        part = RegressionSums()
        part.rows, part.n = rows, int(truth.size)
        if part.n:
            part.absolute = float(np.abs(error).sum())
            part.squared = float((error**2).sum())
            part.mean = float(truth.mean())
            part.deviations = float(((truth - part.mean) ** 2).sum())
        self.merge(part)

    def merge(self, other: RegressionSums) -> None:
        """Add the sums of ``other`` (Chan et al.'s update of the mean and deviations)."""
        n = self.n + other.n
        if other.n:
            delta = other.mean - self.mean
            self.deviations += other.deviations + delta * delta * self.n * other.n / n
            self.mean += delta * other.n / n
        self.rows += other.rows
        self.n = n
        self.absolute += other.absolute
        self.squared += other.squared

    def result(self) -> dict[str, float | None]:
        """What ``regression_metrics`` returns on every row added."""
        figures: dict[str, float | None] = {"mae": None, "rmse": None, "r2": None}
        if self.n:
            figures["mae"] = self.absolute / self.n
            figures["rmse"] = float(np.sqrt(self.squared / self.n))
            if self.n >= 2 and self.deviations > 0:
                figures["r2"] = 1.0 - self.squared / self.deviations
        figures["n_labelled"] = self.n
        figures["label_coverage"] = _ratio(self.n, self.rows)
        return figures


class ExpectedConfusion:
    """The expected confusion matrix of CBPE, summed over the rows that have a score."""

    def __init__(
        self, calibration: Calibration, *, positive_label: Any = "1", threshold: float = 0.5
    ) -> None:
        self.calibration = calibration
        self.positive_label = positive_label
        self.threshold = threshold
        self.n = 0
        self.selected = 0
        self.p_selected = 0.0  # expected true positives
        self.p_rejected = 0.0  # expected false negatives

    def update(self, scores: Any, predictions: Any = None) -> None:
        """Add one part's scores (and predictions; default ``score >= threshold``)."""
        score_column = numeric_values(scores)
        usable = ~np.isnan(score_column)
        if predictions is None:
            chosen = score_column >= self.threshold
        else:
            chosen = matches_label(predictions, self.positive_label)
            if chosen.size != score_column.size:
                raise ValueError(f"{score_column.size} scores but {chosen.size} predictions")
        p = self.calibration.probabilities(score_column[usable])
        selected = chosen[usable]
        self.n += int(usable.sum())
        self.selected += int(selected.sum())
        self.p_selected += float(p[selected].sum())
        self.p_rejected += float(p[~selected].sum())

    def merge(self, other: ExpectedConfusion) -> None:
        """Add the sums of ``other`` (same calibration, a later part of the window)."""
        self.n += other.n
        self.selected += other.selected
        self.p_selected += other.p_selected
        self.p_rejected += other.p_rejected

    def result(self) -> dict[str, float | None]:
        """What ``estimate_performance`` returns on every row added."""
        tp = self.p_selected
        fp = self.selected - tp
        fn = self.p_rejected
        tn = (self.n - self.selected) - fn
        return {
            "accuracy": _share(tp + tn, self.n),
            "precision": _share(tp, tp + fp),
            "recall": _share(tp, tp + fn),
            "f1": _share(2 * tp, 2 * tp + fp + fn),
            "n_estimated": self.n,
        }
