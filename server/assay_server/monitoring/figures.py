"""Monitor runs by status with their total duration, aggregated in SQL (for ``/metrics``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import MonitorRun


def run_figures(session: Session) -> list[tuple[str, int, float]]:
    """``(status, runs, seconds)`` per status, seconds summed over finished runs."""
    rows = session.execute(
        select(
            MonitorRun.status,
            func.count(MonitorRun.id),
            func.coalesce(func.sum(MonitorRun.duration_seconds), 0.0),
        )
        .group_by(MonitorRun.status)
        .order_by(MonitorRun.status)
    )
    return [(status, int(count), float(seconds or 0.0)) for status, count, seconds in rows]
