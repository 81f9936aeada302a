"""Reference profile: canonical categories, missing values, serialisation."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from assay_server.checks.profile import (
    CategoryCounts,
    NumericalProfile,
    ReferenceProfile,
    category_label,
    category_labels,
    count_categories,
    distinct_sorted,
    finite_values,
    profile_reference,
)

from .drift_data import KINDS, mixed_frame, with_missing

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


def _counts(counts: CategoryCounts) -> dict[str, int]:
    return dict(zip(counts.labels.tolist(), counts.counts.tolist(), strict=True))


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("red", "red"),
        ("", ""),
        (3, "3"),
        (np.int64(3), "3"),
        (3.0, "3"),
        (np.float32(3.0), "3"),
        (2.5, "2.5"),
        (True, "True"),
        (np.bool_(False), "False"),
        (None, None),
        (float("nan"), None),
        (float("inf"), None),
        (pd.NA, None),
        (b"caf\xc3\xa9", "café"),
    ],
)
def test_categorical_values_have_one_canonical_label(value, label):
    assert category_label(value) == label


def test_categories_are_counted_alike_from_category_object_numeric_and_arrow_columns():
    text = ["1", "2", None, "2", "3", "2"]
    expected = {"1": 1, "2": 3, "3": 1}
    for column in (
        pd.Series(text, dtype="category"),
        pd.Series(text, dtype=object),
        pd.Series(text, dtype="string"),
        np.array([1, 2, np.nan, 2, 3, 2.0]),
        [1, 2, None, 2, 3, 2],
        pa.array([1, 2, None, 2, 3, 2]),
    ):
        counts = count_categories(column)
        assert _counts(counts) == expected, column
        assert counts.missing == 1 and counts.size == 6


def test_booleans_and_unused_categories():
    counts = count_categories(np.array([True, False, True]))
    assert _counts(counts) == {"False": 1, "True": 2} and counts.missing == 0
    unused = pd.Categorical(["a", "a"], categories=["a", "b", "c"])
    assert _counts(count_categories(unused)) == {"a": 2}


def test_labels_per_row_keep_missing_as_none():
    labels = category_labels(pd.Series([1.0, None, 2.5, np.inf], dtype=object))
    assert labels.tolist() == ["1", None, "2.5", None]
    assert category_labels(pd.Series(["x", None], dtype="category")).tolist() == ["x", None]


def test_finite_values_drop_none_nan_and_infinity_and_count_them_missing():
    for column in (
        [1.0, None, 3.0, float("inf"), float("-inf"), float("nan")],
        pd.Series([1, None, 3, None, None, None], dtype="Int64"),
        pd.Series(["1", "oops", "3", None, None, None], dtype=object),
    ):
        kept, missing = finite_values(column)
        assert kept.tolist() == [1.0, 3.0] and missing == 4, column
    kept, missing = finite_values(np.array([True, False]))
    assert kept.tolist() == [1.0, 0.0] and missing == 0


def test_numerical_profile_keeps_sorted_values_and_summary_statistics():
    values = np.array([3.0, np.nan, 1.0, 2.0, 2.0, np.inf])
    profile = NumericalProfile.from_values(values)
    assert profile.sorted_values.tolist() == [1.0, 2.0, 2.0, 3.0]
    assert not profile.sorted_values.flags.writeable
    assert (profile.missing, profile.present, profile.minimum, profile.maximum) == (2, 4, 1.0, 3.0)
    assert profile.std == pytest.approx(np.std([1.0, 2.0, 2.0, 3.0]))
    assert profile.n_distinct == 3
    empty = NumericalProfile.from_values([None, None])
    assert (empty.present, empty.minimum, empty.maximum, empty.missing) == (0, None, None, 2)


def test_distinct_sorted_equals_numpy_unique():
    values = np.sort(np.random.default_rng(0).integers(0, 30, 1000).astype(float))
    uniques, counts = distinct_sorted(values)
    expected_uniques, expected_counts = np.unique(values, return_counts=True)
    np.testing.assert_array_equal(uniques, expected_uniques)
    np.testing.assert_array_equal(counts, expected_counts)


def test_profile_survives_bytes_without_pickle():
    frame = with_missing(mixed_frame(1500, seed=1), seed=2)
    profile = profile_reference(frame, KINDS)
    data = profile.to_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))  # an .npz archive
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:  # loads with pickle refused
        assert "header" in archive.files
    loaded = ReferenceProfile.from_bytes(data)
    assert loaded.rows == 1500 and loaded.kinds == KINDS
    for name, kind in KINDS.items():
        before, after = profile.column(name), loaded.column(name)
        assert after.missing == before.missing
        if kind == "numerical":
            np.testing.assert_array_equal(after.sorted_values, before.sorted_values)
        else:
            assert _counts(after) == _counts(before)
    assert loaded.column("income").missing == int(frame["income"].isna().sum())
    assert _counts(loaded.column("member")) == {
        "False": int((~frame["member"]).sum()),
        "True": int(frame["member"].sum()),
    }


def test_from_bytes_refuses_other_data():
    with pytest.raises(ValueError):
        ReferenceProfile.from_bytes(b"not a profile")
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not an Assay reference profile"):
        ReferenceProfile.from_bytes(buffer.getvalue())


def test_profile_reference_checks_its_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        profile_reference({"x": [1]}, {"x": "binary"})
    with pytest.raises(ValueError, match="not in the reference"):
        profile_reference({"x": [1]}, {"y": "numerical"})
    with pytest.raises(ValueError, match="differ in length"):
        profile_reference({"x": [1, 2], "y": [1]}, {"x": "numerical", "y": "numerical"})
    only_some = profile_reference({"x": [1.0], "y": ["a"]}, {"y": "categorical"})
    assert list(only_some.kinds) == ["y"] and only_some.rows == 1


def test_from_bytes_refuses_a_truncated_profile():
    data = profile_reference({"x": [1.0, 2.0]}, {"x": "numerical"}).to_bytes()
    with pytest.raises(ValueError, match="not a readable"):
        ReferenceProfile.from_bytes(data[: len(data) // 2])
