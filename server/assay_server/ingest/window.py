"""Reading stored predictions back: a window of a version as one DataFrame.

A window is cut by timestamp. Its rows come from the blocks of the batches whose time range
overlaps it (decoded with Arrow and filtered by ``ts_us``); labels, which change after
ingest, come from the row table. Exports (``export.py``) read a window a few blocks at a
time with the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeAlias

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from .blocks import (
    FEATURE,
    PROBABILITY,
    SENSITIVE,
    STORED,
    ArrowTable,
    concat_blocks,
    decode_block,
)
from .models import PredictionBatch, PredictionRow

_MAX_US = 2**62

# pandas ships no type information: these aliases say which of its objects a value is.
DataFrame: TypeAlias = Any  # a pandas.DataFrame
Series: TypeAlias = Any  # a pandas.Series


@dataclass(frozen=True)
class PredictionWindow:
    """The predictions of one version in ``[start, end)``, with their labels where known.

    ``frame`` has ``prediction_id``, ``timestamp`` (UTC), ``feature.<name>``, ``prediction``,
    ``score``, ``proba.<class>``, ``sensitive.<name>`` and ``label`` columns; the properties
    give each part with plain names.
    """

    frame: DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def _prefixed(self, prefix: str) -> DataFrame:
        columns = [c for c in self.frame.columns if c.startswith(prefix)]
        return self.frame[columns].rename(columns=lambda c: c[len(prefix) :])

    @property
    def features(self) -> DataFrame:
        """Feature columns, named as in the schema."""
        return self._prefixed(FEATURE)

    @property
    def sensitive(self) -> DataFrame:
        """Sensitive attributes, by name."""
        return self._prefixed(SENSITIVE)

    @property
    def probabilities(self) -> DataFrame:
        """Class probabilities, one column per class."""
        return self._prefixed(PROBABILITY)

    @property
    def predictions(self) -> Series:
        """The predictions."""
        return self.frame["prediction"]

    @property
    def labels(self) -> Series:
        """Ground truth where it has arrived (else missing)."""
        return self.frame["label"]


def blocks_in_window(
    session: Session,
    version_id: int,
    start_us: int,
    end_us: int,
    after_batch: int = 0,
    limit: int | None = None,
) -> list[tuple[int, bytes]]:
    """``(batch id, block)`` of the batches with rows in ``[start_us, end_us)``, by id, after
    ``after_batch``. A batch's day is that of its newest row, so the days before the
    window's first are left out (on PostgreSQL, their partitions are not read at all)."""
    query = (
        select(PredictionBatch.id, PredictionBatch.block)
        .where(
            PredictionBatch.version_id == version_id,
            PredictionBatch.id > after_batch,
            PredictionBatch.block.is_not(None),
            PredictionBatch.ts_max_us >= start_us,
            PredictionBatch.ts_min_us < end_us,
            PredictionBatch.day >= _day(start_us),
        )
        .order_by(PredictionBatch.id)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query)
    return [(batch_id, block) for batch_id, block in rows if block is not None]  # as queried


def _day(ts_us: int) -> date:
    """The UTC day of an epoch-microsecond time."""
    return date(1970, 1, 1) + timedelta(days=ts_us // 86_400_000_000)


def labels_in_window(
    session: Session, version_id: int, start_us: int, end_us: int
) -> Series | None:
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


def table_in_window(blocks: list[tuple[int, bytes]], start_us: int, end_us: int) -> ArrowTable:
    """The blocks' stored rows in ``[start_us, end_us)`` as one table."""
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


def window_frame(table: ArrowTable, labels: Series | None) -> DataFrame:
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


def bounds_us(start: datetime | None, end: datetime | None) -> tuple[int, int]:
    """A window's bounds in epoch microseconds; an open bound takes in every row."""

    def micros(value: datetime) -> int:
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(aware.timestamp() * 1_000_000)

    return (micros(start) if start else 0), (micros(end) if end else _MAX_US)


def read_window(
    session: Session, version_id: int, start: datetime | None = None, end: datetime | None = None
) -> PredictionWindow:
    """Every prediction of a version with ``start <= timestamp < end``, as one DataFrame."""
    start_us, end_us = bounds_us(start, end)
    table = table_in_window(
        blocks_in_window(session, version_id, start_us, end_us), start_us, end_us
    )
    labels = labels_in_window(session, version_id, start_us, end_us)
    return PredictionWindow(frame=window_frame(table, labels))


#: Batches decoded together when a window is streamed (about 250k rows at the SDK's default).
BATCHES_PER_BLOCK = 250


def _labels_of_batches(session: Session, version_id: int, batch_ids: list[int]) -> Series | None:
    import orjson
    import pandas as pd

    rows = session.execute(
        select(PredictionRow.prediction_id, cast(PredictionRow.label, Text)).where(
            PredictionRow.version_id == version_id,
            PredictionRow.batch_id.in_(batch_ids),
            PredictionRow.label.is_not(None),
        )
    ).all()
    if not rows:
        return None
    values = orjson.loads("[" + ",".join(row[1] for row in rows) + "]")
    return pd.Series(values, index=pd.Index([row[0] for row in rows], dtype=object), dtype=object)


def stream_window(
    session: Session,
    version_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    batches_per_block: int = BATCHES_PER_BLOCK,
) -> Iterator[PredictionWindow]:
    """The window of :func:`read_window`, a few batches at a time: each part holds the rows
    (and their labels) of up to ``batches_per_block`` batches, in batch order, so memory
    stays bounded whatever the window's size. Parts may be empty."""
    start_us, end_us = bounds_us(start, end)
    after = 0
    while True:
        blocks = blocks_in_window(
            session, version_id, start_us, end_us, after_batch=after, limit=batches_per_block
        )
        if not blocks:
            return
        after = blocks[-1][0]
        labels = _labels_of_batches(session, version_id, [batch_id for batch_id, _ in blocks])
        yield PredictionWindow(
            frame=window_frame(table_in_window(blocks, start_us, end_us), labels)
        )
