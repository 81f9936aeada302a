"""Data quality: missing values, values out of the reference range, unseen categories, rejects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay_server.checks.profile import profile_reference
from assay_server.checks.quality import MAX_NEW_CATEGORIES, check_quality

from .drift_data import KINDS, as_window, mixed_frame, with_missing

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


def _by_feature(result):
    return {column.feature: column for column in result.columns}


def test_missing_share_counts_none_nan_and_infinity_on_both_sides():
    profile = profile_reference(
        {"x": [1.0, None, 3.0, 4.0], "c": ["a", None, None, "b"]},
        {"x": "numerical", "c": "categorical"},
    )
    result = check_quality(
        profile, {"x": [np.nan, np.inf, 2.0, 2.0, 2.0], "c": ["a", None, "a", "a", float("nan")]}
    )
    x, c = result.columns
    assert (x.n_current, x.missing_share, x.reference_missing_share) == (5, 0.4, 0.25)
    assert (c.n_current, c.missing_share, c.reference_missing_share) == (5, 0.4, 0.5)
    assert result.max_missing_share == 0.4


def test_out_of_range_share_is_over_non_missing_values_and_bounds_are_inclusive():
    profile = profile_reference({"x": [10.0, 20.0, 15.0, None]}, {"x": "numerical"})
    window = {"x": [10.0, 20.0, 9.999, 20.5, None, 15.0, -np.inf, 12.0]}
    column = check_quality(profile, window).columns[0]
    assert column.out_of_range_share == pytest.approx(2 / 6)
    assert column.new_category_share is None and column.new_categories == []


def test_out_of_range_is_unknown_when_the_reference_column_has_no_values():
    profile = profile_reference({"x": [None, None]}, {"x": "numerical"})
    result = check_quality(profile, {"x": [1.0, 2.0]})
    assert result.columns[0].out_of_range_share is None
    assert result.max_out_of_range_share == 0.0


def test_new_categories_are_shared_over_non_missing_values_and_listed_most_frequent_first():
    profile = profile_reference({"c": ["a", "b", "b"]}, {"c": "categorical"})
    window = ["a"] * 5 + ["x"] * 3 + ["y"] * 3 + ["z"] * 4 + [None] * 5
    column = check_quality(profile, {"c": pd.Series(window, dtype="category")}).columns[0]
    assert column.new_category_share == pytest.approx(10 / 15)
    assert column.new_categories == ["z", "x", "y"]  # ties by label
    assert column.out_of_range_share is None


def test_at_most_20_new_categories_are_listed():
    profile = profile_reference({"c": ["a"]}, {"c": "categorical"})
    window = [f"v{i:02d}" for i in range(30) for _ in range(i + 1)]
    column = check_quality(profile, {"c": window}).columns[0]
    assert len(column.new_categories) == MAX_NEW_CATEGORIES == 20
    assert column.new_categories[0] == "v29" and column.new_categories[-1] == "v10"
    assert column.new_category_share == 1.0


def test_numeric_categories_are_compared_by_their_canonical_label():
    profile = profile_reference({"c": np.array([1, 2, 3])}, {"c": "categorical"})
    window = pd.Series(["1", "2.0", "4"], dtype="category")
    column = check_quality(profile, {"c": window}).columns[0]
    assert column.new_categories == ["2.0", "4"]  # text "2.0" is not the number 2
    numbers = check_quality(profile, {"c": [1.0, 2.0, 4.0]}).columns[0]
    assert numbers.new_categories == ["4"]


def test_rejected_share_counts_rejected_rows_among_all_rows_received():
    profile = profile_reference({"x": [1.0, 2.0]}, {"x": "numerical"})
    result = check_quality(profile, {"x": [1.0] * 90}, rejected_rows=10)
    assert (result.rows, result.rejected_rows, result.rejected_share) == (90, 10, 0.1)
    assert check_quality(profile, {"x": []}).rejected_share == 0.0
    with pytest.raises(ValueError):
        check_quality(profile, {"x": [1.0]}, rejected_rows=-1)


def test_a_mixed_window_reports_every_profiled_column_and_the_worst_shares():
    reference = with_missing(mixed_frame(2000, seed=1), seed=2, share=0.05)
    current = with_missing(mixed_frame(1000, seed=3, shift=0.5), seed=4, share=0.3)
    current.loc[current.index[:100], "colour"] = "violet"
    current.loc[current.index[:7], "income"] = 10_000.0
    result = check_quality(profile_reference(reference, KINDS), as_window(current))
    columns = _by_feature(result)
    assert list(columns) == list(KINDS)
    assert columns["income"].missing_share == pytest.approx(current["income"].isna().mean())
    assert columns["income"].out_of_range_share >= 7 / 1000
    assert columns["colour"].new_categories == ["violet"]
    assert columns["colour"].new_category_share == pytest.approx(
        100 / current["colour"].notna().sum()
    )
    assert columns["flat"].out_of_range_share == 0.0
    assert result.max_missing_share == max(c.missing_share for c in result.columns)
    assert result.max_new_category_share == columns["colour"].new_category_share
    assert result.rows == 1000


def test_window_columns_of_different_lengths_are_refused():
    profile = profile_reference({"x": [1.0], "y": [2.0]}, {"x": "numerical", "y": "numerical"})
    with pytest.raises(ValueError, match="differ in length"):
        check_quality(profile, {"x": [1.0], "y": [1.0, 2.0]})


def test_result_json_has_the_documented_shape():
    profile = profile_reference(mixed_frame(300, seed=1), KINDS)
    document = check_quality(profile, mixed_frame(100, seed=2), rejected_rows=3).as_json()
    assert set(document) == {
        "columns",
        "rows",
        "rejected_rows",
        "rejected_share",
        "max_missing_share",
        "max_out_of_range_share",
        "max_new_category_share",
    }
    assert set(document["columns"][0]) == {
        "feature",
        "kind",
        "n_current",
        "missing_share",
        "reference_missing_share",
        "out_of_range_share",
        "new_category_share",
        "new_categories",
    }
    json.dumps(document, allow_nan=False)
