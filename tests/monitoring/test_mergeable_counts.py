"""The part-by-part accumulators give the one-shot functions' figures on random splits.

Each test cuts one window at random places, counts each part in an accumulator of its own
(or one accumulator fed part by part), merges them, and compares with the one-shot function
on the whole window: integer-count figures (quality, bias, confusion) must be identical,
figures built from float sums (regression, expected confusion) equal to 1e-12.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assay_server.checks.bias import measure_bias
from assay_server.checks.estimated import estimate_performance, fit_calibration
from assay_server.checks.outcome_counts import (
    BiasCounts,
    ConfusionCounts,
    ExpectedConfusion,
    RegressionSums,
)
from assay_server.checks.performance import classification_metrics, regression_metrics
from assay_server.checks.profile import profile_reference
from assay_server.checks.quality import check_quality
from assay_server.checks.quality_counts import QualityCounts
from assay_server.checks.sampling import SeededSample, concat_frames

from .drift_data import KINDS, as_window, mixed_frame, with_missing
from .labelled_data import classifier_window

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

SEEDS = range(6)


def _cuts(rows: int, seed: int) -> list[slice]:
    rng = np.random.default_rng(seed)
    points = np.sort(rng.choice(np.arange(1, rows), size=rng.integers(1, 8), replace=False))
    edges = [0, *points.tolist(), rows]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def _merged(make: Callable[[], Any], parts: Iterator[Callable[[Any], None]]) -> Any:
    """One accumulator per part (filled by each callable), merged into the first."""
    accumulators = []
    for fill in parts:
        accumulator = make()
        fill(accumulator)
        accumulators.append(accumulator)
    first = accumulators[0]
    for other in accumulators[1:]:
        first.merge(other)
    return first


@pytest.mark.parametrize("seed", SEEDS)
def test_quality_counts_merged_over_random_splits_equal_check_quality(seed: int) -> None:
    reference = mixed_frame(800, seed=1)
    profile = profile_reference(reference, KINDS)
    window = as_window(with_missing(mixed_frame(3000, seed=seed + 10, shift=0.7), seed=seed))
    window.loc[window.index[::97], "income"] = 1e9  # out of the reference range
    window["colour"] = window["colour"].cat.add_categories(["mauve", "teal"])
    window.loc[window.index[::50], "colour"] = "mauve"
    window.loc[window.index[::77], "colour"] = "teal"
    expected = check_quality(profile, window, rejected_rows=17).as_json()
    cuts = _cuts(len(window), seed)

    fed = QualityCounts(profile)
    for cut in cuts:
        fed.update(window.iloc[cut])
    merged = _merged(
        lambda: QualityCounts(profile),
        (lambda acc, cut=cut: acc.update(window.iloc[cut]) for cut in cuts),
    )
    assert fed.result(rejected_rows=17).as_json() == expected
    assert merged.result(rejected_rows=17).as_json() == expected
    assert expected["columns"][
        next(i for i, c in enumerate(expected["columns"]) if c["feature"] == "colour")
    ]["new_categories"] == ["mauve", "teal"]


def test_a_column_absent_from_some_parts_counts_as_missing_there() -> None:
    profile = profile_reference(
        {"x": [1.0, 2.0], "c": ["a", "b"]}, {"x": "numerical", "c": "categorical"}
    )
    first = pd.DataFrame({"x": [1.0, 5.0]})  # no "c" in this part
    second = pd.DataFrame({"x": [2.0], "c": pd.Series(["z"], dtype="category")})
    whole = pd.DataFrame({"x": [1.0, 5.0, 2.0], "c": [None, None, "z"]})
    counts = QualityCounts(profile)
    counts.update(first)
    counts.update(second)
    assert counts.result().as_json() == check_quality(profile, whole).as_json()
    merged = _merged(
        lambda: QualityCounts(profile),
        iter([lambda acc: acc.update(first), lambda acc: acc.update(second)]),
    )
    assert merged.result().as_json() == check_quality(profile, whole).as_json()


@pytest.mark.parametrize("seed", SEEDS)
def test_bias_counts_merged_over_random_splits_equal_measure_bias(seed: int) -> None:
    window = classifier_window(
        rows=4000,
        groups=["a", "b", "c", "rare"],
        group_shares=[0.5, 0.3, 0.195, 0.005],
        missing_label_share=0.3,
        missing_group_share=0.02,
        seed=seed,
    )
    other = np.where(np.arange(4000) % 3 == 0, "x", "y").astype(object)
    sensitive = {"g": window.sensitive, "h": other}
    expected = [
        r.as_json()
        for r in measure_bias(
            window.predictions, sensitive, labels=window.labels, min_group_count=40
        )
    ]
    cuts = _cuts(4000, seed)

    def fill(acc: BiasCounts, cut: slice) -> None:
        acc.update(
            window.predictions[cut],
            {name: values[cut] for name, values in sensitive.items()},
            labels=window.labels[cut],
        )

    merged = _merged(
        lambda: BiasCounts(min_group_count=40), (lambda a, c=c: fill(a, c) for c in cuts)
    )
    assert [r.as_json() for r in merged.result(["g", "h"])] == expected


def test_a_sensitive_feature_first_seen_in_a_later_part_puts_earlier_rows_in_missing() -> None:
    predictions = np.array(["1", "0", "1", "1", "0"], dtype=object)
    labels = np.array(["1", "1", None, "0", "0"], dtype=object)
    groups = np.array([None, None, "a", "b", "a"], dtype=object)
    expected = measure_bias(predictions, {"g": groups}, labels=labels, min_group_count=1)
    counts = BiasCounts(min_group_count=1)
    counts.update(predictions[:2], {}, labels=labels[:2])
    counts.update(predictions[2:], {"g": groups[2:]}, labels=labels[2:])
    assert [r.as_json() for r in counts.result(["g"])] == [r.as_json() for r in expected]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [("0", "1"), ("low", "mid", "high")])
def test_confusion_counts_merged_over_random_splits_equal_classification_metrics(
    seed: int, classes: tuple[str, ...]
) -> None:
    window = classifier_window(
        rows=3000,
        groups=["a", "b"],
        group_shares=[1, 1],
        classes=classes,
        missing_label_share=0.25,
        seed=seed,
    )
    positive = classes[-1]
    expected = classification_metrics(window.labels, window.predictions, positive_label=positive)
    merged = _merged(
        ConfusionCounts,
        (
            lambda a, c=c: a.update(window.labels[c], window.predictions[c])
            for c in _cuts(3000, seed)
        ),
    )
    assert merged.result(positive_label=positive) == expected


def test_confusion_counts_keep_the_one_shot_class_order_when_a_class_appears_late() -> None:
    labels = np.array([None, "b", "a", "c", "c"], dtype=object)
    predictions = np.array(["c", "b", "b", "a", "c"], dtype=object)
    expected = classification_metrics(labels, predictions, positive_label="c")
    counts = ConfusionCounts()
    for cut in (slice(0, 1), slice(1, 3), slice(3, 5)):
        counts.update(labels[cut], predictions[cut])
    assert counts.classes == ["b", "a", "c"]
    assert counts.result(positive_label="c") == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_sums_merged_over_random_splits_equal_regression_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(100, 20, 5000)
    predicted = truth + rng.normal(3, 9, 5000)
    truth[rng.random(5000) < 0.2] = np.nan
    expected = regression_metrics(truth, predicted)
    merged = _merged(
        RegressionSums, (lambda a, c=c: a.update(truth[c], predicted[c]) for c in _cuts(5000, seed))
    )
    result = merged.result()
    assert result.keys() == expected.keys()
    assert result["n_labelled"] == expected["n_labelled"]
    for name in ("mae", "rmse", "r2", "label_coverage"):
        assert result[name] == pytest.approx(expected[name], rel=1e-12), name


def test_regression_sums_agree_where_r2_is_undefined() -> None:
    for truth, predicted in (
        ([3.0, 3.0, 3.0], [2.0, 3.0, 4.0]),
        ([1.0, None], [1.5, 2.0]),
        ([None, None], [1.0, 2.0]),
    ):
        sums = RegressionSums()
        sums.update(truth[:1], predicted[:1])
        sums.update(truth[1:], predicted[1:])
        assert sums.result() == pytest.approx(regression_metrics(truth, predicted))


@pytest.mark.parametrize("seed", SEEDS)
def test_expected_confusion_merged_over_random_splits_equals_estimate_performance(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    reference_scores = rng.uniform(0, 1, 2000)
    reference_labels = np.where(rng.uniform(0, 1, 2000) < reference_scores, "1", "0")
    calibration = fit_calibration(reference_scores, reference_labels)
    scores = rng.beta(2, 3, 6000)
    scores[rng.random(6000) < 0.1] = np.nan
    predictions = np.where(rng.random(6000) < 0.5, "1", "0").astype(object)
    expected = estimate_performance(calibration, scores, predictions=predictions)
    merged = _merged(
        lambda: ExpectedConfusion(calibration),
        (lambda a, c=c: a.update(scores[c], predictions[c]) for c in _cuts(6000, seed)),
    )
    result = merged.result()
    assert result["n_estimated"] == expected["n_estimated"]
    for name in ("accuracy", "precision", "recall", "f1"):
        assert result[name] == pytest.approx(expected[name], rel=1e-12), name
    by_threshold = ExpectedConfusion(calibration, threshold=0.3)
    by_threshold.update(scores)
    assert by_threshold.result() == pytest.approx(
        estimate_performance(calibration, scores, threshold=0.3)
    )


def _window(rows: int, seed: int) -> pd.DataFrame:
    frame = as_window(mixed_frame(rows, seed=seed))
    frame.insert(0, "prediction_id", [f"p-{i}" for i in range(rows)])
    return frame


@pytest.mark.parametrize("seed", SEEDS)
def test_the_sample_does_not_depend_on_how_the_window_is_cut(seed: int) -> None:
    window = _window(5000, seed)
    whole = SeededSample(700, seed=42)
    whole.update(window)
    cut = SeededSample(700, seed=42)
    for part in _cuts(5000, seed):
        cut.update(window.iloc[part])
    expected = whole.result()
    assert len(expected) == 700 and whole.sampled
    pd.testing.assert_frame_equal(cut.result(), expected)
    assert expected["prediction_id"].is_unique
    # in the window's order, and each row the window's own
    positions = expected["prediction_id"].str.slice(2).astype(int).to_numpy()
    assert (np.diff(positions) > 0).all()
    pd.testing.assert_frame_equal(
        expected.drop(columns="prediction_id"),
        window.iloc[positions].drop(columns="prediction_id").reset_index(drop=True),
        check_categorical=False,
    )
    other = SeededSample(700, seed=43)
    other.update(window)
    assert set(other.result()["prediction_id"]) != set(expected["prediction_id"])


def test_the_sample_is_uniform() -> None:
    """Over 400 seeds, each of 100 rows is kept about 20% of the time (chi-squared)."""
    from scipy.stats import chisquare

    frame = pd.DataFrame({"prediction_id": [str(i) for i in range(100)]})
    kept = np.zeros(100)
    for seed in range(400):
        sample = SeededSample(20, seed=seed)
        for cut in _cuts(100, seed):
            sample.update(frame.iloc[cut])
        kept[sample.result()["prediction_id"].astype(int).to_numpy()] += 1
    assert kept.sum() == 400 * 20
    assert chisquare(kept).pvalue > 0.001


def test_a_window_smaller_than_the_sample_is_kept_whole() -> None:
    window = _window(300, 1)
    sample = SeededSample(1000, seed=7)
    sample.update(window.iloc[:100])
    sample.update(window.iloc[100:])
    assert not sample.sampled
    pd.testing.assert_frame_equal(sample.result(), window, check_categorical=False)


def test_an_empty_window_gives_an_empty_sample() -> None:
    sample = SeededSample(10, seed=1)
    sample.update(pd.DataFrame({"prediction_id": pd.Series([], dtype=object)}))
    assert sample.result().empty and not sample.sampled and sample.rows == 0


def test_concat_frames_keeps_categories_and_fills_absent_columns() -> None:
    first = pd.DataFrame({"c": pd.Series(["a", "b"], dtype="category"), "x": [1.0, 2.0]})
    second = pd.DataFrame({"c": pd.Series(["z"], dtype="category")})
    both = concat_frames([first, second])
    assert isinstance(both["c"].dtype, pd.CategoricalDtype)
    assert both["c"].tolist() == ["a", "b", "z"]
    assert both["x"].isna().tolist() == [False, False, True]
