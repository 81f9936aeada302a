"""A batch's accepted rows as one Arrow IPC stream, and reading blocks back as a table.

Column names inside a block: ``ts_us``, ``prediction_id``, ``feature.<name>``, ``prediction``,
``score``, ``proba.<class>``, ``sensitive.<name>``. Numbers are float64; categories keep
their JSON type (string, int64 or bool) when a batch is uniform, and become strings when it
mixes them. pyarrow is imported here only.

Validation converts the columns it can pass whole (:func:`valid_numbers`,
:func:`valid_texts`); the block reuses those arrays rather than converting the lists again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias, TypeVar, cast

from .wire import ColumnBatch

# pyarrow ships no type information: these aliases say which of its objects a value is.
ArrowArray: TypeAlias = Any  # a pyarrow.Array (or ChunkedArray)
ArrowTable: TypeAlias = Any  # a pyarrow.Table

FEATURE = "feature."
SENSITIVE = "sensitive."
PROBABILITY = "proba."
STORED = "stored"
_NUMBER_TYPES = frozenset({float, int, type(None)})
_Value = TypeVar("_Value")


def _take(values: list[_Value], keep: list[int]) -> list[_Value]:
    if len(keep) == len(values):  # every row kept (indices are ascending and unique)
        return values
    return [values[i] for i in keep]


def _category_array(values: list[object]) -> ArrowArray:
    import pyarrow as pa

    types = set(map(type, values)) - {type(None)}
    if types <= {str}:
        return pa.array(values, type=pa.string())
    if types == {bool}:
        return pa.array(values, type=pa.bool_())
    if types == {int}:
        return pa.array(values, type=pa.int64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _text_array(values: list[object]) -> ArrowArray:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _number_array(values: list[object]) -> ArrowArray:
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, OverflowError):  # an integer float64 holds only approximately
        numbers = cast("list[float | None]", values)  # the block's rows are valid: numbers
        return pa.array([None if v is None else float(v) for v in numbers], type=pa.float64())


def valid_numbers(values: list[object]) -> ArrowArray | None:
    """``values`` as a float64 array when each is a finite number (not a boolean) or null;
    None when some value needs a closer look."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None
    try:
        array = pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, OverflowError):  # integers beyond float64's exact range
        return None
    return array if pc.is_finite(array).false_count == 0 else None


def valid_texts(values: list[object], *, min_chars: int, max_chars: int) -> ArrowArray | None:
    """``values`` as a string array when each is text of ``min_chars`` to ``max_chars``
    characters or null; None when some value needs a closer look (not text, not encodable
    as UTF-8, holding a NUL character, too short or too long)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        return None
    lengths = pc.min_max(pc.utf8_length(array))
    shortest, longest = lengths["min"].as_py(), lengths["max"].as_py()
    if shortest is not None and not (min_chars <= shortest and longest <= max_chars):
        return None
    if _holds_nul(array):
        return None
    return array


def _holds_nul(array: ArrowArray) -> bool:
    """Whether any string of a string array holds a NUL character: one memchr over its
    bytes (15 µs for 10,000 ids, against 440 µs for ``pc.match_substring``)."""
    import numpy as np

    _validity, offsets, data = array.buffers()
    if data is None:
        return False
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    return memoryview(data)[bounds[0] : bounds[-1]].tobytes().find(b"\x00") >= 0


def encode_block(
    batch: ColumnBatch,
    keep: list[int],
    ts_us: list[int],
    kinds: dict[str, str],
    numeric_output: bool,
    stored: set[int] | None = None,
    converted: dict[str, ArrowArray] | None = None,
) -> bytes:
    """The rows ``keep`` of ``batch`` as Arrow IPC bytes.

    ``stored`` names the positions in ``keep`` whose ids were new; when some were not (a
    concurrent or repeated send stored them first), a ``stored`` column marks which rows of
    the block count, and readers skip the others. ``converted`` holds columns validation
    already made into arrays, by field (``prediction_id``, ``features.<name>``, …).
    """
    import pyarrow as pa

    converted = converted or {}
    every_row = len(keep) == batch.size
    positions = None if every_row else pa.array(keep, type=pa.int64())

    def column(
        field: str, values: list[object], convert: Callable[[list[object]], ArrowArray]
    ) -> ArrowArray:
        array = converted.get(field)
        if array is None:
            return convert(_take(values, keep))
        return array if positions is None else array.take(positions)

    columns: dict[str, ArrowArray] = {
        "ts_us": pa.array(_take(ts_us, keep), type=pa.int64()),
        "prediction_id": column("prediction_id", batch.prediction_id, _text_array),
    }
    for name, values in batch.features.items():
        if name not in kinds:
            continue
        convert = _number_array if kinds[name] == "numerical" else _category_array
        columns[FEATURE + name] = column(f"features.{name}", values, convert)
    columns["prediction"] = column(
        "prediction", batch.prediction, _number_array if numeric_output else _category_array
    )
    if batch.score is not None:
        columns["score"] = column("score", batch.score, _number_array)
    if batch.probabilities is not None:
        # checked: each kept row's probabilities are an object of class → number, or null
        kept = cast("list[dict[str, float] | None]", _take(batch.probabilities, keep))
        classes = sorted({str(c) for row in kept if row for c in row})
        for label in classes:
            columns[PROBABILITY + label] = _number_array(
                [row.get(label) if row else None for row in kept]
            )
    for name, values in batch.sensitive.items():
        columns[SENSITIVE + name] = column(f"sensitive.{name}", values, _category_array)
    if stored is not None:
        columns[STORED] = pa.array([p in stored for p in range(len(keep))], type=pa.bool_())
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_block(block: bytes) -> ArrowTable:
    """One block as a ``pyarrow.Table``."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(block)).read_all()


def concat_blocks(tables: Iterable[ArrowTable]) -> ArrowTable:
    """Blocks as one table; columns a block lacks are null there, and a column whose type
    differs between blocks (a category sent as numbers, then as text) becomes text."""
    import pyarrow as pa

    tables = list(tables)
    if not tables:
        return pa.table(
            {"ts_us": pa.array([], pa.int64()), "prediction_id": pa.array([], pa.string())}
        )
    types: dict[str, set[object]] = {}
    for table in tables:
        for schema_field in table.schema:
            types.setdefault(schema_field.name, set()).add(schema_field.type)
    mixed = {name for name, seen in types.items() if len(seen - {pa.null()}) > 1}
    if mixed:
        tables = [_stringify(table, mixed) for table in tables]
    return pa.concat_tables(tables, promote_options="permissive")


def _stringify(table: ArrowTable, names: set[str]) -> ArrowTable:
    import pyarrow as pa

    for name in names & set(table.column_names):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table[name].cast(pa.string()))
    return table
