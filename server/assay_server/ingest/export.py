"""Exporting a window of predictions as CSV or Parquet, streamed a few dozen blocks at a time.

The version is looked up while the request is open (a wrong name is a 404 before the response
starts); the rows are read while the response is sent, in a read unit of work of the stream's
own, since the request's has ended by then.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import Database
from ..registry.service import RegistryService
from .blocks import ArrowTable
from .schemas import ExportArgs, ExportFormat
from .window import (
    DataFrame,
    blocks_in_window,
    bounds_us,
    labels_in_window,
    table_in_window,
    window_frame,
)

EXPORT_BLOCKS_PER_CHUNK = 64
MIMETYPES: dict[ExportFormat, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
ArrowSchema: TypeAlias = Any  # a pyarrow.Schema (pyarrow ships no type information)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


@dataclass(frozen=True)
class PredictionExport:
    """A window's predictions as a file: its chunks (read as they are sent), media type, name."""

    chunks: Iterator[bytes]
    mimetype: str
    filename: str


def export_predictions(
    database: Database,
    session: Session,
    ctx: ServiceContext,
    model_name: str,
    version: int,
    args: ExportArgs,
) -> PredictionExport:
    """A window of a version's predictions as CSV or Parquet: the version is looked up now in
    ``session`` (the request's), the rows read in a read unit of work of their own as the
    chunks are taken."""
    version_id = RegistryService(session, ctx).get_version(model_name, version).id
    fmt, since, until = args["format"], args.get("since"), args.get("until")

    def chunks() -> Iterator[bytes]:
        with database.unit_of_work(write=False) as reading:
            frames = export_frames(reading, version_id, since, until)
            yield from (csv_chunks(frames) if fmt == "csv" else parquet_chunks(frames))

    return PredictionExport(
        chunks=chunks(),
        mimetype=MIMETYPES[fmt],
        filename=f"{model_name}-v{version}-predictions.{fmt}",
    )


def export_frames(
    session: Session, version_id: int, start: datetime | None, end: datetime | None
) -> Iterator[DataFrame]:
    """A window as a sequence of DataFrames, a few dozen blocks at a time (for streaming)."""
    start_us, end_us = bounds_us(start, end)
    after = 0
    while True:
        blocks = blocks_in_window(
            session, version_id, start_us, end_us, after_batch=after, limit=EXPORT_BLOCKS_PER_CHUNK
        )
        if not blocks:
            return
        after = blocks[-1][0]
        table = table_in_window(blocks, start_us, end_us)
        if table.num_rows:
            ts = table["ts_us"].to_pylist()
            labels = labels_in_window(session, version_id, min(ts), max(ts) + 1)
            yield window_frame(table, labels)


def csv_chunks(frames: Iterator[DataFrame]) -> Iterator[bytes]:
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

    def write(self, data: ReadableBuffer) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def parquet_chunks(frames: Iterator[DataFrame]) -> Iterator[bytes]:
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


def _conform(table: ArrowTable, schema: ArrowSchema) -> ArrowTable:
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
