"""Estimated performance (CBPE) against the figures realised once the labels are known.

Tolerance: 0.02 on accuracy, precision, recall and F1. The analysis windows have 40,000 rows, so
the realised figures themselves wander by their sampling error around the expectation the
estimate targets: about 0.0025 for accuracy and up to about 0.005 for precision/recall, which
rest on a subset of the rows. Isotonic calibration fitted on 20,000 reference rows adds an
error of the same order. 0.02 is about four standard errors of the noisiest figure: wide enough
not to flake across seeds, narrow enough that the uncorrected estimate of the miscalibrated
model (off by about 0.2) fails it. Over 20 other seeds the largest gap was 0.013.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from assay_server.checks.estimated import (
    Calibration,
    estimate_performance,
    fit_calibration,
)

from .labelled_data import ScoredSample, calibrated_sample, overconfident

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

TOLERANCE = 0.02
FIGURES = ("accuracy", "precision", "recall", "f1")
IDENTITY = Calibration(score_knots=(0.0, 1.0), probability_knots=(0.0, 1.0), n_reference=0)


def realised(sample: ScoredSample, threshold: float = 0.5) -> dict[str, float]:
    """The figures scikit-learn gives once the labels of the window are known."""
    predictions = np.where(sample.scores >= threshold, "1", "0")
    labels = sample.labels.astype(str)
    return {
        "accuracy": skm.accuracy_score(labels, predictions),
        "precision": skm.precision_score(labels, predictions, pos_label="1"),
        "recall": skm.recall_score(labels, predictions, pos_label="1"),
        "f1": skm.f1_score(labels, predictions, pos_label="1"),
    }


def largest_gap(estimate: dict, truth: dict) -> float:
    """The largest absolute difference over the four figures."""
    return max(abs(estimate[name] - truth[name]) for name in FIGURES)


def test_the_estimate_tracks_a_shift_in_performance_of_a_calibrated_model():
    reference = calibrated_sample(rows=20_000, alpha=2, beta=2, seed=1)
    # the analysis window has a different score mix: the model does better on it
    analysis = calibrated_sample(rows=40_000, alpha=0.6, beta=0.9, seed=2)
    calibration = fit_calibration(reference.scores, reference.labels)
    estimate = estimate_performance(calibration, analysis.scores)
    assert largest_gap(realised(analysis), realised(reference)) > 0.05
    assert largest_gap(estimate, realised(analysis)) < TOLERANCE
    assert estimate["n_estimated"] == 40_000


def test_fitting_corrects_a_miscalibrated_reference():
    reference = overconfident(calibrated_sample(rows=20_000, alpha=2, beta=3, seed=3))
    analysis = overconfident(calibrated_sample(rows=40_000, alpha=2, beta=3, seed=4))
    truth = realised(analysis)
    naive = estimate_performance(IDENTITY, analysis.scores)
    assert largest_gap(naive, truth) > 0.05
    calibration = fit_calibration(reference.scores, reference.labels)
    assert largest_gap(estimate_performance(calibration, analysis.scores), truth) < TOLERANCE


def test_given_predictions_replace_the_threshold():
    reference = calibrated_sample(rows=10_000, alpha=2, beta=2, seed=5)
    analysis = calibrated_sample(rows=10_000, alpha=2, beta=2, seed=6)
    calibration = fit_calibration(reference.scores, reference.labels)
    predictions = np.where(analysis.scores >= 0.3, "yes", "no").astype(object)
    given = estimate_performance(
        calibration, analysis.scores, predictions=predictions, positive_label="yes"
    )
    assert given == estimate_performance(calibration, analysis.scores, threshold=0.3)
    assert given != estimate_performance(calibration, analysis.scores)


def test_the_calibration_round_trips_through_plain_json():
    reference = calibrated_sample(rows=5_000, alpha=2, beta=2, seed=7)
    calibration = fit_calibration(reference.scores, reference.labels)
    restored = Calibration.from_json(json.loads(json.dumps(calibration.to_json())))
    assert restored == calibration
    scores = calibrated_sample(rows=2_000, alpha=1, beta=1, seed=8).scores
    assert estimate_performance(restored, scores) == estimate_performance(calibration, scores)
    assert calibration.n_reference == 5_000 and len(calibration.score_knots) > 2


def test_missing_reference_labels_and_scores_are_skipped():
    reference = calibrated_sample(rows=6_000, alpha=2, beta=2, seed=9)
    labels = reference.labels.copy()
    scores = reference.scores.copy()
    labels[:1_000] = None
    scores[1_000:1_500] = np.nan
    calibration = fit_calibration(scores, labels)
    assert calibration.n_reference == 4_500
    window = np.array([0.2, np.nan, 0.9])
    assert estimate_performance(calibration, window)["n_estimated"] == 2


def test_integer_labels_with_a_named_positive_label():
    reference = calibrated_sample(rows=5_000, alpha=2, beta=2, seed=10)
    as_int = fit_calibration(reference.scores, reference.labels.astype(int), positive_label=1)
    as_str = fit_calibration(reference.scores, reference.labels)
    assert as_int == as_str


def test_undefined_figures_are_none():
    reference = calibrated_sample(rows=2_000, alpha=2, beta=2, seed=11)
    calibration = fit_calibration(reference.scores, reference.labels)
    nobody = estimate_performance(calibration, [0.1, 0.2], threshold=0.99)
    assert nobody["precision"] is None and nobody["accuracy"] is not None
    empty = estimate_performance(calibration, [])
    assert all(empty[name] is None for name in FIGURES) and empty["n_estimated"] == 0


def test_a_reference_of_one_class_cannot_be_fitted():
    with pytest.raises(ValueError, match="both classes"):
        fit_calibration([0.1, 0.8, 0.4], ["1", "1", None])


@pytest.mark.parametrize(
    "bad",
    [
        {"score_knots": [], "probability_knots": [], "n_reference": 1},
        {"score_knots": [0.5, 0.2], "probability_knots": [0.1, 0.2], "n_reference": 1},
        {"score_knots": [0.2, 0.5], "probability_knots": [0.1, 1.5], "n_reference": 1},
        {"score_knots": [0.2, 0.5], "probability_knots": [0.6, 0.1], "n_reference": 1},
        {"score_knots": [0.2], "probability_knots": [0.1], "n_reference": 1, "method": "beta"},
    ],
)
def test_a_malformed_calibration_is_rejected(bad):
    with pytest.raises(ValueError, match="calibration"):
        Calibration.from_json(bad)
