"""Served and shadow traffic of a version: which of its stored rows were logged in the shadow
of another version (``prediction_batches.shadow_of_version_id``), and how many of each.

A shadow row is a challenger's answer to a request the champion served, stored under the
challenger with the champion's prediction id: monitors of the challenger read it like any
row, but it is not traffic the challenger served, so a rollout counts served rows only and
an A/B comparison leaves shadow rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .models import PredictionBatch, PredictionRow
from .window import bounds_us


@dataclass(frozen=True)
class TrafficCounts:
    """A version's stored predictions in a window: ``served`` (its own traffic) and
    ``shadow`` (logged in the shadow of another version)."""

    served: int
    shadow: int

    @property
    def total(self) -> int:
        """Every stored prediction of the window."""
        return self.served + self.shadow


def traffic_counts(
    session: Session,
    version_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> TrafficCounts:
    """How many of the version's predictions with ``start <= timestamp < end`` were served,
    and how many were logged in the shadow of another version."""
    start_us, end_us = bounds_us(start, end)
    is_shadow = PredictionBatch.shadow_of_version_id.is_not(None)
    served, shadow = session.execute(
        select(
            func.coalesce(func.sum(case((is_shadow, 0), else_=1)), 0),
            func.coalesce(func.sum(case((is_shadow, 1), else_=0)), 0),
        )
        .select_from(PredictionRow)
        .join(PredictionBatch, PredictionBatch.id == PredictionRow.batch_id)
        .where(
            PredictionRow.version_id == version_id,
            PredictionRow.ts_us >= start_us,
            PredictionRow.ts_us < end_us,
        )
    ).one()
    return TrafficCounts(served=int(served), shadow=int(shadow))


def shadow_prediction_ids(
    session: Session,
    version_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    shadow_of: int | None = None,
) -> set[str]:
    """The prediction ids of the version's shadow rows in the window (of those shadowing the
    version with id ``shadow_of`` only, when given)."""
    start_us, end_us = bounds_us(start, end)
    query = (
        select(PredictionRow.prediction_id)
        .join(PredictionBatch, PredictionBatch.id == PredictionRow.batch_id)
        .where(
            PredictionRow.version_id == version_id,
            PredictionRow.ts_us >= start_us,
            PredictionRow.ts_us < end_us,
            PredictionBatch.shadow_of_version_id.is_not(None),
        )
    )
    if shadow_of is not None:
        query = query.where(PredictionBatch.shadow_of_version_id == shadow_of)
    return set(session.scalars(query))


def shadow_count(
    session: Session,
    version_id: int,
    shadow_of: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """How many of the version's predictions in the window were logged in the shadow of the
    version with id ``shadow_of``."""
    start_us, end_us = bounds_us(start, end)
    return int(
        session.scalar(
            select(func.count())
            .select_from(PredictionRow)
            .join(PredictionBatch, PredictionBatch.id == PredictionRow.batch_id)
            .where(
                PredictionRow.version_id == version_id,
                PredictionRow.ts_us >= start_us,
                PredictionRow.ts_us < end_us,
                PredictionBatch.shadow_of_version_id == shadow_of,
            )
        )
        or 0
    )
