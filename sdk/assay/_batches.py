"""The wire format of the prediction logger's batches: what a queued row is, how rows become a
request body (column-wise JSON, gzipped unless told not to), and how a body is cut in two or
read back."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import repeat
from operator import is_, is_not, itemgetter
from pathlib import Path
from typing import Any, TypeVar

from assay._batch_json import dumps
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
#: The first two bytes of a gzip stream (JSON text never starts with them).
GZIP_MAGIC = b"\x1f\x8b"

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
#: Makes a batch's name from its kind, row count and whether its body is gzipped
#: (``Spool.new_name``).
Namer = Callable[[str, int, bool], str]
_Item = TypeVar("_Item")


@dataclass
class Batch:
    """One encoded request body, ready to send or to spool."""

    kind: str  # "predictions" (JSON, gzipped or not) or "labels" (plain JSON)
    name: str  # sorts in creation order; the spool file's name
    body: bytes
    rows: int
    path: Path | None = None  # set when the batch was read back from the spool

    @property
    def gzipped(self) -> bool:
        """Whether the body is gzip (sent with ``Content-Encoding: gzip``)."""
        return self.body[:2] == GZIP_MAGIC


# uuid.uuid4() reads os.urandom, a system call that releases the GIL: with many serving
# threads, getting it back is what made log()'s p99. A generator seeded from os.urandom (and
# reseeded in a forked child) makes the random bits in C, at once.
_id_random = random.Random(os.urandom(32))
# The UUID version 7 layout (RFC 9562): 48 bits of Unix time in ms, the version (7), 12
# random bits, the variant (0b10), 62 random bits. Ids that grow with time land at the right
# edge of the store's unique index on prediction_id: on the project's machine the server took
# 49,499 rows/s of 1,000-row batches with such ids against 23,633 with uuid4's.
_RANDOM_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID7_SET = (0x7 << 76) | (0x2 << 62)


def new_prediction_id() -> str:
    """A random, time-ordered UUID (version 7), as 32 hex digits."""
    random_bits = _id_random.getrandbits(80) & _RANDOM_CLEAR | _UUID7_SET
    return "%032x" % (time.time_ns() // 1_000_000 << 80 | random_bits)


def reseed_prediction_ids() -> None:
    """In a forked child: stop making the ids the parent makes."""
    _id_random.seed(os.urandom(32))


def take(source: deque[_Item], limit: int) -> list[_Item]:
    """Up to ``limit`` items from the left of ``source`` (which other threads append to)."""
    items: list[_Item] = []
    append, pop = items.append, source.popleft
    with contextlib.suppress(IndexError):
        for _ in range(min(limit, len(source))):
            append(pop())
    return items


def prediction_batch(
    rows: list[Row], name: Namer, *, compress: bool = True
) -> tuple[Batch | None, list[dict[str, object]]]:
    """The batch of ``rows`` (None when no row could be encoded) and the rows left out."""
    body, count, bad = encode_predictions(rows, compress=compress)
    if body is None:
        return None, bad
    return Batch("predictions", name("predictions", count, compress), body, count), bad


def label_batch(labels: list[Label], name: Namer) -> Batch:
    """The batch of ``labels``; raises when a label cannot be encoded."""
    return Batch("labels", name("labels", len(labels), False), encode_labels(labels), len(labels))


def encode_predictions(
    rows: list[Row], *, compress: bool = True
) -> tuple[bytes | None, int, list[dict[str, object]]]:
    """The request body for ``rows`` (gzipped when ``compress``), how many rows it holds, and
    the rows left out.

    A row the encoder cannot take (a circular structure, say) is left out with its reason,
    so that one bad row does not cost the batch.
    """
    try:
        return _body(_prediction_document(rows), compress), len(rows), []
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
    return _body(_prediction_document(good), compress), len(good), bad


def encode_labels(labels: list[Label]) -> bytes:
    """The request body (plain JSON) for ``(prediction_id, label)`` pairs."""
    document = {"labels": [{"prediction_id": pid, "label": lab} for pid, lab in labels]}
    return json.dumps(document, separators=(",", ":"), default=_json_value).encode()


def prediction_ids(body: bytes) -> list[object]:
    """The ids of a predictions batch's rows, in order (decoded only when errors need them)."""
    try:
        document = json.loads(_plain(body))
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
    compress = body[:2] == GZIP_MAGIC
    document = json.loads(_plain(body))
    if "rows" in document:
        rows = document["rows"]
        half = len(rows) // 2
        return [(_body({"rows": part}, compress), len(part)) for part in (rows[:half], rows[half:])]
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
        halves.append((_body({"columns": cut}, compress), len(cut["prediction_id"])))
    return halves


def _body(document: Document, compress: bool) -> bytes:
    data = dumps(document, _json_value)
    # zlib compresses with the GIL released: the serving threads and senders run meanwhile
    return gzip.compress(data, compresslevel=_GZIP_LEVEL) if compress else data


def _plain(body: bytes) -> bytes:
    return gzip.decompress(body) if body[:2] == GZIP_MAGIC else body


def _prediction_document(rows: list[Row]) -> Document:
    """Column-wise (feature names once) when the rows agree on their keys, else row-wise.

    The rows are turned into columns in C (``zip(*rows)``, ``itemgetter``): building the
    columns a row at a time in Python cost as much as encoding them with orjson.
    """
    ids, stamps, features, predictions, scores, probabilities, sensitive, labels = zip(
        *rows, strict=True
    )
    feature_columns = _columns(features)
    if not _any_given(sensitive):
        sensitive_columns: dict[str, tuple[object, ...]] | None = {}
    elif any(map(is_, sensitive, repeat(None))):
        sensitive_columns = None
    else:
        sensitive_columns = _columns(sensitive)
    if feature_columns is None or sensitive_columns is None:
        return {"rows": [_row_object(row) for row in rows]}
    columns: Document = {
        "prediction_id": ids,
        "timestamp": stamps if set(map(type, stamps)) <= {float, int} else _seconds(stamps),
        "features": feature_columns,
        "prediction": predictions,
    }
    for name, values in (("score", scores), ("probabilities", probabilities), ("label", labels)):
        if _any_given(values):
            columns[name] = values
    if sensitive_columns:
        columns["sensitive"] = sensitive_columns
    return {"columns": columns}


def _columns(mappings: tuple[Any, ...]) -> dict[str, tuple[object, ...]] | None:
    """``{key: the values of all mappings}`` when every mapping has the same keys, else None."""
    first = mappings[0]
    if not isinstance(first, Mapping):
        return None
    keys = list(first)
    if set(map(len, mappings)) != {len(keys)}:
        return None
    if not keys:
        return {}
    if set(map(type, mappings)) != {dict} and any(  # a Mapping may answer for keys it lacks
        each.keys() != first.keys() for each in mappings
    ):
        return None
    try:
        values = list(map(itemgetter(*keys), mappings))
    except (KeyError, TypeError):  # same sizes, other keys
        return None
    if len(keys) == 1:
        return {str(keys[0]): tuple(values)}
    return {str(key): column for key, column in zip(keys, zip(*values, strict=True), strict=True)}


def _any_given(values: tuple[object, ...]) -> bool:
    """Whether any value is not None (by identity: ``==`` on an array answers an array)."""
    return any(map(is_not, values, repeat(None)))


def _seconds(stamps: tuple[object, ...]) -> list[object]:
    return [epoch_seconds(each) for each in stamps]  # type: ignore[arg-type]


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
    if isinstance(value, float):  # a subclass (numpy's float64): orjson asks, json does not
        return float(value)
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
