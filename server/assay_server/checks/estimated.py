"""Estimated performance without labels (confidence-based, NannyML's CBPE) for binary models.

The model's score is first mapped to a calibrated P(positive) by isotonic regression fitted on
the reference dataset (scores and labels). Each row then contributes its calibrated
probability to the expected confusion matrix: a predicted-positive row adds ``p`` to the
expected true positives and ``1 - p`` to the false positives, a predicted-negative row ``p``
to the false negatives and ``1 - p`` to the true negatives. Accuracy, precision, recall and F1
are those of the expected matrix, as NannyML computes them. The estimate holds while the
relation between score and outcome stays as it was in the reference (no concept drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from .performance import factorize_outcomes, matches_label, numeric_values

CALIBRATION_METHOD: Final[str] = "isotonic"


@dataclass(frozen=True)
class Calibration:
    """A monotone map from a model's score to P(positive), as the knots of a linear spline."""

    score_knots: tuple[float, ...]
    probability_knots: tuple[float, ...]
    n_reference: int
    method: str = CALIBRATION_METHOD

    def __post_init__(self) -> None:
        """Reject knots that do not describe a monotone map into [0, 1]."""
        scores = np.asarray(self.score_knots, dtype=np.float64)
        probabilities = np.asarray(self.probability_knots, dtype=np.float64)
        if self.method != CALIBRATION_METHOD:
            raise ValueError(f"unknown calibration method {self.method!r}")
        if scores.size == 0 or scores.shape != probabilities.shape:
            raise ValueError("calibration needs as many probability knots as score knots, >= 1")
        if not (np.all(np.isfinite(scores)) and np.all(np.diff(scores) > 0)):
            raise ValueError("calibration score knots must be finite and strictly increasing")
        if not (np.all(probabilities >= 0) and np.all(probabilities <= 1)):
            raise ValueError("calibration probabilities must lie in [0, 1]")
        if np.any(np.diff(probabilities) < 0):
            raise ValueError("calibration probabilities must not decrease")

    def probabilities(self, scores: Any) -> np.ndarray:
        """Return the calibrated P(positive) of each score (constant beyond the end knots)."""
        return np.interp(numeric_values(scores), self.score_knots, self.probability_knots)

    def to_json(self) -> dict[str, Any]:
        """Return the plain-JSON form stored with the model version."""
        return {
            "method": self.method,
            "score_knots": list(self.score_knots),
            "probability_knots": list(self.probability_knots),
            "n_reference": self.n_reference,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Rebuild a calibration from :meth:`to_json`'s output, validating it."""
        return cls(
            score_knots=tuple(float(x) for x in data["score_knots"]),
            probability_knots=tuple(float(y) for y in data["probability_knots"]),
            n_reference=int(data["n_reference"]),
            method=str(data.get("method", CALIBRATION_METHOD)),
        )


def fit_calibration(
    reference_scores: Any, reference_labels: Any, *, positive_label: Any = "1"
) -> Calibration:
    """Fit the score → P(positive) map on reference rows that have both a score and a label."""
    from sklearn.isotonic import IsotonicRegression

    scores = numeric_values(reference_scores)
    label_codes, distinct = factorize_outcomes(reference_labels)
    if scores.size != label_codes.size:
        raise ValueError(f"{scores.size} reference scores but {label_codes.size} labels")
    usable = ~np.isnan(scores) & (label_codes >= 0)
    positive_code = distinct.index(positive_label) if positive_label in distinct else -2
    positive = label_codes[usable] == positive_code
    if positive.all() or not positive.any():
        raise ValueError("calibration needs reference rows of both classes")
    regression = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    regression.fit(scores[usable], positive.astype(np.float64))
    return Calibration(
        score_knots=tuple(float(x) for x in regression.X_thresholds_),
        probability_knots=tuple(float(y) for y in regression.y_thresholds_),
        n_reference=int(usable.sum()),
    )


def _share(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


def estimate_performance(
    calibration: Calibration,
    scores: Any,
    *,
    predictions: Any = None,
    positive_label: Any = "1",
    threshold: float = 0.5,
) -> dict[str, float | None]:
    """Expected accuracy, precision, recall and F1 of a window from its scores alone.

    Predictions default to ``scores >= threshold``; rows whose score is missing are skipped
    (``n_estimated`` counts the rows used). A figure is None when its denominator is 0.
    """
    score_column = numeric_values(scores)
    usable = ~np.isnan(score_column)
    if predictions is None:
        predicted_positive = score_column >= threshold
    else:
        predicted_positive = matches_label(predictions, positive_label)
        if predicted_positive.size != score_column.size:
            raise ValueError(
                f"{score_column.size} scores but {predicted_positive.size} predictions"
            )
    p = calibration.probabilities(score_column[usable])
    selected = predicted_positive[usable]
    true_positive = float(p[selected].sum())
    false_positive = float(selected.sum()) - true_positive
    false_negative = float(p[~selected].sum())
    true_negative = float((~selected).sum()) - false_negative
    n = int(usable.sum())
    return {
        "accuracy": _share(true_positive + true_negative, n),
        "precision": _share(true_positive, true_positive + false_positive),
        "recall": _share(true_positive, true_positive + false_negative),
        "f1": _share(2 * true_positive, 2 * true_positive + false_positive + false_negative),
        "n_estimated": n,
    }
