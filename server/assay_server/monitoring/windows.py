"""A run's window: its bounds, streamed once through the run's counts and sample, and the
rows ingest rejected meanwhile, with the labels received and refused (for data quality)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..ingest.label_counts import LabelFigures, label_figures
from ..ingest.models import PredictionBatch, PredictionRow
from ..ingest.window import ROWS_PER_BLOCK, PredictionWindow, stream_window
from ..registry.models import ModelVersion
from .aggregates import WindowAggregates
from .models import Monitor, MonitorRun

_COLUMNS = ("prediction_id", "timestamp", "prediction", "label")


@dataclass(frozen=True)
class Window:
    """A run's window: bounds, its sample (``data``), the counts over every row of it
    (``aggregates``) and how many rows there were."""

    start: datetime | None
    end: datetime
    data: PredictionWindow
    rows_total: int
    sampled: bool
    seed: int | None
    rejected_rows: int
    labels: LabelFigures | None = None  # labels received and refused on the window's days
    aggregates: WindowAggregates | None = None


def window_bounds(
    session: Session, monitor: Monitor, version: ModelVersion, run: MonitorRun
) -> tuple[datetime | None, datetime]:
    """A run's window: the hours before its slot, or the newest N predictions."""
    end = run.scheduled_for or run.started_at
    if end is None:
        raise ValueError(f"monitor run {run.id} has neither a slot nor a start: no window")
    spec = monitor.window
    if "hours" in spec:
        return end - timedelta(hours=float(spec["hours"])), end
    return _start_of_last(session, version.id, end, int(spec["predictions"])), end


def read_run_window(
    session: Session,
    monitor: Monitor,
    version: ModelVersion,
    run: MonitorRun,
    aggregates: WindowAggregates,
) -> Window:
    """Stream a run's window once, part by part (of about :data:`ROWS_PER_BLOCK` rows), into
    ``aggregates``: its counts over every row, and its sample seeded by the run's id."""
    start, end = window_bounds(session, monitor, version, run)
    for part in stream_window(session, version.id, start, end, max_rows=ROWS_PER_BLOCK):
        aggregates.add(part)
    sample = aggregates.sample
    frame = sample.result()
    if not len(frame.columns):  # nothing read: the columns every window has
        frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in _COLUMNS})
    data = PredictionWindow(frame=frame)
    rejected = _rejected(session, version.id, start, end)
    labels = label_figures(session, version.id, start, end)
    seed = sample.seed if sample.sampled else None
    return Window(
        start, end, data, aggregates.rows, sample.sampled, seed, rejected, labels, aggregates
    )


def _start_of_last(session: Session, version_id: int, end: datetime, count: int) -> datetime:
    end_us = int(end.timestamp() * 1_000_000)
    ts = session.scalar(
        select(PredictionRow.ts_us)
        .where(PredictionRow.version_id == version_id, PredictionRow.ts_us < end_us)
        .order_by(PredictionRow.ts_us.desc())
        .offset(count - 1)
        .limit(1)
    )
    if ts is None:
        return datetime.fromtimestamp(0, end.tzinfo)
    return datetime.fromtimestamp(ts / 1_000_000, end.tzinfo)


def _rejected(session: Session, version_id: int, start: datetime | None, end: datetime) -> int:
    query = select(func.coalesce(func.sum(PredictionBatch.rejected), 0)).where(
        PredictionBatch.version_id == version_id, PredictionBatch.received_at < end
    )
    if start is not None:
        query = query.where(PredictionBatch.received_at >= start)
    return int(session.scalar(query) or 0)
