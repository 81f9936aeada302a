"""Our vectorised drift against Evidently 0.7 itself, on the same reference and window.

Per column: the same method, the same drifted flag and the same score within 1e-6 (we reproduce
Evidently's binning exactly - Sturges edges over both sides, or one bin per value - so no wider
tolerance is needed); per window: the same number and share of drifted columns and dataset flag.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from assay_server.checks.drift import DriftResult, detect_drift
from assay_server.checks.profile import ReferenceProfile, profile_reference
from assay_server.monitoring.evidently_report import evidently_drift_summary

from .drift_data import KINDS, as_window, mixed_frame, with_missing

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

TOLERANCE = 1e-6
NUMERICAL = [name for name, kind in KINDS.items() if kind == "numerical"]
CATEGORICAL = [name for name, kind in KINDS.items() if kind == "categorical"]


def _ours(reference: pd.DataFrame, current: pd.DataFrame, **options: object) -> DriftResult:
    # through bytes, as the scheduler reads it from the store
    profile = ReferenceProfile.from_bytes(profile_reference(reference, KINDS).to_bytes())
    return detect_drift(profile, as_window(current), **options)  # type: ignore[arg-type]


def _assert_same_as_evidently(
    reference: pd.DataFrame, current: pd.DataFrame, **options: object
) -> DriftResult:
    ours = _ours(reference, current, **options)
    theirs = evidently_drift_summary(reference, current, KINDS, **options)  # type: ignore[arg-type]
    assert [column.feature for column in ours.columns] == list(KINDS)
    for column in ours.columns:
        expected = theirs["columns"][column.feature]
        where = f"{column.feature}: ours {column}, Evidently {expected}"
        assert column.method == expected["method"], where
        assert column.threshold == pytest.approx(expected["threshold"]), where
        assert column.drifted is expected["drifted"], where
        if math.isnan(expected["score"]):
            assert math.isnan(column.score), where
        else:
            assert column.score == pytest.approx(expected["score"], abs=TOLERANCE), where
    assert ours.n_drifted == theirs["n_drifted"]
    assert ours.share_drifted == pytest.approx(theirs["share_drifted"])
    assert ours.dataset_drift is theirs["dataset_drift"]
    return ours


@pytest.mark.parametrize("reference_rows", [500, 5000])
def test_auto_selected_methods_match_evidently_either_side_of_1000_rows(reference_rows):
    reference = mixed_frame(reference_rows, seed=1)
    current = mixed_frame(700, seed=2, shift=0.3)
    ours = _assert_same_as_evidently(reference, current)
    methods = {column.feature: column.method for column in ours.columns}
    if reference_rows <= 1000:
        assert methods == {
            "income": "ks",
            "age": "ks",
            "rooms": "chisquare",
            "floors": "chisquare",
            "grade": "ks",
            "is_new": "z",
            "flat": "z",
            "colour": "chisquare",
            "channel": "z",
            "country": "z",
            "member": "z",
        }
    else:
        assert methods == {
            "income": "wasserstein",
            "age": "wasserstein",
            "rooms": "jensenshannon",
            "floors": "jensenshannon",
            "grade": "wasserstein",
            "is_new": "jensenshannon",
            "flat": "jensenshannon",
            "colour": "jensenshannon",
            "channel": "jensenshannon",
            "country": "jensenshannon",
            "member": "jensenshannon",
        }
    # the shifted window must really drift somewhere, and the constant columns never
    assert ours.n_drifted > 0
    flags = {column.feature: column.drifted for column in ours.columns}
    assert not flags["flat"] and not flags["country"]


@pytest.mark.parametrize("reference_rows", [500, 5000])
def test_same_distribution_matches_evidently(reference_rows):
    reference = mixed_frame(reference_rows, seed=3)
    current = mixed_frame(900, seed=4)
    _assert_same_as_evidently(reference, current)


@pytest.mark.parametrize("reference_rows", [500, 5000])
def test_missing_values_and_new_categories_match_evidently(reference_rows):
    reference = with_missing(mixed_frame(reference_rows, seed=5), seed=6)
    current = with_missing(mixed_frame(800, seed=7, shift=0.2), seed=8, share=0.25)
    current.loc[current.index[:40], "colour"] = "violet"  # never seen in the reference
    current.loc[current.index[40:45], "channel"] = "phone"  # a binary column gains a value
    current.loc[current.index[50:53], "income"] = np.inf  # dropped, as Evidently does
    ours = _assert_same_as_evidently(reference, current)
    colour = next(column for column in ours.columns if column.feature == "colour")
    assert colour.n_current == int(current["colour"].notna().sum())


@pytest.mark.parametrize("reference_rows", [500, 5000])
@pytest.mark.parametrize(
    ("numerical_method", "categorical_method"),
    [("ks", "chisquare"), ("wasserstein", "z"), ("psi", "psi"), ("jensenshannon", "jensenshannon")],
)
def test_every_override_method_matches_evidently(
    reference_rows, numerical_method, categorical_method
):
    reference = with_missing(mixed_frame(reference_rows, seed=9), seed=10)
    current = mixed_frame(600, seed=11, shift=0.4)
    current.loc[current.index[:25], "colour"] = "violet"
    methods = {name: numerical_method for name in NUMERICAL}
    methods.update({name: categorical_method for name in CATEGORICAL})
    ours = _assert_same_as_evidently(reference, current, methods=methods)
    assert {column.method for column in ours.columns} == {numerical_method, categorical_method}


def test_threshold_overrides_and_drift_share_match_evidently():
    reference = mixed_frame(2000, seed=12)
    current = mixed_frame(1500, seed=13, shift=0.1)
    thresholds = {"income": 0.01, "age": 0.5, "colour": 0.02, "channel": 0.001}
    ours = _assert_same_as_evidently(reference, current, thresholds=thresholds, drift_share=0.1)
    by_feature = {column.feature: column for column in ours.columns}
    assert by_feature["income"].threshold == 0.01
    assert by_feature["rooms"].threshold == 0.1


def test_reference_just_at_and_above_1000_values_switches_like_evidently():
    # 1,000 non-missing values is still "small"; 1,001 is not (missing values do not count)
    current = mixed_frame(400, seed=14)
    at_limit = mixed_frame(1000, seed=15)
    above = with_missing(mixed_frame(1200, seed=16), seed=17, share=0.1)
    small = _assert_same_as_evidently(at_limit, current)
    assert {c.feature: c.method for c in small.columns}["income"] == "ks"
    large = _assert_same_as_evidently(above, current)
    by_feature = {c.feature: c for c in large.columns}
    assert by_feature["flat"].method == "jensenshannon"
    assert by_feature["income"].n_reference < 1200


def test_psi_guard_for_empty_bins_matches_evidently_when_the_smallest_share_is_tiny():
    # one "rare" in 12,000 reference rows: a share below 0.0001, so Evidently fills the empty
    # bin (a category only the window has) with that share / 10**6 rather than with 0.0001
    rng = np.random.default_rng(18)
    kinds = {"kind": "categorical", "size": "numerical"}
    reference = pd.DataFrame(
        {
            "kind": np.append(["rare"], rng.choice(["a", "b"], 11_999)),
            "size": np.append(rng.normal(0, 1, 11_999), 40.0),  # one far value: empty bins
        }
    )
    current = pd.DataFrame(
        {"kind": rng.choice(["a", "b", "new"], 600), "size": rng.normal(0.5, 1, 600)}
    )
    methods = {"kind": "psi", "size": "psi"}
    profile = profile_reference(reference, kinds)
    ours = {c.feature: c for c in detect_drift(profile, current, methods=methods).columns}
    theirs = evidently_drift_summary(reference, current, kinds, methods=methods)["columns"]
    for feature in kinds:
        assert ours[feature].score == pytest.approx(theirs[feature]["score"], abs=TOLERANCE)
        assert ours[feature].drifted is theirs[feature]["drifted"]
    assert ours["kind"].score > 1.0  # the tiny filler makes an unseen category weigh heavily
