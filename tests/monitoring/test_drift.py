"""Drift check: method selection, decisions, scores against scipy, edge cases, result shape."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from assay_server.checks import drift_scores
from assay_server.checks.drift import (
    DEFAULT_DRIFT_SHARE,
    DEFAULT_THRESHOLDS,
    METHODS,
    detect_drift,
    is_drifted,
    select_method,
    validate_methods,
)
from assay_server.checks.profile import profile_reference

from .drift_data import KINDS, as_window, mixed_frame, with_missing

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


def _one_numerical(reference, current, method=None):
    profile = profile_reference({"x": np.asarray(reference, dtype=float)}, {"x": "numerical"})
    result = detect_drift(
        profile, {"x": np.asarray(current, dtype=float)}, methods={"x": method} if method else None
    )
    return result.columns[0]


@pytest.mark.parametrize(
    ("kind", "n_reference", "n_distinct", "expected"),
    [
        ("numerical", 1000, 6, "ks"),
        ("numerical", 1000, 5, "chisquare"),
        ("numerical", 1000, 3, "chisquare"),
        ("numerical", 1000, 2, "z"),
        ("numerical", 1000, 1, "z"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 10, 40, "chisquare"),
        ("numerical", 1001, 6, "wasserstein"),
        ("numerical", 1001, 5, "jensenshannon"),
        ("categorical", 1001, 2, "jensenshannon"),
        ("categorical", 1001, 50, "jensenshannon"),
    ],
)
def test_method_is_selected_as_evidently_does(kind, n_reference, n_distinct, expected):
    assert select_method(kind, n_reference, n_distinct) == expected


def test_p_value_methods_drift_below_threshold_and_distances_at_or_above_it():
    assert is_drifted("ks", 0.05, 0.05)  # Evidently's K-S uses <=
    assert not is_drifted("chisquare", 0.05, 0.05)
    assert is_drifted("chisquare", 0.049, 0.05)
    assert not is_drifted("z", 0.05, 0.05)
    assert is_drifted("wasserstein", 0.1, 0.1)
    assert not is_drifted("jensenshannon", 0.099, 0.1)
    assert is_drifted("psi", 0.2, 0.1)
    for method in METHODS:
        assert not is_drifted(method, math.nan, DEFAULT_THRESHOLDS[method])


def test_default_thresholds_are_evidentlys():
    assert DEFAULT_THRESHOLDS == {
        "ks": 0.05,
        "chisquare": 0.05,
        "z": 0.05,
        "wasserstein": 0.1,
        "jensenshannon": 0.1,
        "psi": 0.1,
    }
    assert DEFAULT_DRIFT_SHARE == 0.5


def test_unknown_method_and_method_of_the_wrong_kind_are_refused():
    with pytest.raises(ValueError, match="unknown drift method"):
        validate_methods({"x": "numerical"}, {"x": "mmd"})
    with pytest.raises(ValueError, match="does not apply"):
        validate_methods({"x": "categorical"}, {"x": "ks"})
    with pytest.raises(ValueError, match="does not apply"):
        validate_methods({"x": "numerical"}, {"x": "chisquare"})
    validate_methods({"x": "numerical", "y": "categorical"}, {"x": "psi", "y": "z", "gone": "ks"})
    profile = profile_reference({"x": ["a", "b"]}, {"x": "categorical"})
    with pytest.raises(ValueError):
        detect_drift(profile, {"x": ["a", "b"]}, methods={"x": "wasserstein"})


@pytest.mark.parametrize(("n", "m"), [(300, 200), (5000, 1234), (2000, 2000)])
def test_ks_and_wasserstein_equal_scipy_on_the_same_values(n, m):
    rng = np.random.default_rng(n + m)
    reference = rng.normal(0, 2, n)
    current = rng.normal(0.3, 2.2, m)
    ks = _one_numerical(reference, current, "ks")
    assert ks.score == pytest.approx(stats.ks_2samp(reference, current).pvalue, abs=1e-12)
    wasserstein = _one_numerical(reference, current, "wasserstein")
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein.score == pytest.approx(expected, rel=1e-12)


def test_wasserstein_is_exact_with_ties_and_columns_sharing_sample_sizes():
    # the first column of a pair of sizes merges the samples; the next ones reuse quantile pieces
    rng = np.random.default_rng(7)
    reference = {
        "a": rng.integers(0, 9, 3000).astype(float),
        "b": rng.normal(size=3000),
        "c": rng.integers(0, 5, 3000).astype(float),
        "d": np.append(rng.normal(size=2999), np.nan),  # other sizes: merged again
    }
    current = {
        "a": rng.integers(1, 12, 1500).astype(float),
        "b": rng.normal(1, 1, 1500),
        "c": rng.integers(2, 6, 1500).astype(float),
        "d": rng.normal(1, 1, 1500),
    }
    kinds = dict.fromkeys(reference, "numerical")
    profile = profile_reference(reference, kinds)
    result = detect_drift(profile, current, methods=dict.fromkeys(reference, "wasserstein"))
    assert len(result.columns) == 4
    for column in result.columns:
        values = reference[column.feature]
        values = values[np.isfinite(values)]
        expected = stats.wasserstein_distance(values, current[column.feature]) / np.std(values)
        assert column.score == pytest.approx(expected, rel=1e-12), column.feature


@pytest.mark.parametrize(("n", "m"), [(7, 3), (4, 6), (1000, 1000), (999, 2500)])
def test_quantile_pieces_and_merging_give_the_same_distance(n, m):
    rng = np.random.default_rng(n * m)
    reference = np.sort(rng.integers(0, 20, n).astype(float))
    current = np.sort(rng.normal(10, 5, m))
    pieces = drift_scores.QuantilePieces.of_sizes(n, m)
    by_pieces = np.dot(
        pieces.widths, np.abs(reference[pieces.in_reference] - current[pieces.in_current])
    ) / (n * m)
    expected = stats.wasserstein_distance(reference, current)
    assert by_pieces == pytest.approx(expected, rel=1e-12)
    assert drift_scores.merged_wasserstein(reference, current) == pytest.approx(expected, rel=1e-12)


def test_wasserstein_norm_is_floored_at_0_001_for_a_constant_reference():
    column = _one_numerical(np.full(2000, 5.0), np.full(100, 5.5), "wasserstein")
    assert column.score == pytest.approx(0.5 / 0.001)
    assert column.drifted


@pytest.mark.parametrize("m", [50, 999, 20000])
def test_binning_uses_numpys_sturges_edges_over_both_sides(m):
    rng = np.random.default_rng(m)
    reference = np.sort(rng.gamma(2.0, 3.0, 4000))
    current = np.sort(rng.gamma(2.2, 3.0, m))
    edges = drift_scores.sturges_edges(reference, current)
    np.testing.assert_array_equal(
        edges, np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    )
    np.testing.assert_array_equal(
        drift_scores.histogram_sorted(current, edges), np.histogram(current, edges)[0]
    )


def _filled(shares):
    """Evidently's PSI filler for empty bins, written out plainly."""
    smallest = shares[shares > 0].min()
    return np.where(shares == 0, smallest / 1e6 if smallest <= 1e-4 else 1e-4, shares)


def test_jensenshannon_and_psi_on_a_histogram_equal_their_definitions():
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=3000), rng.normal(0.2, 1, 800)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    p = np.histogram(reference, edges)[0] / reference.size
    q = np.histogram(current, edges)[0] / current.size
    js = _one_numerical(reference, current, "jensenshannon")
    assert js.score == pytest.approx(distance.jensenshannon(p, q), abs=1e-12)
    p, q = _filled(p), _filled(q)
    psi = _one_numerical(reference, current, "psi")
    assert psi.score == pytest.approx(np.sum((p - q) * np.log(p / q)), abs=1e-12)


def test_chisquare_on_categories_compares_window_counts_with_scaled_reference_counts():
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    current = ["a"] * 20 + ["b"] * 20 + ["c"] * 20 + ["d"] * 5
    profile = profile_reference({"x": reference}, {"x": "categorical"})
    column = detect_drift(profile, {"x": current}).columns[0]
    assert column.method == "chisquare"
    assert column.score == 0.0  # a category the reference never had: expected 0, statistic inf
    assert column.drifted
    without_new = detect_drift(profile, {"x": current[:60]}).columns[0]
    expected = stats.chisquare([20, 20, 20], np.array([50, 30, 20]) * 60 / 100).pvalue
    assert without_new.score == pytest.approx(expected, abs=1e-12)


def test_z_test_of_a_binary_column_is_the_two_proportion_test():
    reference = ["yes"] * 300 + ["no"] * 700
    current = ["yes"] * 150 + ["no"] * 250
    profile = profile_reference({"x": reference}, {"x": "categorical"})
    column = detect_drift(profile, {"x": current}).columns[0]
    p1, p2, pooled = 0.7, 250 / 400, (700 + 250) / 1400
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 400))
    assert column.method == "z"
    assert column.score == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-12)


def test_constant_column_equal_on_both_sides_does_not_drift():
    column = _one_numerical(np.full(500, 1.0), np.full(300, 1.0))
    assert (column.method, column.score, column.drifted) == ("z", 1.0, False)


def test_a_side_without_values_is_not_tested_not_drifted_and_counted():
    profile = profile_reference(
        {"x": [1.0, 2.0, 3.0] * 100, "y": ["a", "b"] * 150}, {"x": "numerical", "y": "categorical"}
    )
    result = detect_drift(
        profile, {"x": [np.nan, None, np.inf] * 10, "y": ["a", "b", "a"] * 10}, drift_share=0.5
    )
    x = result.columns[0]
    assert math.isnan(x.score) and not x.drifted
    assert (x.n_reference, x.n_current) == (300, 0)
    assert x.as_json()["score"] is None
    assert len(result.columns) == 2 and result.as_json()["n_columns"] == 2
    empty_reference = profile_reference({"x": [None] * 10}, {"x": "categorical"})
    y = detect_drift(empty_reference, {"x": ["a"] * 10}).columns[0]
    assert math.isnan(y.score) and not y.drifted and y.n_reference == 0


def test_share_and_dataset_flag_follow_drift_share():
    reference = mixed_frame(3000, seed=1)
    profile = profile_reference(reference, KINDS)
    current = as_window(mixed_frame(3000, seed=2, shift=0.5))
    result = detect_drift(profile, current)
    assert 0 < result.n_drifted < len(KINDS)
    assert result.n_drifted == sum(column.drifted for column in result.columns)
    assert result.share_drifted == pytest.approx(result.n_drifted / len(KINDS))
    assert detect_drift(profile, current, drift_share=result.share_drifted).dataset_drift
    assert not detect_drift(profile, current, drift_share=result.share_drifted + 0.01).dataset_drift
    same = detect_drift(profile, as_window(mixed_frame(3000, seed=3)))
    assert same.n_drifted == 0 and not same.dataset_drift


def test_only_profiled_columns_present_in_the_window_are_tested_in_profile_order():
    profile = profile_reference(mixed_frame(200, seed=1), KINDS)
    window = mixed_frame(100, seed=2)[["member", "income", "colour"]].assign(extra=1.0)
    result = detect_drift(profile, window)
    assert [column.feature for column in result.columns] == ["income", "colour", "member"]
    nothing = detect_drift(profile, {"unrelated": [1.0]})
    assert (nothing.columns, nothing.share_drifted, nothing.dataset_drift) == ([], 0.0, False)


def test_window_as_category_dtype_gives_the_same_result_as_plain_values():
    reference = with_missing(mixed_frame(2500, seed=4), seed=5)
    current = with_missing(mixed_frame(900, seed=6, shift=0.2), seed=7)
    profile = profile_reference(reference, KINDS)
    plain = detect_drift(profile, current)
    category = detect_drift(profile, as_window(current))
    assert plain.as_json() == category.as_json()


def test_numeric_coded_and_boolean_categoricals_match_their_text_form():
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 4, 600)
    flags = rng.random(600) < 0.4
    profile = profile_reference(
        {"code": codes, "flag": flags}, {"code": "categorical", "flag": "categorical"}
    )
    window = {
        "code": pd.Series(codes[:300].astype(str), dtype="category"),
        "flag": flags[:300].astype(str),
    }
    as_numbers = detect_drift(profile, {"code": codes[:300].astype(float), "flag": flags[:300]})
    as_text = detect_drift(profile, window)
    assert as_numbers.as_json() == as_text.as_json()
    assert [c.n_current for c in as_text.columns] == [300, 300]


def test_per_column_threshold_override_changes_only_that_column():
    profile = profile_reference(mixed_frame(3000, seed=1), KINDS)
    current = mixed_frame(1000, seed=2, shift=0.3)
    base = {c.feature: c for c in detect_drift(profile, current).columns}
    tight = {
        c.feature: c for c in detect_drift(profile, current, thresholds={"income": 10.0}).columns
    }
    assert base["income"].drifted and not tight["income"].drifted
    assert tight["income"].threshold == 10.0 and tight["income"].score == base["income"].score
    assert tight["colour"] == base["colour"]


def test_result_json_has_the_documented_shape_and_is_serialisable():
    profile = profile_reference(mixed_frame(800, seed=1), KINDS)
    document = detect_drift(profile, mixed_frame(500, seed=2)).as_json()
    assert set(document) == {
        "columns",
        "n_columns",
        "n_drifted",
        "share_drifted",
        "dataset_drift",
        "drift_share",
    }
    assert set(document["columns"][0]) == {
        "feature",
        "kind",
        "method",
        "score",
        "threshold",
        "drifted",
        "n_reference",
        "n_current",
    }
    json.dumps(document, allow_nan=False)


def test_detect_drift_emits_no_warnings_on_awkward_columns():
    profile = profile_reference(
        {"c": ["x"] * 2000, "n": np.full(2000, 1.0)}, {"c": "categorical", "n": "numerical"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("chisquare", "z", "psi", "jensenshannon"):
            detect_drift(profile, {"c": ["x"] * 30 + ["y"] * 3}, methods={"c": method})
        for method in ("ks", "wasserstein", "psi", "jensenshannon"):
            detect_drift(profile, {"n": [1.0] * 30 + [2.0]}, methods={"n": method})


def test_sturges_edges_of_a_single_value_are_one_unit_bin_like_numpys():
    same = np.full(30, 2.0)
    np.testing.assert_array_equal(
        drift_scores.sturges_edges(same, same),
        np.histogram_bin_edges(np.tile(same, 2), bins="sturges"),
    )
