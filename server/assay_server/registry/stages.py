"""Stages: moving a version between them, and the history of which version held which stage,
from when to when.

Every stage change goes through :meth:`StageMoves.move_stage` (as
:meth:`RegistryService.move_stage <assay_server.registry.service.RegistryService.move_stage>`),
which records it here. Governance decides every move: an approved promotion, a rollback, an
admin's direct change (which, to staging or production, is an override of the gate).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from .models import ModelVersion, Stage, StageHistory
from .queries import RegistryQueries


class StageMoves(RegistryQueries):
    """Move versions between stages: the one path, audited, published and kept in history."""

    def move_stage(
        self,
        row: ModelVersion,
        stage: str,
        comment: str | None,
        *,
        archive_holders: str | None = None,
    ) -> list[ModelVersion]:
        """The one path that moves a version between stages: its stay in the history, its
        audit event and the ``stage.changed`` event. With ``archive_holders`` (the comment to
        record), the versions in ``stage`` now are archived first; they are returned.

        Who may move what is decided by the caller (governance).
        """
        archived = []
        if archive_holders is not None:
            for other in holders(self.session, row.model_id, stage):
                if other.id != row.id:
                    self._move(other, Stage.ARCHIVED.value, archive_holders)
                    archived.append(other)
        if row.stage != stage:
            self._move(row, stage, comment)
        return archived

    def _move(self, row: ModelVersion, stage: str, comment: str | None) -> None:
        previous = row.stage
        now = self.ctx.clock()
        row.stage = stage
        row.stage_changed_at = now
        self.session.flush()
        record_stay(self.session, row, stage, at=now, by=self.ctx.actor.name, comment=comment)
        self.audit.append(
            "version.stage_changed",
            "model_version",
            row.audit_id,
            {"from": previous, "to": stage, "comment": comment},
        )
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "stage.changed",
            {
                "model": row.model.name,
                "version": row.version,
                "from": previous,
                "stage": stage,
                "changed_by": self.ctx.actor.name,
                "comment": comment,
            },
        )


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
