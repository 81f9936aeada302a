"""Checking a batch against a version's feature schema, column by column.

A row with any problem is rejected whole and reported as ``(index, field, message)``; the
others are kept. Numbers must be finite, categories are strings, integers or booleans of at
most ``MAX_STRING`` characters, and a feature the schema names must be sent (``null`` is a
missing value, which data-quality checks count, not an error). The prediction and the label
keep the task's contract (``classes.py``): a classifier's are among its classes (and are
stored as the class is spelled), a regressor's are finite numbers; a classifier's score is a
probability, from 0 to 1.

A timestamp must fall in ``[now − ASSAY_MAX_BACKFILL_DAYS, now + 5 minutes]``, and on a day
the model's retention still keeps (the :class:`TimeBounds` of the batch): a row older or
further ahead is refused like any other, so the day partition it lands in exists and is not
expired (``partitions.py``, ``retention.py``).

Most columns are fine as a whole, and that is decided first without a Python loop over
values (converting them to the Arrow arrays the block is made of); only a column that fails
that is checked value by value, which is what decides each row's errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import cast

from ..storable import UNSTORABLE_TEXT, is_storable_text
from .blocks import ArrowArray, valid_numbers, valid_texts
from .classes import ClassSet
from .wire import MISSING, ColumnBatch, RowProblem

MAX_STRING = 1000
MAX_PREDICTION_ID = 128
MAX_CLASSES = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # an integer category is stored as a 64-bit int
_EPOCH_MIN_US = 0
_EPOCH_MAX_US = int(datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)

#: How far ahead of the server's clock a prediction's timestamp may be.
MAX_AHEAD_US = 5 * 60 * 1_000_000
US_PER_DAY = 86_400 * 1_000_000

Check = Callable[[object], str | None]


@dataclass(frozen=True)
class TimeBounds:
    """The timestamps a batch may carry, in epoch microseconds: ``[oldest, newest]``, and
    why an older one is refused."""

    now_us: int
    oldest_us: int
    newest_us: int
    too_old: str

    @classmethod
    def around(
        cls, now_us: int, backfill_days: float, retention_days: int | None = None
    ) -> TimeBounds:
        """``[now − backfill_days, now + 5 minutes]``, and not before the first day the
        model's retention still keeps (a row of an expired day would be deleted at once)."""
        oldest = now_us - round(backfill_days * US_PER_DAY)
        too_old = (
            f"Older than the server takes: at most {backfill_days:g} days before now "
            "(ASSAY_MAX_BACKFILL_DAYS)."
        )
        if retention_days is not None:
            kept_from = (now_us - retention_days * US_PER_DAY) // US_PER_DAY * US_PER_DAY
            if kept_from > oldest:
                oldest = kept_from
                too_old = (
                    f"Older than the model keeps predictions: {retention_days} days "
                    "(its retention_days)."
                )
        return cls(now_us, oldest, now_us + MAX_AHEAD_US, too_old)

    def problem(self, micros: int) -> str | None:
        """Why a timestamp is refused, or None."""
        if micros < self.oldest_us:
            return self.too_old
        if micros > self.newest_us:
            return "More than 5 minutes ahead of the server's clock."
        return None


@dataclass
class CheckedBatch:
    """Which rows are valid, their timestamps in epoch microseconds, and every row error;
    ``converted`` holds the columns that passed whole, as Arrow arrays, by field."""

    valid: list[bool]
    ts_us: list[int]
    errors: list[RowProblem]
    converted: dict[str, ArrowArray] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        """Rows refused."""
        return self.valid.count(False)


def check_number(value: object) -> str | None:
    """None for a finite number, else the problem."""
    if type(value) is bool or not isinstance(value, (int, float)):
        return "Expected a number."
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the range of a 64-bit float
        return "Too large: numbers are stored as 64-bit floats."
    if not finite:
        return "Numbers must be finite (no NaN or infinity)."
    return None


def check_probability(value: object) -> str | None:
    """None for a finite number from 0 to 1, else the problem."""
    problem = check_number(value)
    if problem is None and not 0.0 <= value <= 1.0:  # type: ignore[operator]  # a number
        return "A score is a probability: from 0 to 1."
    return problem


def check_category(value: object) -> str | None:
    """None for a string (not too long), an integer or a boolean, else the problem."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"Longer than {MAX_STRING} characters."
        return None if is_storable_text(value) else UNSTORABLE_TEXT
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if _fits_64_bits(value) else "Too large: an integer category must fit 64 bits."
    return "Expected a category: a string, an integer or a boolean."


def _whole_integers(values: list[object]) -> bool:
    """Every value is an int or a bool, and the ints fit 64 bits (min and max run in C)."""
    if not set(map(type, values)) <= {int, bool}:
        return False
    numbers = cast("list[int]", values)  # bools compare as ints
    return not numbers or (min(numbers) >= INT64_MIN and max(numbers) <= INT64_MAX)


def _fits_64_bits(value: object) -> bool:
    return not isinstance(value, int) or INT64_MIN <= value <= INT64_MAX


def _probabilities(value: object) -> str | None:
    if not isinstance(value, dict) or not value:
        return "Expected an object of class → probability."
    if len(value) > MAX_CLASSES:
        return f"More than {MAX_CLASSES} classes."
    for key, p in value.items():
        if len(key) > MAX_STRING:
            return f"A class name is longer than {MAX_STRING} characters."
        if not is_storable_text(key):
            return "A class name: " + UNSTORABLE_TEXT
        if check_number(p) is not None or not 0.0 <= p <= 1.0:
            return f"The probability of {key[:50]!r} must be a number from 0 to 1."
    return None


def _sensitive_name(name: str) -> str | None:
    if len(name) > 200:
        return "A name is longer than 200 characters."
    return None if is_storable_text(name) else "A name: " + UNSTORABLE_TEXT


def _prediction_id(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "Required: a non-empty string."
    if len(value) > MAX_PREDICTION_ID:
        return f"Longer than {MAX_PREDICTION_ID} characters."
    return None if is_storable_text(value) else UNSTORABLE_TEXT


def timestamp_us(value: object, now_us: int) -> int | str:
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


def _passes_whole(
    values: list[object], check: Check, *, required: bool
) -> tuple[bool, ArrowArray | None]:
    """The common case, decided without a Python loop: whether every value of the column is
    fine, and the column as an Arrow array when that is how it was decided."""
    if check is check_number:
        array = valid_numbers(values)
    elif check is check_probability:
        array = valid_numbers(values)
        if array is not None and len(array) - array.null_count:
            import pyarrow.compute as pc

            bounds = pc.min_max(array)
            if bounds["min"].as_py() < 0.0 or bounds["max"].as_py() > 1.0:
                array = None
    elif check is check_category:
        array = valid_texts(values, min_chars=0, max_chars=MAX_STRING)
        if array is None:  # integers or booleans, or values to look at one by one
            return _whole_integers(values), None
    elif check is _prediction_id:
        array = valid_texts(values, min_chars=1, max_chars=MAX_PREDICTION_ID)
    else:
        return False, None
    if array is None or (required and array.null_count):
        return False, None
    return True, array


def _check_column(
    values: list[object],
    check: Check,
    field: str,
    *,
    required: bool,
    errors: list[RowProblem],
) -> ArrowArray | None:
    """Add the column's row errors to ``errors``; return it as an Arrow array when it passed
    whole that way (else None)."""
    passed, array = _passes_whole(values, check, required=required)
    if passed:
        return array  # no per-row work left
    for index, value in enumerate(values):
        if value is MISSING or (value is None and required):
            errors.append((index, field, "Missing."))
        elif value is not None:
            problem = check(value)
            if problem:
                errors.append((index, field, problem))
    return None


def check_classes(
    values: list[object], classes: ClassSet, field: str, errors: list[RowProblem]
) -> list[object] | None:
    """Add a row error for each value (not null, not already refused) that is none of
    ``classes``; return the column with each value spelled as its class, or None when every
    value already is."""
    refused = {index for index, name, _message in errors if name == field}
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value (a list, an object): refused by its category check
        distinct = {v for i, v in enumerate(values) if i not in refused}
    distinct.discard(None)
    distinct.discard(MISSING)
    spelled: dict[object, object] = {}
    problems: dict[object, str] = {}
    for value in distinct:
        try:
            hash(value)
        except TypeError:
            continue
        normal, problem = classes.normalise(value)
        if problem:
            problems[value] = problem
        else:
            spelled[value] = normal
    changed = any(type(spelled[v]) is not type(v) or spelled[v] != v for v in spelled)
    if not problems and not changed:
        return None
    column = list(values)
    for index, value in enumerate(values):
        if value is None or value is MISSING or index in refused:
            continue
        try:
            problem = problems.get(value)
        except TypeError:
            continue
        if problem:
            errors.append((index, field, problem))
        elif value in spelled:
            column[index] = spelled[value]
    return column


def _timestamps_us(values: list[object], bounds: TimeBounds, errors: list[RowProblem]) -> list[int]:
    if set(map(type, values)) <= {float, int}:
        seconds = cast("list[float]", values)  # every value is an int or a float, as checked
        if all(map(math.isfinite, seconds)):
            micros = [round(v * 1_000_000) for v in seconds]  # the SDK's epoch seconds
            if not micros or (
                min(micros) >= max(_EPOCH_MIN_US, bounds.oldest_us)
                and max(micros) <= min(_EPOCH_MAX_US - 1, bounds.newest_us)
            ):
                return micros
    micros = [0] * len(values)
    for index, value in enumerate(values):
        outcome = timestamp_us(value, bounds.now_us)
        if isinstance(outcome, int):
            problem = bounds.problem(outcome)
            if problem is None:
                micros[index] = outcome
                continue
            outcome = problem
        errors.append((index, "timestamp", outcome))
    return micros


def check_batch(
    batch: ColumnBatch,
    features: list[dict[str, str]],
    task: str,
    bounds: TimeBounds,
    classes: ClassSet | None = None,
) -> CheckedBatch:
    """Validate every column of ``batch`` against the schema and the task's contract, and
    each timestamp against ``bounds``; the prediction and label columns are respelled as
    their classes (``classes``), nothing else is changed."""
    errors = list(batch.row_errors)
    converted: dict[str, ArrowArray] = {}

    def column(field: str, values: list[object], check: Check, *, required: bool = False) -> None:
        array = _check_column(values, check, field, required=required, errors=errors)
        if array is not None:
            converted[field] = array

    output_check = check_number if task == "regression" else check_category
    column("prediction_id", batch.prediction_id, _prediction_id, required=True)
    for spec in features:
        check = check_number if spec["kind"] == "numerical" else check_category
        column(f"features.{spec['name']}", batch.features[spec["name"]], check)
    column("prediction", batch.prediction, output_check, required=True)
    if batch.score is not None:
        column("score", batch.score, check_number if task == "regression" else check_probability)
    if batch.probabilities is not None:
        column("probabilities", batch.probabilities, _probabilities)
    if batch.label is not None:
        column("label", batch.label, output_check)
    if classes is not None:
        respelled = check_classes(batch.prediction, classes, "prediction", errors)
        if respelled is not None:
            batch.prediction = respelled
            converted.pop("prediction", None)
        if batch.label is not None:
            respelled = check_classes(batch.label, classes, "label", errors)
            if respelled is not None:
                batch.label = respelled
    for name, values in batch.sensitive.items():
        problem = _sensitive_name(name)
        if problem:
            errors.extend((i, "sensitive", problem) for i in range(batch.size))
            continue
        column(f"sensitive.{name}", values, check_category)
    ts_us = _timestamps_us(batch.timestamp, bounds, errors)
    valid = [True] * batch.size
    for index, _field, _message in errors:
        valid[index] = False
    errors.sort(key=lambda error: error[0])
    return CheckedBatch(valid=valid, ts_us=ts_us, errors=errors, converted=converted)
