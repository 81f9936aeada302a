"""The two wire formats of a prediction batch, read into one column-wise batch.

Column-wise (what the SDK sends: feature names once, one array per column)::

    {"columns": {"prediction_id": [...], "timestamp": [...], "features": {"age": [...]},
                 "prediction": [...], "score": [...], "probabilities": [...],
                 "sensitive": {"sex": [...]}, "label": [...]}}

Row-wise (accepted for any other client)::

    {"rows": [{"prediction_id": "...", "timestamp": ..., "features": {...}, ...}]}

A problem with the whole body (not an object, arrays of different lengths) raises
``ValidationFailed``; problems with single rows are left to :mod:`.validation`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Final

import orjson

from ..errors import BadRequest, PayloadTooLarge, ValidationFailed

MISSING: Final = object()  # a key the row did not send, unlike an explicit null
OPTIONAL_COLUMNS = ("score", "probabilities", "label")
ROW_KEYS = frozenset(
    {
        "prediction_id",
        "timestamp",
        "features",
        "prediction",
        "score",
        "probabilities",
        "sensitive",
        "label",
    }
)


#: One problem with one row: ``(index, field, message)``.
RowProblem = tuple[int, str, str]


@dataclass
class ColumnBatch:
    """A batch as columns of equal length ``size``; ``row_errors`` found while reading it.

    The values are as the client sent them (any JSON value, or ``MISSING``) until
    :func:`~.validation.check_batch` has looked at them.
    """

    size: int
    prediction_id: list[object]
    timestamp: list[object]
    features: dict[str, list[object]]
    prediction: list[object]
    score: list[object] | None = None
    probabilities: list[object] | None = None
    sensitive: dict[str, list[object]] = field(default_factory=dict)
    label: list[object] | None = None
    row_errors: list[RowProblem] = field(default_factory=list)


def decode_body(raw: bytes, content_encoding: str | None, max_bytes: int) -> object:
    """The JSON document of a request body, gunzipped when it says so (bounded)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in {"gzip", "x-gzip"}:
        raw = _gunzip(raw, max_bytes)
    elif encoding not in {"", "identity"}:
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; use gzip.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # NaN and Infinity are not JSON, but Python's json writes them: read them too,
        # so that such rows are refused one by one rather than the whole batch
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest("The request body is not valid JSON.") from None


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise BadRequest("The request body is not valid gzip.") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The decompressed body is larger than {max_bytes} bytes.")
    if not inflater.eof:
        raise BadRequest("The gzip body is truncated.")
    return data


def gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` (for tests and clients)."""
    return gzip.compress(data, compresslevel=5)


def read_batch(document: object, feature_names: list[str], max_rows: int) -> ColumnBatch:
    """Read either wire format into columns of the schema's features."""
    if (
        not isinstance(document, dict)
        or len(document) != 1
        or not ({"columns", "rows"} & document.keys())
    ):
        raise ValidationFailed(
            'Send {"columns": {...}} (column-wise) or {"rows": [...]} (row-wise).',
            details={"_schema": ["Expected an object with one key, 'columns' or 'rows'."]},
        )
    if "rows" in document:
        rows = document["rows"]
        if not isinstance(rows, list):
            raise ValidationFailed("", details={"rows": ["Must be a list of objects."]})
        _check_size(len(rows), max_rows)
        return _from_rows(rows, feature_names)
    columns = document["columns"]
    if not isinstance(columns, dict):
        raise ValidationFailed("", details={"columns": ["Must be an object of arrays."]})
    return _from_columns(columns, feature_names, max_rows)


def _check_size(size: int, max_rows: int) -> None:
    if size > max_rows:
        raise PayloadTooLarge(
            f"The batch has {size} rows; the limit is {max_rows} (ASSAY_MAX_BATCH_ROWS)."
        )
    if size == 0:
        raise ValidationFailed("", details={"rows": ["The batch is empty."]})


def _from_columns(
    columns: dict[str, object], feature_names: list[str], max_rows: int
) -> ColumnBatch:
    problems: dict[str, list[str]] = {}
    unknown = set(columns) - ROW_KEYS
    for key in sorted(unknown):
        problems[key] = ["Unknown column."]
    for required in ("prediction_id", "prediction", "features"):
        if required not in columns:
            problems[required] = ["Missing column."]
    ids = columns.get("prediction_id")
    size = len(ids) if isinstance(ids, list) else 0
    if isinstance(ids, list):
        _check_size(size, max_rows)
    else:
        problems.setdefault("prediction_id", ["Must be an array."])

    def array(name: str, value: object) -> list[object] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            problems[name] = ["Must be an array."]
            return None
        if len(value) != size:
            problems[name] = [f"Has {len(value)} values; prediction_id has {size}."]
            return None
        return value

    def group(name: str) -> dict[str, list[object]]:
        value = columns.get(name, {})
        if not isinstance(value, dict):
            problems[name] = ["Must be an object of arrays, one per name."]
            return {}
        return {str(key): array(f"{name}.{key}", values) or [] for key, values in value.items()}

    timestamps = array("timestamp", columns.get("timestamp"))
    batch = ColumnBatch(
        size=size,
        prediction_id=ids if isinstance(ids, list) else [],
        timestamp=timestamps if timestamps is not None else [None] * size,
        features=group("features"),
        prediction=array("prediction", columns.get("prediction")) or [],
        score=array("score", columns.get("score")),
        probabilities=array("probabilities", columns.get("probabilities")),
        sensitive=group("sensitive"),
        label=array("label", columns.get("label")),
    )
    if problems:
        raise ValidationFailed("The batch's columns do not line up.", details=problems)
    for name in sorted(set(batch.features) - set(feature_names)):
        batch.row_errors.extend((i, f"features.{name}", "Unknown feature.") for i in range(size))
    for name in feature_names:
        if name not in batch.features:
            batch.features[name] = [MISSING] * size
    return batch


def _from_rows(rows: list[object], feature_names: list[str]) -> ColumnBatch:
    size = len(rows)
    known = set(feature_names)
    features: dict[str, list[object]] = {name: [MISSING] * size for name in feature_names}
    sensitive: dict[str, list[object]] = {}
    optional: dict[str, list[object] | None] = {name: None for name in OPTIONAL_COLUMNS}
    ids: list[object] = [None] * size
    timestamps: list[object] = [None] * size
    predictions: list[object] = [MISSING] * size
    errors: list[RowProblem] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append((index, "_row", "Each row must be an object."))
            continue
        for key in row.keys() - ROW_KEYS:
            errors.append((index, str(key)[:100], "Unknown field."))
        ids[index] = row.get("prediction_id")
        timestamps[index] = row.get("timestamp")
        predictions[index] = row.get("prediction", MISSING)
        for name in OPTIONAL_COLUMNS:
            if name in row:
                column = optional[name]
                if column is None:
                    column = optional[name] = [None] * size
                column[index] = row[name]
        row_features = row.get("features", {})
        if not isinstance(row_features, dict):
            errors.append((index, "features", "Must be an object."))
            continue
        for name, value in row_features.items():
            if name in known:
                features[name][index] = value
            else:
                errors.append((index, f"features.{str(name)[:100]}", "Unknown feature."))
        row_sensitive = row.get("sensitive") or {}
        if not isinstance(row_sensitive, dict):
            errors.append((index, "sensitive", "Must be an object."))
            continue
        for name, value in row_sensitive.items():
            sensitive.setdefault(str(name), [None] * size)[index] = value
    return ColumnBatch(
        size=size,
        prediction_id=ids,
        timestamp=timestamps,
        features=features,
        prediction=predictions,
        score=optional["score"],
        probabilities=optional["probabilities"],
        sensitive=sensitive,
        label=optional["label"],
        row_errors=errors,
    )
