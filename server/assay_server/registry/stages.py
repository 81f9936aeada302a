"""Stage history: which version held which stage, from when to when.

Every stage change goes through :meth:`RegistryService.move_stage
<assay_server.registry.service.RegistryService.move_stage>` (a direct admin change, an approved
promotion, a rollback), which records it here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from .models import ModelVersion, Stage, StageHistory


def record_stay(
    session: Session, row: ModelVersion, stage: str, *, at: datetime, by: str, comment: str | None
) -> None:
    """Close the version's open stay and open one in ``stage`` (none: no stay is opened)."""
    session.execute(
        update(StageHistory)
        .where(StageHistory.version_id == row.id, StageHistory.left_at.is_(None))
        .values(left_at=at)
    )
    if stage != Stage.NONE.value:
        session.add(
            StageHistory(
                model_id=row.model_id,
                version_id=row.id,
                stage=stage,
                entered_at=at,
                entered_by=by,
                comment=comment,
            )
        )
    session.flush()


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


def holders(session: Session, model_id: int, stage: str) -> list[ModelVersion]:
    """The model's versions in ``stage`` now."""
    return list(
        session.scalars(
            select(ModelVersion).where(
                ModelVersion.model_id == model_id, ModelVersion.stage == stage
            )
        )
    )
