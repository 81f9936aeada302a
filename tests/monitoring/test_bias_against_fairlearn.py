"""measure_bias against fairlearn, the definition, on the same data (within 1e-9)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from assay_server.checks.bias import MISSING_GROUP, SensitiveFeatureBias, measure_bias

from .labelled_data import LabelledWindow, as_dtype, classifier_window

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

TOLERANCE = 1e-9
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)


@dataclass(frozen=True)
class Oracle:
    """fairlearn's per-group figures (all groups) and disparities (eligible groups only)."""

    by_group: dict[str, dict[str, float]]
    disparities: dict[str, float]


def _group_names(sensitive: Any) -> pd.Series:
    series = pd.Series(sensitive, dtype=object)
    return series.where(series.notna(), MISSING_GROUP).astype(str)


def fairlearn_oracle(
    predictions: Any, labels: Any, sensitive: Any, *, favourable: Any, min_group_count: int
) -> Oracle:
    """Compute every figure with fairlearn on plain object arrays, one-vs-rest on ``favourable``."""
    predictions = pd.Series(predictions, dtype=object)
    groups = _group_names(sensitive)
    selected = (predictions == favourable).astype(int).to_numpy()
    labels = pd.Series([None] * len(predictions) if labels is None else labels, dtype=object)
    labelled = labels.notna().to_numpy()
    positive = (labels == favourable).astype(int).to_numpy()

    by_group: dict[str, dict[str, float]] = {}
    rates = MetricFrame(
        metrics=selection_rate, y_true=selected, y_pred=selected, sensitive_features=groups
    ).by_group
    for name, rate in rates.items():
        by_group[name] = {"selection_rate": rate}
    if labelled.any():
        accuracy = MetricFrame(
            metrics=accuracy_score,
            y_true=labels[labelled].to_numpy(),
            y_pred=predictions[labelled].to_numpy(),
            sensitive_features=groups[labelled],
        ).by_group
        rates = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=positive[labelled],
            y_pred=selected[labelled],
            sensitive_features=groups[labelled],
        ).by_group
        for name in accuracy.index:
            by_group[name]["accuracy"] = accuracy[name]
            by_group[name]["tpr"] = rates.loc[name, "tpr"]
            by_group[name]["fpr"] = rates.loc[name, "fpr"]

    counts = groups.value_counts()
    eligible = groups.isin(counts[counts >= min_group_count].index).to_numpy()
    disparities = dict.fromkeys(DISPARITIES, math.nan)
    if eligible.any():
        kept = {"y_true": selected[eligible], "y_pred": selected[eligible]}
        kept["sensitive_features"] = groups[eligible]
        disparities["demographic_parity_difference"] = demographic_parity_difference(**kept)
        disparities["demographic_parity_ratio"] = demographic_parity_ratio(**kept)
    both = eligible & labelled
    if both.any():
        kept = {"y_true": positive[both], "y_pred": selected[both]}
        kept["sensitive_features"] = groups[both]
        disparities["equalized_odds_difference"] = equalized_odds_difference(**kept)
        disparities["equalized_odds_ratio"] = equalized_odds_ratio(**kept)
    return Oracle(by_group=by_group, disparities=disparities)


def assert_same(ours: float | None, theirs: float | None, what: str) -> None:
    """None on our side is fairlearn's NaN (or absence); otherwise equal within TOLERANCE."""
    if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        assert ours is None, f"{what}: ours {ours}, fairlearn undefined"
        return
    assert ours is not None, f"{what}: ours None, fairlearn {theirs}"
    assert abs(ours - theirs) <= TOLERANCE, f"{what}: ours {ours}, fairlearn {theirs}"


def assert_matches_fairlearn(
    result: SensitiveFeatureBias,
    window: LabelledWindow,
    *,
    favourable: Any,
    min_group_count: int,
    labels: Any = "window",
) -> None:
    """Compare every per-group figure and the four disparities with the oracle."""
    labels = window.labels if isinstance(labels, str) else labels
    oracle = fairlearn_oracle(
        window.predictions,
        labels,
        window.sensitive,
        favourable=favourable,
        min_group_count=min_group_count,
    )
    groups = {group.group: group for group in result.groups}
    assert set(groups) == set(oracle.by_group)
    sizes = _group_names(window.sensitive).value_counts()
    for name, expected in oracle.by_group.items():
        group = groups[name]
        assert group.count == sizes[name]
        assert group.below_min_count == (sizes[name] < min_group_count)
        assert_same(group.selection_rate, expected["selection_rate"], f"{name} selection_rate")
        for figure in ("accuracy", "tpr", "fpr"):
            assert_same(getattr(group, figure), expected.get(figure), f"{name} {figure}")
    for figure in DISPARITIES:
        assert_same(getattr(result, figure), oracle.disparities[figure], figure)


def test_binary_string_outcomes_match_fairlearn():
    window = classifier_window(rows=20_000, groups=["a", "b", "c"], group_shares=[5, 3, 2])
    (result,) = measure_bias(window.predictions, {"region": window.sensitive}, labels=window.labels)
    assert_matches_fairlearn(result, window, favourable="1", min_group_count=30)
    assert result.demographic_parity_difference > 0.01
    assert result.equalized_odds_difference > 0.05


def test_integer_outcomes_with_missing_labels_match_fairlearn():
    window = classifier_window(
        rows=15_000,
        groups=["x", "y", "z"],
        group_shares=[1, 1, 1],
        missing_label_share=0.4,
        seed=1,
    )
    predictions = window.predictions.astype(int)
    labels = pd.array([None if v is None else int(v) for v in window.labels], dtype="Int64")
    (result,) = measure_bias(
        predictions, {"g": window.sensitive}, labels=labels, favourable_label=1
    )
    as_int = LabelledWindow(
        predictions=predictions,
        labels=np.array([None if v is None else int(v) for v in window.labels], dtype=object),
        sensitive=window.sensitive,
    )
    assert_matches_fairlearn(result, as_int, favourable=1, min_group_count=30)
    assert all(group.labelled < group.count for group in result.groups)


def test_multiclass_is_one_vs_rest_on_the_favourable_label():
    window = classifier_window(
        rows=12_000,
        groups=["north", "south", "east"],
        group_shares=[4, 4, 2],
        classes=("approve", "review", "decline"),
        missing_label_share=0.1,
        seed=2,
    )
    (result,) = measure_bias(
        window.predictions,
        {"region": window.sensitive},
        labels=window.labels,
        favourable_label="approve",
    )
    assert_matches_fairlearn(result, window, favourable="approve", min_group_count=30)
    # accuracy is the plain multiclass accuracy, not the one-vs-rest one
    north = next(group for group in result.groups if group.group == "north")
    mask = (window.sensitive == "north") & pd.notna(window.labels)
    assert north.accuracy == pytest.approx(
        accuracy_score(window.labels[mask].astype(str), window.predictions[mask].astype(str)),
        abs=TOLERANCE,
    )


def test_small_and_missing_groups_are_listed_but_left_out_of_disparities():
    window = classifier_window(
        rows=6_000,
        groups=["big", "medium", "tiny"],
        group_shares=[60, 39.7, 0.3],
        missing_label_share=0.2,
        missing_group_share=0.002,
        seed=3,
    )
    (result,) = measure_bias(
        window.predictions, {"g": window.sensitive}, labels=window.labels, min_group_count=50
    )
    flagged = {group.group for group in result.groups if group.below_min_count}
    assert flagged == {"tiny", MISSING_GROUP}
    assert result.groups[-1].group == MISSING_GROUP
    assert_matches_fairlearn(result, window, favourable="1", min_group_count=50)


def test_a_tiny_group_with_extreme_rates_cannot_move_the_disparities():
    window = classifier_window(rows=5_000, groups=["a", "b"], group_shares=[1, 1], seed=4)
    predictions = np.concatenate([window.predictions, np.array(["1"] * 5, dtype=object)])
    labels = np.concatenate([window.labels, np.array(["0"] * 5, dtype=object)])
    sensitive = np.concatenate([window.sensitive, np.array(["rare"] * 5, dtype=object)])
    (without,) = measure_bias(window.predictions, {"g": window.sensitive}, labels=window.labels)
    (with_rare,) = measure_bias(predictions, {"g": sensitive}, labels=labels)
    rare = next(group for group in with_rare.groups if group.group == "rare")
    assert rare.selection_rate == 1.0 and rare.fpr == 1.0 and rare.below_min_count
    for figure in DISPARITIES:
        assert getattr(with_rare, figure) == getattr(without, figure)


@pytest.mark.parametrize("kind", ["category", "arrow"])
def test_pandas_category_and_arrow_strings_give_the_object_figures(kind):
    window = classifier_window(
        rows=8_000, groups=["a", "b", "c"], group_shares=[2, 1, 1], missing_label_share=0.3, seed=5
    )
    (expected,) = measure_bias(window.predictions, {"g": window.sensitive}, labels=window.labels)
    (result,) = measure_bias(
        as_dtype(window.predictions, kind),
        {"g": as_dtype(window.sensitive, kind)},
        labels=as_dtype(window.labels, kind),
    )
    assert result == expected
    assert_matches_fairlearn(result, window, favourable="1", min_group_count=30)


def test_categoricals_compare_by_value_and_unused_categories_are_no_groups():
    window = classifier_window(rows=3_000, groups=["a", "b"], group_shares=[1, 1], seed=6)
    predictions = pd.Categorical(window.predictions, categories=["1", "0"])
    labels = pd.Categorical(window.labels, categories=["0", "1", "unused"])
    sensitive = pd.Categorical(window.sensitive, categories=["b", "a", "ghost"])
    (result,) = measure_bias(predictions, {"g": sensitive}, labels=labels)
    assert [group.group for group in result.groups] == ["a", "b"]
    assert_matches_fairlearn(result, window, favourable="1", min_group_count=30)


def test_without_labels_only_selection_figures_are_computed():
    window = classifier_window(rows=4_000, groups=["a", "b", "c"], group_shares=[1, 2, 3], seed=7)
    (result,) = measure_bias(window.predictions, {"g": window.sensitive})
    assert result.equalized_odds_difference is None and result.equalized_odds_ratio is None
    assert all(g.labelled == 0 and g.accuracy is g.tpr is g.fpr is None for g in result.groups)
    assert_matches_fairlearn(result, window, favourable="1", min_group_count=30, labels=None)


def test_a_group_without_positive_labels_has_fairlearns_zero_tpr():
    window = classifier_window(rows=4_000, groups=["a", "b"], group_shares=[1, 1], seed=8)
    labels = window.labels.copy()
    labels[window.sensitive == "b"] = "0"
    (result,) = measure_bias(window.predictions, {"g": window.sensitive}, labels=labels)
    b = next(group for group in result.groups if group.group == "b")
    assert b.tpr == 0.0
    fixed = LabelledWindow(window.predictions, labels, window.sensitive)
    assert_matches_fairlearn(result, fixed, favourable="1", min_group_count=30)


def test_perfect_predictions_give_fairlearns_odds_figures():
    # every FPR is 0, so fairlearn's FPR ratio is NaN and the odds ratio is the TPR ratio
    window = classifier_window(rows=3_000, groups=["a", "b"], group_shares=[1, 1], seed=9)
    perfect = LabelledWindow(window.labels.copy(), window.labels, window.sensitive)
    (result,) = measure_bias(perfect.predictions, {"g": perfect.sensitive}, labels=perfect.labels)
    assert result.equalized_odds_difference == 0.0
    assert result.equalized_odds_ratio == 1.0
    assert_matches_fairlearn(result, perfect, favourable="1", min_group_count=30)


def test_nobody_selected_leaves_the_ratios_undefined():
    window = classifier_window(rows=3_000, groups=["a", "b"], group_shares=[1, 1], seed=10)
    nobody = LabelledWindow(
        np.array(["0"] * len(window.labels), dtype=object), window.labels, window.sensitive
    )
    (result,) = measure_bias(nobody.predictions, {"g": nobody.sensitive}, labels=nobody.labels)
    assert result.demographic_parity_difference == 0.0
    assert result.demographic_parity_ratio is None
    assert result.equalized_odds_ratio is None
    assert_matches_fairlearn(result, nobody, favourable="1", min_group_count=30)


def test_one_eligible_group_has_no_disparity_and_none_has_no_figures():
    window = classifier_window(rows=2_000, groups=["a", "b"], group_shares=[98, 2], seed=11)
    (one,) = measure_bias(
        window.predictions, {"g": window.sensitive}, labels=window.labels, min_group_count=100
    )
    assert one.demographic_parity_difference == 0.0 and one.demographic_parity_ratio == 1.0
    assert_matches_fairlearn(one, window, favourable="1", min_group_count=100)
    (none,) = measure_bias(
        window.predictions, {"g": window.sensitive}, labels=window.labels, min_group_count=10_000
    )
    assert all(getattr(none, figure) is None for figure in DISPARITIES)
    assert all(group.below_min_count for group in none.groups)


def test_every_sensitive_feature_gets_its_own_summary_in_json():
    window = classifier_window(rows=5_000, groups=["a", "b", "c"], group_shares=[1, 1, 1], seed=12)
    age_band = np.random.default_rng(1012).integers(1, 4, size=5_000)
    results = measure_bias(
        window.predictions,
        {"region": window.sensitive, "age_band": age_band},
        labels=window.labels,
    )
    assert [result.feature for result in results] == ["region", "age_band"]
    by_age = LabelledWindow(window.predictions, window.labels, age_band)
    assert_matches_fairlearn(results[1], by_age, favourable="1", min_group_count=30)
    payload = json.loads(json.dumps(results[0].as_json()))
    assert set(DISPARITIES) <= set(payload)
    assert [row["group"] for row in payload["groups"]] == ["a", "b", "c"]
    assert set(payload["groups"][0]) == {
        "group",
        "count",
        "labelled",
        "selection_rate",
        "accuracy",
        "tpr",
        "fpr",
        "below_min_count",
    }


def test_a_sensitive_feature_of_another_length_is_rejected():
    with pytest.raises(ValueError, match="rows"):
        measure_bias(["1", "0", "1"], {"g": ["a", "b"]})


def test_an_undefined_tpr_ratio_makes_the_odds_ratio_undefined_as_in_fairlearn():
    # no true positive anywhere: every TPR is 0, its ratio NaN, and fairlearn's min() keeps NaN
    window = classifier_window(rows=3_000, groups=["a", "b"], group_shares=[1, 1], seed=13)
    coin = np.random.default_rng(1013).random(len(window.labels)) < 0.5
    inverted = np.where((window.labels == "0") & coin, "1", "0").astype(object)
    wrong = LabelledWindow(inverted, window.labels, window.sensitive)
    (result,) = measure_bias(wrong.predictions, {"g": wrong.sensitive}, labels=wrong.labels)
    assert all(group.tpr == 0.0 and group.fpr > 0.3 for group in result.groups)
    assert result.equalized_odds_ratio is None
    assert result.equalized_odds_difference is not None
    assert_matches_fairlearn(result, wrong, favourable="1", min_group_count=30)
