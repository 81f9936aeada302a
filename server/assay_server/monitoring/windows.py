"""A run's window: its bounds, streamed once through the run's counts and sample, and the
rows ingest rejected meanwhile, with the labels received and refused (for data quality)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..ingest.figures import rejected_rows
from ..ingest.label_counts import LabelFigures, label_figures
from ..ingest.store import ROWS_PER_BLOCK, PredictionWindow, prediction_store
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
    newest = prediction_store(session).start_of_newest(version.id, end, int(spec["predictions"]))
    return (newest if newest is not None else datetime.fromtimestamp(0, end.tzinfo)), end


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
    store = prediction_store(session)
    for part in store.stream_window(version.id, start, end, max_rows=ROWS_PER_BLOCK):
        aggregates.add(part)
    sample = aggregates.sample
    frame = sample.result()
    if not len(frame.columns):  # nothing read: the columns every window has
        import pandas as pd  # here, not at the top: the server starts without pandas

        frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in _COLUMNS})
    data = PredictionWindow(frame=frame)
    rejected = rejected_rows(session, version.id, start, end)
    labels = label_figures(session, version.id, start, end)
    seed = sample.seed if sample.sampled else None
    return Window(
        start, end, data, aggregates.rows, sample.sampled, seed, rejected, labels, aggregates
    )
