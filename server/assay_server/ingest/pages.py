"""Pages of stored predictions for the API: rows in time order after a cursor, each row's
values read from its batch's block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from .blocks import FEATURE, PROBABILITY, SENSITIVE, ArrowTable, decode_block
from .models import PredictionBatch, PredictionRow
from .window import bounds_us

Cursor = tuple[int, int]  # (ts_us, id) of the last row of the page before


class StoredPrediction(TypedDict):
    """One stored prediction as the API lists it."""

    prediction_id: str
    timestamp: datetime
    features: dict[str, object]
    prediction: object
    score: float | None
    probabilities: dict[str, float] | None
    sensitive: dict[str, object] | None
    label: object


@dataclass(frozen=True)
class PredictionPage:
    """Up to a page of predictions, and the cursor of the next page (None at the end)."""

    items: list[StoredPrediction]
    next_cursor: str | None


def read_cursor(text: str | None) -> Cursor | None:
    """A ``next_cursor`` as given out by :func:`page` (its shape is checked by the schema)."""
    if not text:
        return None
    ts_us, row_id = text.split(":")
    return int(ts_us), int(row_id)


def page(
    session: Session,
    version_id: int,
    start: datetime | None,
    end: datetime | None,
    after: Cursor | None,
    limit: int,
) -> PredictionPage:
    """Up to ``limit`` predictions in time order after the cursor ``(ts_us, id)``."""
    start_us, end_us = bounds_us(start, end)
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
    tables: dict[int, ArrowTable] = {}
    if batch_ids:
        for batch_id, block in session.execute(
            select(PredictionBatch.id, PredictionBatch.block).where(
                PredictionBatch.id.in_(batch_ids)
            )
        ):
            if block is not None:  # always: a batch that stored a row has a block
                tables[batch_id] = decode_block(block)
    items = [_stored_prediction(tables[row.batch_id], row) for row in rows]
    cursor = f"{rows[-1].ts_us}:{rows[-1].id}" if more and rows else None
    return PredictionPage(items=items, next_cursor=cursor)


def _stored_prediction(table: ArrowTable, row: PredictionRow) -> StoredPrediction:
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
