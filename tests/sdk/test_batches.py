"""The wire format of a batch: column-wise when the rows agree, row-wise else, halves."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assay._batches import encode_labels, encode_predictions, prediction_ids, split_batch
from tests.sdk.logger_support import decoded

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


def _row(pid: str, features: dict, **extra) -> tuple:
    return (
        pid,
        extra.get("timestamp", 1.5),
        features,
        extra.get("prediction", 1),
        extra.get("score"),
        extra.get("probabilities"),
        extra.get("sensitive"),
        extra.get("label"),
    )


def test_rows_with_the_same_features_are_encoded_column_wise_with_names_once() -> None:
    rows = [
        _row("a", {"age": 30, "plan": "pro"}, score=0.2, sensitive={"sex": "F"}),
        _row("b", {"plan": "basic", "age": 41}, score=None, sensitive={"sex": "M"}, label=1),
    ]

    body, count, bad = encode_predictions(rows)

    assert (count, bad) == (2, [])
    assert decoded(body) == {
        "columns": {
            "prediction_id": ["a", "b"],
            "timestamp": [1.5, 1.5],
            "features": {"age": [30, 41], "plan": ["pro", "basic"]},
            "prediction": [1, 1],
            "score": [0.2, None],
            "sensitive": {"sex": ["F", "M"]},
            "label": [None, 1],
        }
    }


def test_rows_that_disagree_on_their_features_are_encoded_row_wise() -> None:
    rows = [_row("a", {"age": 30}), _row("b", {"plan": "pro"}, probabilities={"1": 0.9})]

    body, _, _ = encode_predictions(rows)

    assert decoded(body) == {
        "rows": [
            {"prediction_id": "a", "timestamp": 1.5, "features": {"age": 30}, "prediction": 1},
            {
                "prediction_id": "b",
                "timestamp": 1.5,
                "features": {"plan": "pro"},
                "prediction": 1,
                "probabilities": {"1": 0.9},
            },
        ]
    }


def test_datetimes_become_epoch_seconds_and_naive_ones_are_utc() -> None:
    aware = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    rows = [
        _row("a", {"x": 1}, timestamp=aware),
        _row("b", {"x": 2}, timestamp=aware.replace(tzinfo=None)),
    ]

    body, _, _ = encode_predictions(rows)

    assert decoded(body)["columns"]["timestamp"] == [aware.timestamp()] * 2


def test_numpy_values_are_encoded_as_plain_numbers() -> None:
    import numpy as np

    rows = [_row("a", {"x": np.int64(3), "v": np.array([1.0, 2.0])}, prediction=np.float32(0.5))]

    body, _, _ = encode_predictions(rows)

    columns = decoded(body)["columns"]
    assert columns["features"] == {"x": [3], "v": [[1.0, 2.0]]}
    assert columns["prediction"] == [0.5]


def test_a_row_that_cannot_be_encoded_is_left_out_and_reported() -> None:
    circular: dict = {}
    circular["self"] = circular
    rows = [_row("good", {"x": 1}), _row("bad", {"x": circular}), _row("fine", {"x": 2})]

    body, count, bad = encode_predictions(rows)

    assert count == 2
    assert prediction_ids(body) == ["good", "fine"]
    assert [each["prediction_id"] for each in bad] == ["bad"]


def test_labels_are_encoded_as_plain_json() -> None:
    assert decoded(encode_labels([("a", 1), ("b", "churned")])) == {
        "labels": [{"prediction_id": "a", "label": 1}, {"prediction_id": "b", "label": "churned"}]
    }


def test_a_batch_splits_into_two_halves_in_either_format() -> None:
    uniform = [_row(str(i), {"x": i}, label=i) for i in range(5)]
    mixed = [_row("a", {"x": 1}), _row("b", {"y": 2}), _row("c", {"x": 3})]
    labels = encode_labels([("a", 1), ("b", 0), ("c", 1)])

    for rows in (uniform, mixed):
        body, _, _ = encode_predictions(rows)
        halves = split_batch("predictions", body)
        assert [count for _, count in halves] == [len(rows) // 2, len(rows) - len(rows) // 2]
        assert [pid for half, _ in halves for pid in prediction_ids(half)] == [r[0] for r in rows]
    first, second = split_batch("labels", labels)
    assert decoded(first[0]) == {"labels": [{"prediction_id": "a", "label": 1}]}
    assert second[1] == 2
