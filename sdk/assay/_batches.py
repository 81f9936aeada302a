"""The wire format of the prediction logger's batches: what a queued row is, how rows become a
request body (gzipped, column-wise JSON), and how a body is cut in two or read back."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from assay._dates import epoch_seconds

__all__ = [
    "Batch",
    "Label",
    "Row",
    "encode_labels",
    "encode_predictions",
    "label_batch",
    "new_prediction_id",
    "prediction_batch",
    "prediction_ids",
    "reseed_prediction_ids",
    "split_batch",
    "take",
]

_GZIP_LEVEL = 1

# A queued prediction: (prediction_id, timestamp, features, prediction, score, probabilities,
# sensitive, label). A tuple, because building it is the cheapest thing log() can do.
Row = tuple[
    str,
    float | datetime,
    Mapping[str, object],
    object,
    float | None,
    Mapping[str, float] | None,
    Mapping[str, object] | None,
    object,
]
#: A queued label: (prediction_id, label).
Label = tuple[str, object]
#: What JSON documents are made of here.
Document = dict[str, object]
#: Makes a batch's name from its kind and row count (``Spool.new_name``).
Namer = Callable[[str, int], str]
_Item = TypeVar("_Item")


@dataclass
class Batch:
    """One encoded request body, ready to send or to spool."""

    kind: str  # "predictions" (gzipped JSON) or "labels" (plain JSON)
    name: str  # sorts in creation order; the spool file's name
    body: bytes
    rows: int
    path: Path | None = None  # set when the batch was read back from the spool


# uuid.uuid4() reads os.urandom, a system call that releases the GIL: with many serving
# threads, getting it back is what made log()'s p99. A generator seeded from os.urandom (and
# reseeded in a forked child) makes the same 122 random bits in the uuid4 layout, in C, at once.
_id_random = random.Random(os.urandom(32))
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_prediction_id() -> str:
    """A random uuid4, as 32 hex digits."""
    return "%032x" % (_id_random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)


def reseed_prediction_ids() -> None:
    """In a forked child: stop making the ids the parent makes."""
    _id_random.seed(os.urandom(32))


def take(source: deque[_Item], limit: int) -> list[_Item]:
    """Up to ``limit`` items from the left of ``source`` (which other threads append to)."""
    items = []
    with contextlib.suppress(IndexError):
        for _ in range(min(limit, len(source))):
            items.append(source.popleft())
    return items


def prediction_batch(rows: list[Row], name: Namer) -> tuple[Batch | None, list[dict[str, object]]]:
    """The batch of ``rows`` (None when no row could be encoded) and the rows left out."""
    body, count, bad = encode_predictions(rows)
    if body is None:
        return None, bad
    return Batch("predictions", name("predictions", count), body, count), bad


def label_batch(labels: list[Label], name: Namer) -> Batch:
    """The batch of ``labels``; raises when a label cannot be encoded."""
    return Batch("labels", name("labels", len(labels)), encode_labels(labels), len(labels))


def encode_predictions(rows: list[Row]) -> tuple[bytes | None, int, list[dict[str, object]]]:
    """The gzipped request body for ``rows``, how many rows it holds, and the rows left out.

    A row the encoder cannot take (a circular structure, say) is left out with its reason,
    so that one bad row does not cost the batch.
    """
    try:
        return _gzip_json(_prediction_document(rows)), len(rows), []
    except Exception:
        pass
    good: list[Row] = []
    bad: list[dict[str, object]] = []
    for row in rows:
        try:
            json.dumps(_prediction_document([row]), default=_json_value)
            good.append(row)
        except Exception as exc:
            bad.append({"prediction_id": row[0], "message": f"cannot be encoded: {exc}"})
    if not good:
        return None, 0, bad
    return _gzip_json(_prediction_document(good)), len(good), bad


def encode_labels(labels: list[Label]) -> bytes:
    """The request body (plain JSON) for ``(prediction_id, label)`` pairs."""
    document = {"labels": [{"prediction_id": pid, "label": lab} for pid, lab in labels]}
    return json.dumps(document, separators=(",", ":"), default=_json_value).encode()


def prediction_ids(body: bytes) -> list[object]:
    """The ids of a predictions batch's rows, in order (decoded only when errors need them)."""
    try:
        document = json.loads(gzip.decompress(body))
    except (OSError, ValueError):
        return []
    if "columns" in document:
        return list(document["columns"].get("prediction_id") or [])
    return [row.get("prediction_id") for row in document.get("rows") or []]


def split_batch(kind: str, body: bytes) -> list[tuple[bytes, int]]:
    """A batch's body cut into two halves (for a server that refused it as too large)."""
    if kind == "labels":
        labels = json.loads(body)["labels"]
        half = len(labels) // 2
        return [
            (json.dumps({"labels": part}, separators=(",", ":")).encode(), len(part))
            for part in (labels[:half], labels[half:])
        ]
    document = json.loads(gzip.decompress(body))
    if "rows" in document:
        rows = document["rows"]
        half = len(rows) // 2
        return [(_gzip_json({"rows": part}), len(part)) for part in (rows[:half], rows[half:])]
    columns = document["columns"]
    size = len(columns["prediction_id"])
    halves = []
    for part in (slice(0, size // 2), slice(size // 2, size)):
        cut = {
            name: {key: values[part] for key, values in value.items()}
            if isinstance(value, dict)
            else value[part]
            for name, value in columns.items()
        }
        halves.append((_gzip_json({"columns": cut}), len(cut["prediction_id"])))
    return halves


def _gzip_json(document: Document) -> bytes:
    data = json.dumps(document, separators=(",", ":"), default=_json_value).encode()
    return gzip.compress(data, compresslevel=_GZIP_LEVEL)


def _prediction_document(rows: list[Row]) -> Document:
    """Column-wise (feature names once) when the rows agree on their keys, else row-wise."""
    feature_keys = rows[0][2].keys()
    first_sensitive = rows[0][6]
    sensitive_keys = first_sensitive.keys() if isinstance(first_sensitive, Mapping) else None
    uniform = all(
        row[2].keys() == feature_keys
        and (
            sensitive_keys is None
            if row[6] is None
            else isinstance(row[6], Mapping) and row[6].keys() == sensitive_keys
        )
        for row in rows
    )
    if not uniform:
        return {"rows": [_row_object(row) for row in rows]}
    columns: Document = {
        "prediction_id": [row[0] for row in rows],
        "timestamp": [epoch_seconds(row[1]) for row in rows],
        "features": {str(key): [row[2][key] for row in rows] for key in feature_keys},
        "prediction": [row[3] for row in rows],
    }
    for name, index in (("score", 4), ("probabilities", 5), ("label", 7)):
        values = [row[index] for row in rows]
        if any(value is not None for value in values):
            columns[name] = values
    if sensitive_keys:
        columns["sensitive"] = {
            str(key): [row[6][key] for row in rows if row[6] is not None] for key in sensitive_keys
        }
    return {"columns": columns}


def _row_object(row: Row) -> Document:
    pid, timestamp, features, prediction, score, probabilities, sensitive, label = row
    item: Document = {
        "prediction_id": pid,
        "timestamp": epoch_seconds(timestamp),
        "features": features,
        "prediction": prediction,
    }
    for name, value in (
        ("score", score),
        ("probabilities", probabilities),
        ("sensitive", sensitive),
        ("label", label),
    ):
        if value is not None:
            item[name] = value
    return item


def _json_value(value: object) -> object:
    """What ``json`` cannot encode itself: numpy scalars and arrays, dates, the rest as text."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            with contextlib.suppress(Exception):
                return convert()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
