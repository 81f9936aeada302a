"""A run's window: its bounds, the rows read from the store (sampled when too many), and the
rows ingest rejected meanwhile, with the labels received and refused (for data quality)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..ingest.label_counts import LabelFigures, label_figures
from ..ingest.models import PredictionBatch, PredictionRow
from ..ingest.window import PredictionWindow, read_window
from ..registry.models import ModelVersion
from .models import Monitor, MonitorRun


@dataclass(frozen=True)
class Window:
    """A run's window: bounds, the rows read (maybe sampled) and how many there were."""

    start: datetime | None
    end: datetime
    data: PredictionWindow
    rows_total: int
    sampled: bool
    seed: int | None
    rejected_rows: int
    labels: LabelFigures | None = None  # labels received and refused on the window's days


def read_run_window(
    session: Session, monitor: Monitor, version: ModelVersion, run: MonitorRun, limit: int
) -> Window:
    """The rows a run looks at: the hours before its slot, or the newest N predictions;
    above ``limit`` rows, a uniform sample seeded by the run's id (so it can be rebuilt)."""
    end = run.scheduled_for or run.started_at
    if end is None:
        raise ValueError(f"monitor run {run.id} has neither a slot nor a start: no window")
    spec = monitor.window
    if "hours" in spec:
        start: datetime | None = end - timedelta(hours=float(spec["hours"]))
    else:
        start = _start_of_last(session, version.id, end, int(spec["predictions"]))
    data = read_window(session, version.id, start, end)
    rows_total = len(data)
    rejected = _rejected(session, version.id, start, end)
    labels = label_figures(session, version.id, start, end)
    if rows_total <= limit:
        return Window(start, end, data, rows_total, False, None, rejected, labels)
    seed = run.id
    return Window(start, end, sample(data, limit, seed), rows_total, True, seed, rejected, labels)


def sample(data: PredictionWindow, size: int, seed: int) -> PredictionWindow:
    """A uniform sample of ``size`` rows without replacement, in time order, from ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(data), size=size, replace=False))
    return PredictionWindow(frame=data.frame.iloc[keep].reset_index(drop=True))


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
