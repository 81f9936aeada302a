"""Checking a column at once (through Arrow) must find exactly what checking each value finds."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from assay_server.ingest.blocks import decode_block, encode_block
from assay_server.ingest.validation import (
    TimeBounds,
    check_batch,
    check_category,
    check_number,
    check_probability,
)
from assay_server.ingest.wire import MISSING, ColumnBatch

NUMBERS = [1.5, -2, 0, 7, 2**53 + 1, 10**400, True, None, math.nan, math.inf, "3", MISSING]
SCORES = [0.25, 1, 0, 1.7, -0.1, None]  # a classifier's score is a probability
TEXTS = ["a", "", "é" * 1000, "x" * 1001, "\ud800", 3, False, None, 1.5, [1], MISSING]
FEATURES = [{"name": "n", "kind": "numerical"}, {"name": "c", "kind": "categorical"}]
#: the batches below arrive a minute after their first row
SENT_AT = TimeBounds.around(1_795_000_060 * 1_000_000, backfill_days=30)


def _column(rng: random.Random, pool: list[Any], size: int) -> list[Any]:
    """Values from a few kinds only, so that some columns are entirely valid."""
    kinds = rng.sample(pool, rng.randint(1, 3))
    return [rng.choice(kinds) for _ in range(size)]


def _value_by_value(values: list[Any], check: Any, field: str) -> set[tuple[int, str, str]]:
    found = set()
    for index, value in enumerate(values):
        if value is MISSING:
            found.add((index, field, "Missing."))
        elif value is not None and check(value):
            found.add((index, field, check(value)))
    return found


@pytest.mark.parametrize("seed", range(150))
def test_a_column_checked_at_once_has_the_errors_of_its_values(seed):
    rng = random.Random(seed)
    size = 30
    numbers, texts = _column(rng, NUMBERS, size), _column(rng, TEXTS, size)
    batch = ColumnBatch(
        size=size,
        prediction_id=[f"p{i}" for i in range(size)],
        timestamp=[1_795_000_000.0 + i for i in range(size)],
        features={"n": numbers, "c": texts},
        prediction=[i % 2 for i in range(size)],
        score=_column(rng, SCORES, size),
    )
    checked = check_batch(batch, FEATURES, "binary_classification", SENT_AT)
    errors = set(checked.errors)
    assert {e for e in errors if e[1] == "features.n"} == _value_by_value(
        numbers, check_number, "features.n"
    )
    assert {e for e in errors if e[1] == "features.c"} == _value_by_value(
        texts, check_category, "features.c"
    )
    assert {e for e in errors if e[1] == "score"} == _value_by_value(
        batch.score, check_probability, "score"
    )


@pytest.mark.parametrize("seed", range(10))
def test_a_block_holds_the_values_that_were_sent(seed):
    rng = random.Random(seed)
    size = 20
    valid_numbers = [1.5, -2, 0, None, 2**53 + 1]
    valid_texts = ["a", "", "é" * 1000, None]
    batch = ColumnBatch(
        size=size,
        prediction_id=[f"p{i}" for i in range(size)],
        timestamp=[1_795_000_000.0 + i for i in range(size)],
        features={"n": _column(rng, valid_numbers, size), "c": _column(rng, valid_texts, size)},
        prediction=[rng.choice(["yes", "no"]) for _ in range(size)],
    )
    batch.features["n"][3] = "not a number"  # one refused row
    checked = check_batch(batch, FEATURES, "binary_classification", SENT_AT)
    keep = [i for i in range(size) if checked.valid[i]]
    kinds = {f["name"]: f["kind"] for f in FEATURES}
    block = encode_block(batch, keep, checked.ts_us, kinds, False, converted=checked.converted)
    table = decode_block(block)
    sent = [batch.features["n"][i] for i in keep]
    assert table["feature.n"].to_pylist() == [None if v is None else float(v) for v in sent]
    assert table["feature.c"].to_pylist() == [batch.features["c"][i] for i in keep]
    assert table["prediction"].to_pylist() == [batch.prediction[i] for i in keep]
    assert table["prediction_id"].to_pylist() == [f"p{i}" for i in keep]
