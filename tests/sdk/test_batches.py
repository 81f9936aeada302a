"""The wire format of a batch: column-wise when the rows agree, row-wise else, halves — the
same document whether orjson or the standard library writes it."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from assay import _batch_json
from assay._batches import encode_labels, encode_predictions, prediction_ids, split_batch
from tests.sdk.logger_support import decoded

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


@pytest.fixture(autouse=True, params=["orjson", "json"])
def encoder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with orjson writing batches, and again with the plain path."""
    _batch_json.use_orjson(request.param == "orjson")
    if request.param == "orjson":
        assert _batch_json.orjson_module() is not None, "orjson is a development dependency"
    yield request.param
    _batch_json.use_orjson(True)


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


class Plan(enum.Enum):
    PRO = "pro"


def test_both_encoders_write_the_same_document_whatever_the_values() -> None:
    import numpy as np

    moment = datetime(2026, 11, 23, 9, 0, 1, 250000, tzinfo=timezone.utc)
    rows = [
        _row("a", {"x": 1e-07, "n": 2**70, "p": Plan.PRO}, probabilities={0: 0.25, 1: 0.75}),
        _row("b", {"x": 1e16, "n": 3, "p": "basic"}, probabilities={0: 0.5, 1: 0.5}),
        _row("c", {"x": np.float64(0.1), "n": True, "p": moment}, score=np.float32(0.5)),
        _row("d", {"x": -0.0, "n": None, "p": ("a", 1)}, label="yes", sensitive=None),
    ]
    expected = {
        "prediction_id": ["a", "b", "c", "d"],
        "timestamp": [1.5] * 4,
        "features": {
            "x": [1e-07, 1e16, 0.1, -0.0],
            "n": [2**70, 3, True, None],
            "p": ["Plan.PRO", "basic", moment.isoformat(), ["a", 1]],
        },
        "prediction": [1, 1, 1, 1],
        "score": [None, None, 0.5, None],
        "probabilities": [{"0": 0.25, "1": 0.75}, {"0": 0.5, "1": 0.5}, None, None],
        "label": [None, None, None, "yes"],
    }

    body, count, bad = encode_predictions(rows)

    assert (count, bad) == (4, [])
    assert decoded(body) == {"columns": expected}
    for row in rows:  # one row at a time: each odd value alone in its batch
        assert decoded(encode_predictions([row])[0])["columns"]["prediction_id"] == [row[0]]


@pytest.mark.parametrize("odd", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_written_as_json_writes_them_so_the_server_refuses_the_row(
    odd: float,
) -> None:
    rows = [_row("a", {"x": 1.0}), _row("b", {"x": odd}, score=odd)]

    body, _, _ = encode_predictions(rows, compress=False)

    columns = json.loads(body)["columns"]  # json reads NaN and Infinity (as the server does)
    assert columns["features"]["x"][0] == 1.0
    assert not math.isfinite(columns["features"]["x"][1])  # never null: not a missing value
    assert not math.isfinite(columns["score"][1])


def test_an_uncompressed_body_is_the_same_json_and_splits_the_same_way() -> None:
    rows = [_row(str(i), {"x": i / 3, "c": "abc"[i % 3]}) for i in range(6)]

    plain, _, _ = encode_predictions(rows, compress=False)
    gzipped, _, _ = encode_predictions(rows)

    assert plain[:1] == b"{" and gzipped[:2] == b"\x1f\x8b"
    assert json.loads(plain) == decoded(gzipped)
    halves = split_batch("predictions", plain)
    assert all(half[:1] == b"{" for half, _ in halves)
    assert [pid for half, _ in halves for pid in prediction_ids(half)] == [r[0] for r in rows]


def test_orjson_writes_the_batches_that_hold_plain_values_only(encoder: str) -> None:
    plain = {"columns": {"x": (1.5, 2, True, None), "c": ("a", "b"), "p": [{"1": 0.5}]}}
    odd = {"columns": {"x": (1.5, math.nan)}}

    assert _batch_json.plain_document(plain) and not _batch_json.plain_document(odd)
    written = _batch_json.dumps(plain, str)
    if encoder == "orjson":
        import orjson

        assert written == orjson.dumps(plain)
    else:
        assert written == json.dumps(plain, separators=(",", ":")).encode()
    assert _batch_json.dumps(odd, str) == b'{"columns":{"x":[1.5,NaN]}}'
