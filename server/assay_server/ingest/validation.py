"""Checking a batch against a version's feature schema, column by column.

A row with any problem is rejected whole and reported as ``(index, field, message)``; the
others are kept. Numbers must be finite, categories are strings, integers or booleans of at
most ``MAX_STRING`` characters, and a feature the schema names must be sent (``null`` is a
missing value, which data-quality checks count, not an error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .wire import MISSING, ColumnBatch

MAX_STRING = 1000
MAX_PREDICTION_ID = 128
MAX_CLASSES = 1000
_EPOCH_MIN_US = 0
_EPOCH_MAX_US = int(datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)

Check = Callable[[Any], str | None]


@dataclass
class CheckedBatch:
    """Which rows are valid, their timestamps in epoch microseconds, and every row error."""

    valid: list[bool]
    ts_us: list[int]
    errors: list[tuple[int, str, str]]

    @property
    def rejected(self) -> int:
        """Rows refused."""
        return self.valid.count(False)


def check_number(value: Any) -> str | None:
    """None for a finite number, else the problem."""
    if type(value) is bool or not isinstance(value, (int, float)):
        return "Expected a number."
    if not math.isfinite(value):
        return "Numbers must be finite (no NaN or infinity)."
    return None


def check_category(value: Any) -> str | None:
    """None for a string (not too long), an integer or a boolean, else the problem."""
    if isinstance(value, str):
        return f"Longer than {MAX_STRING} characters." if len(value) > MAX_STRING else None
    if isinstance(value, (bool, int)):
        return None
    return "Expected a category: a string, an integer or a boolean."


def _probabilities(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "Expected an object of class → probability."
    if len(value) > MAX_CLASSES:
        return f"More than {MAX_CLASSES} classes."
    for key, p in value.items():
        if len(key) > MAX_STRING:
            return f"A class name is longer than {MAX_STRING} characters."
        if check_number(p) is not None or not 0.0 <= p <= 1.0:
            return f"The probability of {key[:50]!r} must be a number from 0 to 1."
    return None


def _prediction_id(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "Required: a non-empty string."
    if len(value) > MAX_PREDICTION_ID:
        return f"Longer than {MAX_PREDICTION_ID} characters."
    return None


def timestamp_us(value: Any, now_us: int) -> int | str:
    """Epoch microseconds of a timestamp given as epoch seconds or ISO 8601, or an error."""
    if value is None:
        return now_us
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "Expected ISO 8601 or epoch seconds."
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        micros = int(parsed.timestamp() * 1_000_000)
    elif type(value) is not bool and isinstance(value, (int, float)) and math.isfinite(value):
        micros = round(value * 1_000_000)
    else:
        return "Expected ISO 8601 or epoch seconds."
    if not _EPOCH_MIN_US <= micros < _EPOCH_MAX_US:
        return "Outside 1970–2199."
    return micros


def _all_valid(values: list[Any], check: Check) -> bool:
    """The common case, decided at C speed: every value of the column is fine."""
    types = set(map(type, values))
    if check is check_number:
        return types <= {float, int} and all(map(math.isfinite, values))
    if check is check_category:
        if types <= {str}:
            return max(map(len, values), default=0) <= MAX_STRING
        return types <= {int, bool}
    if check is _prediction_id:
        return (
            types <= {str}
            and min(map(len, values), default=1) > 0
            and max(map(len, values), default=0) <= MAX_PREDICTION_ID
        )
    return False


def _check_column(
    values: list[Any],
    check: Check,
    field: str,
    *,
    required: bool,
    errors: list[tuple[int, str, str]],
) -> None:
    if _all_valid(values, check):
        return  # no per-row work left
    for index, value in enumerate(values):
        if value is MISSING or (value is None and required):
            errors.append((index, field, "Missing."))
        elif value is not None:
            problem = check(value)
            if problem:
                errors.append((index, field, problem))


def _timestamps_us(values: list[Any], now_us: int, errors: list[tuple[int, str, str]]) -> list[int]:
    if set(map(type, values)) <= {float, int} and all(map(math.isfinite, values)):
        micros = [round(v * 1_000_000) for v in values]  # the SDK's epoch seconds
        if min(micros, default=0) >= _EPOCH_MIN_US and max(micros, default=0) < _EPOCH_MAX_US:
            return micros
    micros = [0] * len(values)
    for index, value in enumerate(values):
        outcome = timestamp_us(value, now_us)
        if isinstance(outcome, str):
            errors.append((index, "timestamp", outcome))
        else:
            micros[index] = outcome
    return micros


def check_batch(
    batch: ColumnBatch, features: list[dict[str, str]], task: str, now_us: int
) -> CheckedBatch:
    """Validate every column of ``batch`` against the schema; nothing is changed."""
    errors = list(batch.row_errors)
    output_check = check_number if task == "regression" else check_category
    _check_column(
        batch.prediction_id, _prediction_id, "prediction_id", required=True, errors=errors
    )
    for spec in features:
        check = check_number if spec["kind"] == "numerical" else check_category
        _check_column(
            batch.features[spec["name"]],
            check,
            f"features.{spec['name']}",
            required=False,
            errors=errors,
        )
    _check_column(batch.prediction, output_check, "prediction", required=True, errors=errors)
    if batch.score is not None:
        _check_column(batch.score, check_number, "score", required=False, errors=errors)
    if batch.probabilities is not None:
        _check_column(
            batch.probabilities, _probabilities, "probabilities", required=False, errors=errors
        )
    if batch.label is not None:
        _check_column(batch.label, output_check, "label", required=False, errors=errors)
    for name, values in batch.sensitive.items():
        if len(name) > 200:
            errors.extend(
                (i, "sensitive", "A name is longer than 200 characters.") for i in range(batch.size)
            )
            continue
        _check_column(values, check_category, f"sensitive.{name}", required=False, errors=errors)
    ts_us = _timestamps_us(batch.timestamp, now_us, errors)
    valid = [True] * batch.size
    for index, _field, _message in errors:
        valid[index] = False
    errors.sort(key=lambda error: error[0])
    return CheckedBatch(valid=valid, ts_us=ts_us, errors=errors)
