"""classification_metrics / regression_metrics against scikit-learn, and baseline comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from assay_server.checks.performance import (
    HIGHER_IS_BETTER,
    Degradation,
    classification_metrics,
    compare_with_baseline,
    regression_metrics,
)

from .labelled_data import as_dtype, calibrated_sample, classifier_window

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

TOLERANCE = 1e-9


def assert_same(ours: float | None, theirs: float, what: str) -> None:
    """None on our side is sklearn's NaN / non-finite; otherwise equal within TOLERANCE."""
    if not math.isfinite(theirs):
        assert ours is None, f"{what}: ours {ours}, sklearn {theirs}"
        return
    assert ours is not None, f"{what}: ours None, sklearn {theirs}"
    assert abs(ours - theirs) <= TOLERANCE, f"{what}: ours {ours}, sklearn {theirs}"


def sklearn_binary(labels, predictions, scores, positive):
    """sklearn's figures on the labelled rows, zero_division=nan, P(positive) as the score."""
    mask = pd.notna(labels)
    y, p, s = labels[mask].astype(str), predictions[mask].astype(str), scores[mask]
    prf = {"pos_label": positive, "zero_division": np.nan}
    is_positive = (y == positive).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, **prf),
        "recall": skm.recall_score(y, p, **prf),
        "f1": skm.f1_score(y, p, **prf),
        "roc_auc": skm.roc_auc_score(is_positive, s),
        "log_loss": skm.log_loss(is_positive, np.column_stack([1 - s, s]), labels=[0, 1]),
    }


def scored_window(rows: int, seed: int, missing_label_share: float = 0.0):
    """Binary "0"/"1" labels, thresholded predictions and tied (rounded) scores."""
    sample = calibrated_sample(rows=rows, alpha=2, beta=3, seed=seed)
    scores = np.round(sample.scores, 2)  # ties, which the rank statistic must average
    predictions = np.where(scores >= 0.5, "1", "0").astype(object)
    labels = sample.labels.copy()
    labels[np.random.default_rng(seed + 100).random(rows) < missing_label_share] = None
    return labels, predictions, scores


def test_binary_figures_match_sklearn_on_the_labelled_rows():
    labels, predictions, scores = scored_window(10_000, seed=1, missing_label_share=0.35)
    ours = classification_metrics(labels, predictions, scores=scores)
    expected = sklearn_binary(labels, predictions, scores, "1")
    for name, value in expected.items():
        assert_same(ours[name], value, name)
    labelled = int(pd.notna(labels).sum())
    assert ours["n_labelled"] == labelled
    assert ours["label_coverage"] == pytest.approx(labelled / 10_000, abs=TOLERANCE)
    assert 0.6 < ours["roc_auc"] < 0.95


def test_the_positive_label_may_sort_first():
    labels, predictions, scores = scored_window(5_000, seed=2)
    rename = np.vectorize({"1": "approved", "0": "rejected"}.get, otypes=[object])
    labels, predictions = rename(labels), rename(predictions)
    ours = classification_metrics(labels, predictions, scores=scores, positive_label="approved")
    expected = sklearn_binary(labels, predictions, scores, "approved")
    for name, value in expected.items():
        assert_same(ours[name], value, name)


def test_two_column_probabilities_work_like_scores():
    labels, predictions, scores = scored_window(3_000, seed=3)
    by_scores = classification_metrics(labels, predictions, scores=scores)
    by_probabilities = classification_metrics(
        labels,
        predictions,
        probabilities=np.column_stack([scores, 1 - scores]),
        classes=["1", "0"],
    )
    assert by_probabilities == pytest.approx(by_scores, abs=TOLERANCE)


def test_integer_and_pandas_dtypes_give_the_same_figures():
    labels, predictions, scores = scored_window(4_000, seed=4, missing_label_share=0.2)
    expected = classification_metrics(labels, predictions, scores=scores)
    ints = pd.array([None if v is None else int(v) for v in labels], dtype="Int64")
    as_ints = classification_metrics(
        ints, predictions.astype(int), scores=pd.Series(scores), positive_label=1
    )
    assert as_ints == expected
    for kind in ("category", "arrow"):
        typed = classification_metrics(
            as_dtype(labels, kind), as_dtype(predictions, kind), scores=scores
        )
        assert typed == expected


def test_undefined_binary_figures_are_none():
    labels = np.array(["0", "0", "0", None], dtype=object)
    predictions = np.array(["0", "1", "0", "1"], dtype=object)
    ours = classification_metrics(labels, predictions, scores=[0.1, 0.7, 0.2, 0.9])
    # no positive label: recall and ROC AUC are undefined; precision is 0 of 1 predicted
    assert ours["recall"] is None and ours["roc_auc"] is None
    assert_same(
        ours["precision"], skm.precision_score(labels[:3], predictions[:3], pos_label="1"), "p"
    )
    assert_same(ours["f1"], skm.f1_score(labels[:3], predictions[:3], pos_label="1"), "f1")
    assert ours["label_coverage"] == 0.75
    nobody = classification_metrics(["1", "0"], ["0", "0"])
    assert nobody["precision"] is None
    assert nobody["roc_auc"] is None and nobody["log_loss"] is None


def test_without_any_label_every_figure_is_none():
    ours = classification_metrics([None, None], ["1", "0"], scores=[0.8, 0.3])
    assert ours == {
        "accuracy": None,
        "precision": None,
        "recall": None,
        "f1": None,
        "roc_auc": None,
        "log_loss": None,
        "n_labelled": 0,
        "label_coverage": 0.0,
    }


def multiclass_window(rows: int, seed: int):
    """Three-class labels, Dirichlet probabilities leaning to the truth, argmax predictions."""
    classes = ["bird", "cat", "dog"]
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, size=rows)
    concentration = np.ones((rows, 3))
    concentration[np.arange(rows), truth] += 1.5
    probabilities = np.array([rng.dirichlet(alpha) for alpha in concentration])
    labels = np.array(classes, dtype=object)[truth]
    predictions = np.array(classes, dtype=object)[probabilities.argmax(axis=1)]
    labels[rng.random(rows) < 0.25] = None
    return classes, labels, predictions, probabilities


def test_multiclass_figures_match_sklearn_macro_and_ovr():
    classes, labels, predictions, probabilities = multiclass_window(6_000, seed=5)
    ours = classification_metrics(
        labels, predictions, probabilities=probabilities, classes=classes, positive_label="cat"
    )
    mask = pd.notna(labels)
    y, p, prob = labels[mask].astype(str), predictions[mask].astype(str), probabilities[mask]
    macro = {"average": "macro", "zero_division": np.nan}
    expected = {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, **macro),
        "recall": skm.recall_score(y, p, **macro),
        "f1": skm.f1_score(y, p, **macro),
        "roc_auc": skm.roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=classes),
        "log_loss": skm.log_loss(y, prob, labels=classes),
    }
    for name, value in expected.items():
        assert_same(ours[name], value, name)
    assert ours["n_labelled"] == int(mask.sum())


def test_multiclass_macro_skips_a_class_that_is_never_predicted():
    _, labels, predictions, _ = multiclass_window(3_000, seed=6)
    predictions = np.where(predictions == "bird", "cat", predictions).astype(object)
    ours = classification_metrics(labels, predictions)
    mask = pd.notna(labels)
    y, p = labels[mask].astype(str), predictions[mask].astype(str)
    for name, scorer in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert_same(ours[name], scorer(y, p, average="macro", zero_division=np.nan), name)


def test_multiclass_roc_auc_is_none_when_a_class_has_no_label():
    classes, labels, predictions, probabilities = multiclass_window(2_000, seed=7)
    labels = np.where(labels == "dog", None, labels)
    ours = classification_metrics(labels, predictions, probabilities=probabilities, classes=classes)
    assert ours["roc_auc"] is None
    assert ours["log_loss"] is not None


def test_a_label_outside_the_probability_classes_is_an_error():
    with pytest.raises(ValueError, match="not among the probability classes"):
        classification_metrics(
            ["a", "b", "zebra"],
            ["a", "b", "c"],
            probabilities=np.full((3, 3), 1 / 3),
            classes=["a", "b", "c"],
        )


def test_regression_figures_match_sklearn():
    rng = np.random.default_rng(8)
    truth = rng.normal(100, 15, size=5_000)
    predicted = truth + rng.normal(0, 5, size=5_000)
    labels = pd.Series(truth).mask(rng.random(5_000) < 0.3)
    ours = regression_metrics(labels, predicted)
    mask = labels.notna().to_numpy()
    assert_same(ours["mae"], skm.mean_absolute_error(truth[mask], predicted[mask]), "mae")
    assert_same(ours["rmse"], skm.root_mean_squared_error(truth[mask], predicted[mask]), "rmse")
    assert_same(ours["r2"], skm.r2_score(truth[mask], predicted[mask]), "r2")
    assert ours["n_labelled"] == int(mask.sum())
    assert ours["label_coverage"] == pytest.approx(mask.mean(), abs=TOLERANCE)


def test_regression_r2_is_none_where_sklearn_is_not_finite():
    constant = regression_metrics([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])
    with np.errstate(divide="ignore"):
        unforced = skm.r2_score([3, 3, 3], [2, 3, 4], force_finite=False)
    assert_same(constant["r2"], unforced, "r2")
    assert constant["mae"] == pytest.approx(2 / 3)
    assert regression_metrics([1.0, None], [1.5, 2.0])["r2"] is None
    empty = regression_metrics([None, None], [1.0, 2.0])
    assert empty["mae"] is None and empty["n_labelled"] == 0 and empty["label_coverage"] == 0.0


def test_every_metric_has_a_direction():
    produced = set(classification_metrics(["1"], ["1"])) | set(regression_metrics([1.0], [1.0]))
    assert produced - {"n_labelled", "label_coverage"} == set(HIGHER_IS_BETTER)
    assert not HIGHER_IS_BETTER["log_loss"] and HIGHER_IS_BETTER["roc_auc"]


@pytest.mark.parametrize(
    ("metric", "current", "baseline", "mode", "drop", "status"),
    [
        ("accuracy", 0.90, 0.91, "absolute", 0.01, "ok"),
        ("accuracy", 0.86, 0.91, "absolute", 0.05, "warning"),
        ("accuracy", 0.80, 0.91, "absolute", 0.11, "alert"),
        ("accuracy", 0.95, 0.91, "absolute", -0.04, "ok"),
        ("rmse", 12.0, 10.0, "absolute", 2.0, "alert"),
        ("rmse", 8.0, 10.0, "absolute", -2.0, "ok"),
        ("rmse", 10.6, 10.0, "relative", 0.06, "warning"),
        ("f1", 0.72, 0.80, "relative", 0.10, "alert"),
        ("r2", -0.1, -0.2, "relative", -0.5, "ok"),
    ],
)
def test_drop_is_oriented_so_that_worse_is_positive(metric, current, baseline, mode, drop, status):
    result = compare_with_baseline(
        {metric: current}, {metric: baseline}, metric=metric, warning=0.05, alert=0.1, mode=mode
    )
    assert result.drop == pytest.approx(drop)
    assert result.status == status
    assert result.as_json()["status"] == status


def test_a_drop_equal_to_a_threshold_reaches_it():
    result = compare_with_baseline(
        {"accuracy": 0.5}, {"accuracy": 0.75}, metric="accuracy", warning=0.125, alert=0.25
    )
    assert result.drop == 0.25 and result.status == "alert"


def test_missing_figures_are_insufficient_data():
    for current, baseline, mode in (
        ({"accuracy": None}, {"accuracy": 0.9}, "absolute"),
        ({}, {"accuracy": 0.9}, "absolute"),
        ({"accuracy": 0.9}, {}, "absolute"),
        ({"mae": 1.0}, {"mae": 0.0}, "relative"),
    ):
        metric = next(iter(current), None) or next(iter(baseline))
        result = compare_with_baseline(
            current, baseline, metric=metric, warning=0.05, alert=0.1, mode=mode
        )
        assert result.status == "insufficient_data" and result.drop is None
    assert isinstance(result, Degradation)


def test_bad_comparisons_are_rejected():
    figures = {"accuracy": 0.9}
    with pytest.raises(ValueError, match="unknown metric"):
        compare_with_baseline(figures, figures, metric="speed", warning=0.1, alert=0.2)
    with pytest.raises(ValueError, match="unknown mode"):
        compare_with_baseline(figures, figures, metric="accuracy", warning=0.1, alert=0.2, mode="x")
    with pytest.raises(ValueError, match="above the alert"):
        compare_with_baseline(figures, figures, metric="accuracy", warning=0.3, alert=0.2)


def test_window_from_the_shared_builder_matches_sklearn_accuracy():
    window = classifier_window(
        rows=2_000, groups=["a"], group_shares=[1], classes=("x", "y", "z"), missing_label_share=0.5
    )
    ours = classification_metrics(window.labels, window.predictions)
    mask = pd.notna(window.labels)
    expected = skm.accuracy_score(
        window.labels[mask].astype(str), window.predictions[mask].astype(str)
    )
    assert_same(ours["accuracy"], expected, "accuracy")


def test_log_loss_clips_certain_mistakes_like_sklearn():
    labels = np.array(["1", "0", "1", "0"], dtype=object)
    scores = np.array([0.0, 1.0, 0.7, 0.2])
    ours = classification_metrics(labels, labels, scores=scores)
    expected = skm.log_loss([1, 0, 1, 0], np.column_stack([1 - scores, scores]))
    assert_same(ours["log_loss"], expected, "log_loss")
    assert ours["log_loss"] > 10
