"""Reading stored predictions back: a window as a DataFrame, pages for the API, exports.

A window is cut by timestamp. Its rows come from the blocks of the batches whose time range
overlaps it (decoded with Arrow and filtered by ``ts_us``); labels, which change after
ingest, come from the row table.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from .blocks import FEATURE, PROBABILITY, SENSITIVE, STORED, concat_blocks, decode_block
from .models import PredictionBatch, PredictionRow

EXPORT_BLOCKS_PER_CHUNK = 64
_MAX_US = 2**62


@dataclass(frozen=True)
class PredictionWindow:
    """The predictions of one version in ``[start, end)``, with their labels where known.

    ``frame`` has ``prediction_id``, ``timestamp`` (UTC), ``feature.<name>``, ``prediction``,
    ``score``, ``proba.<class>``, ``sensitive.<name>`` and ``label`` columns; the properties
    give each part with plain names.
    """

    frame: Any

    def __len__(self) -> int:
        return len(self.frame)

    def _prefixed(self, prefix: str) -> Any:
        columns = [c for c in self.frame.columns if c.startswith(prefix)]
        return self.frame[columns].rename(columns=lambda c: c[len(prefix) :])

    @property
    def features(self) -> Any:
        """Feature columns, named as in the schema."""
        return self._prefixed(FEATURE)

    @property
    def sensitive(self) -> Any:
        """Sensitive attributes, by name."""
        return self._prefixed(SENSITIVE)

    @property
    def probabilities(self) -> Any:
        """Class probabilities, one column per class."""
        return self._prefixed(PROBABILITY)

    @property
    def predictions(self) -> Any:
        """The predictions."""
        return self.frame["prediction"]

    @property
    def labels(self) -> Any:
        """Ground truth where it has arrived (else missing)."""
        return self.frame["label"]


def _blocks(
    session: Session,
    version_id: int,
    start_us: int,
    end_us: int,
    after_batch: int = 0,
    limit: int | None = None,
) -> list[tuple[int, bytes]]:
    query = (
        select(PredictionBatch.id, PredictionBatch.block)
        .where(
            PredictionBatch.version_id == version_id,
            PredictionBatch.id > after_batch,
            PredictionBatch.block.is_not(None),
            PredictionBatch.ts_max_us >= start_us,
            PredictionBatch.ts_min_us < end_us,
        )
        .order_by(PredictionBatch.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(batch_id, block) for batch_id, block in session.execute(query)]


def _labels(session: Session, version_id: int, start_us: int, end_us: int) -> Any:
    """The labels known in the window, as a Series indexed by prediction id (None if none).

    Labels are read as their JSON text and decoded in one call.
    """
    import orjson
    import pandas as pd

    query = select(PredictionRow.prediction_id, cast(PredictionRow.label, Text)).where(
        PredictionRow.version_id == version_id,
        PredictionRow.ts_us >= start_us,
        PredictionRow.ts_us < end_us,
        PredictionRow.label.is_not(None),
    )
    # through the driver's cursor: building a SQLAlchemy row per label cost 4x the query
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return None
    ids = [row[0] for row in rows]
    values = orjson.loads("[" + ",".join([row[1] for row in rows]) + "]")
    return pd.Series(values, index=pd.Index(ids, dtype=object), dtype=object)


def _table_in_window(blocks: list[tuple[int, bytes]], start_us: int, end_us: int) -> Any:
    import pyarrow.compute as pc

    table = concat_blocks(decode_block(block) for _id, block in blocks)
    if table.num_rows:
        ts = table["ts_us"]
        keep = pc.and_(pc.greater_equal(ts, start_us), pc.less(ts, end_us))
        if STORED in table.column_names:
            keep = pc.and_(keep, pc.fill_null(table[STORED], True))
        table = table.filter(keep)
    if STORED in table.column_names:
        table = table.drop_columns([STORED])
    return table


def _frame(table: Any, labels: Any) -> Any:
    """Arrow to pandas: text values become categories (a million Python strings per column
    would cost seconds and hundreds of MB), ids stay Arrow-backed strings."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    for index, name in enumerate(table.column_names):
        column = table[name]
        if name != "prediction_id" and pa.types.is_string(column.type):
            table = table.set_column(index, name, pc.dictionary_encode(column))
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    frame.insert(1, "timestamp", pd.to_datetime(frame.pop("ts_us"), unit="us", utc=True))
    if labels is None:
        frame["label"] = None
    else:
        ids = frame["prediction_id"].astype(object).to_numpy()
        frame["label"] = labels.reindex(ids).to_numpy()
    return frame


def _bounds(start: datetime | None, end: datetime | None) -> tuple[int, int]:
    def micros(value: datetime) -> int:
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(aware.timestamp() * 1_000_000)

    return (micros(start) if start else 0), (micros(end) if end else _MAX_US)


def read_window(
    session: Session, version_id: int, start: datetime | None = None, end: datetime | None = None
) -> PredictionWindow:
    """Every prediction of a version with ``start <= timestamp < end``, as one DataFrame."""
    start_us, end_us = _bounds(start, end)
    table = _table_in_window(_blocks(session, version_id, start_us, end_us), start_us, end_us)
    return PredictionWindow(frame=_frame(table, _labels(session, version_id, start_us, end_us)))


def export_frames(
    session: Session, version_id: int, start: datetime | None, end: datetime | None
) -> Iterator[Any]:
    """A window as a sequence of DataFrames, a few dozen blocks at a time (for streaming)."""
    start_us, end_us = _bounds(start, end)
    after = 0
    while True:
        blocks = _blocks(
            session, version_id, start_us, end_us, after_batch=after, limit=EXPORT_BLOCKS_PER_CHUNK
        )
        if not blocks:
            return
        after = blocks[-1][0]
        table = _table_in_window(blocks, start_us, end_us)
        if table.num_rows:
            ts = table["ts_us"].to_pylist()
            labels = _labels(session, version_id, min(ts), max(ts) + 1)
            yield _frame(table, labels)


def csv_chunks(frames: Iterator[Any]) -> Iterator[bytes]:
    """Frames as one CSV, the header once (columns may grow: a later class adds a column)."""
    header: list[str] | None = None
    for frame in frames:
        if header is None:
            header = list(frame.columns)
            yield frame.to_csv(index=False).encode("utf-8")
            continue
        for column in frame.columns:
            if column not in header:
                header.append(column)
        yield frame.reindex(columns=header).to_csv(index=False, header=False).encode("utf-8")


class _Collector(io.RawIOBase):
    """A write-only file that hands over what was written since the last ``drain``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def parquet_chunks(frames: Iterator[Any]) -> Iterator[bytes]:
    """Frames as one Parquet file, a row group per frame, streamed as it is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Collector()
    writer = None
    schema = None
    for frame in frames:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(sink, schema)
        else:
            table = _conform(table, schema)
        writer.write_table(table)
        yield sink.drain()
    if writer is None:
        import pandas as pd

        empty = pd.DataFrame({"prediction_id": pd.Series([], dtype="string")})
        writer = pq.ParquetWriter(sink, pa.Table.from_pandas(empty, preserve_index=False).schema)
    writer.close()
    yield sink.drain()


def _conform(table: Any, schema: Any) -> Any:
    """A later chunk in the first chunk's schema: missing columns null, new ones dropped."""
    import pyarrow as pa

    columns = []
    for schema_field in schema:
        if schema_field.name in table.column_names:
            column = table[schema_field.name]
            columns.append(
                column
                if column.type == schema_field.type
                else column.cast(schema_field.type, safe=False)
            )
        else:
            columns.append(pa.nulls(table.num_rows, schema_field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def page(
    session: Session,
    version_id: int,
    start: datetime | None,
    end: datetime | None,
    after: tuple[int, int] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Any]:
    """Up to ``limit`` predictions in time order after the cursor ``(ts_us, id)``."""
    start_us, end_us = _bounds(start, end)
    query = select(PredictionRow).where(
        PredictionRow.version_id == version_id,
        PredictionRow.ts_us >= start_us,
        PredictionRow.ts_us < end_us,
    )
    if after is not None:
        ts_after, id_after = after
        query = query.where(
            (PredictionRow.ts_us > ts_after)
            | ((PredictionRow.ts_us == ts_after) & (PredictionRow.id > id_after))
        )
    rows = list(
        session.scalars(query.order_by(PredictionRow.ts_us, PredictionRow.id).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    batch_ids = sorted({row.batch_id for row in rows})
    tables = {}
    if batch_ids:
        for batch_id, block in session.execute(
            select(PredictionBatch.id, PredictionBatch.block).where(
                PredictionBatch.id.in_(batch_ids)
            )
        ):
            tables[batch_id] = decode_block(block)
    items = [_row_dict(tables[row.batch_id], row) for row in rows]
    cursor = f"{rows[-1].ts_us}:{rows[-1].id}" if more and rows else None
    return items, cursor


def _row_dict(table: Any, row: PredictionRow) -> dict[str, Any]:
    values = {name: table[name][row.row].as_py() for name in table.column_names}
    return {
        "prediction_id": row.prediction_id,
        "timestamp": datetime.fromtimestamp(row.ts_us / 1_000_000, tz=timezone.utc),
        "features": {k[len(FEATURE) :]: v for k, v in values.items() if k.startswith(FEATURE)},
        "prediction": values.get("prediction"),
        "score": values.get("score"),
        "probabilities": {
            k[len(PROBABILITY) :]: v
            for k, v in values.items()
            if k.startswith(PROBABILITY) and v is not None
        }
        or None,
        "sensitive": {k[len(SENSITIVE) :]: v for k, v in values.items() if k.startswith(SENSITIVE)}
        or None,
        "label": row.label,
    }
