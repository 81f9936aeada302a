"""Labels received and rejected, counted per version and day: what data quality reports.

A label batch adds to one row per (version, day) with an upsert, so concurrent batches add up
and the table grows by a row per version a day, not per label. A monitor run's window counts
the days it touches: for a window of hours, the whole days around it (the share rejected is
the day's share; the figures say which days they cover).
"""

from __future__ import annotations

import typing
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import LabelCount

_COUNTS = typing.cast(Table, LabelCount.__table__)


@dataclass(frozen=True)
class LabelFigures:
    """Labels received for a version over some days, and how many of them were refused."""

    received: int
    rejected: int
    first_day: date | None
    last_day: date | None

    @property
    def rejected_share(self) -> float:
        """Refused labels as a share of those received (0 when none were)."""
        return self.rejected / self.received if self.received else 0.0


def count_labels(
    connection: Connection,
    model_id: int,
    day: date,
    received: Counter[int],
    rejected: Counter[int],
) -> None:
    """Add a label batch's counts (by version id) to the version's row for ``day``."""
    rows = [
        {
            "model_id": model_id,
            "version_id": version_id,
            "day": day,
            "received": received[version_id],
            "rejected": rejected[version_id],
        }
        for version_id in sorted(set(received) | set(rejected))
    ]
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_COUNTS)
    statement = statement.on_conflict_do_update(
        index_elements=[_COUNTS.c.version_id, _COUNTS.c.day],
        set_={
            "received": _COUNTS.c.received + statement.excluded.received,
            "rejected": _COUNTS.c.rejected + statement.excluded.rejected,
        },
    )
    connection.execute(statement, rows)


def label_figures(
    session: Session, version_id: int, start: datetime | None, end: datetime
) -> LabelFigures:
    """Labels received and rejected for a version on the days of ``[start, end)`` (UTC)."""
    last_day = (end - timedelta(microseconds=1)).date()
    first_day = start.date() if start is not None else None
    query = select(
        func.coalesce(func.sum(_COUNTS.c.received), 0),
        func.coalesce(func.sum(_COUNTS.c.rejected), 0),
    ).where(_COUNTS.c.version_id == version_id, _COUNTS.c.day <= last_day)
    if first_day is not None:
        query = query.where(_COUNTS.c.day >= first_day)
    received, rejected = session.execute(query).one()
    return LabelFigures(int(received), int(rejected), first_day, last_day)
