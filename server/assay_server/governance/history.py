"""Stage history: which version held which stage, from when to when; and rollback.

Every stage change goes through ``RegistryService._move`` (the direct admin change, an
approved promotion, a rollback), which calls :func:`record_stage_change` here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from ..context import ServiceContext
from ..registry.models import ModelVersion, Stage
from .events import publish
from .models import StageHistory


def record_stage_change(
    session: Session, ctx: ServiceContext, row: ModelVersion, stage: str, comment: str | None
) -> None:
    """Close the version's open stay and open one in ``stage`` (none: no stay is opened)."""
    now = ctx.clock()
    session.execute(
        update(StageHistory)
        .where(StageHistory.version_id == row.id, StageHistory.left_at.is_(None))
        .values(left_at=now)
    )
    if stage != Stage.NONE.value:
        session.add(
            StageHistory(
                model_id=row.model_id,
                version_id=row.id,
                stage=stage,
                entered_at=now,
                entered_by=ctx.actor.name,
                comment=comment,
            )
        )
    session.flush()
    publish(
        session,
        "stage.changed",
        {
            "model": row.model.name,
            "version": row.version,
            "stage": stage,
            "changed_by": ctx.actor.name,
            "comment": comment,
        },
    )


def stage_history(
    session: Session,
    model_id: int,
    *,
    at: datetime | None = None,
    stage: str | None = None,
    version_id: int | None = None,
) -> list[StageHistory]:
    """The model's stays, oldest first; with ``at``, only those that held their stage then."""
    query = (
        select(StageHistory)
        .options(joinedload(StageHistory.version))
        .where(StageHistory.model_id == model_id)
    )
    if stage:
        query = query.where(StageHistory.stage == stage)
    if version_id is not None:
        query = query.where(StageHistory.version_id == version_id)
    if at is not None:
        query = query.where(
            StageHistory.entered_at <= at,
            (StageHistory.left_at.is_(None)) | (StageHistory.left_at > at),
        )
    return list(session.scalars(query.order_by(StageHistory.entered_at, StageHistory.id)))


def held(session: Session, version_id: int, stage: str) -> bool:
    """True when the version has ever held ``stage``."""
    return (
        session.scalar(
            select(StageHistory.id)
            .where(StageHistory.version_id == version_id, StageHistory.stage == stage)
            .limit(1)
        )
        is not None
    )


def entry_json(entry: StageHistory) -> dict[str, Any]:
    """A stay as the compliance report lists it."""
    return {
        "version": entry.version_number,
        "stage": entry.stage,
        "entered_at": entry.entered_at,
        "left_at": entry.left_at,
        "entered_by": entry.entered_by,
        "comment": entry.comment,
    }
