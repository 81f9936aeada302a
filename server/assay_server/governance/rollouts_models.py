"""Phased rollouts: a plan of traffic shares for a candidate version on an approved
promotion to production, where it stands, and what happened to it step by step."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..registry.models import ModelVersion, RegisteredModel


class RolloutStatus(str, enum.Enum):
    """Where a rollout stands: ``running`` and ``halted`` are open (one per model);
    ``rolled_back`` and ``completed`` are final."""

    RUNNING = "running"
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"


OPEN_ROLLOUT_STATUSES = (RolloutStatus.RUNNING.value, RolloutStatus.HALTED.value)


class PlannedStep(TypedDict):
    """One step of a plan: the candidate's share of traffic (percent), and what must be
    reached at this share before the next step: minutes, and predictions it served."""

    percent: float
    min_duration_minutes: float
    min_predictions: int


class Rollout(Base):
    """A candidate version rolled out step by step against the production version
    (``baseline``): ``step`` is the index in ``steps`` of the share it serves now,
    ``candidate_share`` that share as a fraction (0 once rolled back, 1 once completed)."""

    __tablename__ = "rollouts"
    __table_args__ = (
        # one open rollout per model
        Index(
            "uq_rollouts_open_model",
            "model_id",
            unique=True,
            sqlite_where=text("status IN ('running', 'halted')"),
            postgresql_where=text("status IN ('running', 'halted')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"), unique=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    baseline_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    steps: Mapped[list[PlannedStep]] = mapped_column(JSON)
    rollback_on_halt: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[int]
    candidate_share: Mapped[float]
    step_started_at: Mapped[datetime]
    halted_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    model: Mapped[RegisteredModel] = relationship()
    candidate: Mapped[ModelVersion] = relationship(foreign_keys=[candidate_id])
    baseline: Mapped[ModelVersion] = relationship(foreign_keys=[baseline_id])
    history: Mapped[list[RolloutEvent]] = relationship(
        back_populates="rollout", order_by="RolloutEvent.id"
    )

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def candidate_version(self) -> int:
        """The candidate's version number."""
        return self.candidate.version

    @property
    def baseline_version(self) -> int:
        """The production version's number when the rollout started."""
        return self.baseline.version

    @property
    def is_open(self) -> bool:
        """Running or halted: it still decides the split."""
        return self.status in OPEN_ROLLOUT_STATUSES

    @property
    def current_percent(self) -> float:
        """The candidate's share now, in percent."""
        return round(self.candidate_share * 100, 6)

    def split(self) -> dict[int, float]:
        """``{version number: weight}`` while it decides the split."""
        if self.candidate_share >= 1:
            return {self.candidate.version: 1.0}
        if self.candidate_share <= 0:
            return {self.baseline.version: 1.0}
        return {
            self.baseline.version: round(1 - self.candidate_share, 6),
            self.candidate.version: round(self.candidate_share, 6),
        }


class RolloutEvent(Base):
    """One thing that happened to a rollout: started, advanced, halted, resumed, rolled back,
    completed — with the share before and after, who did it, and the gate that allowed it."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[int]
    from_percent: Mapped[float]
    to_percent: Mapped[float]
    reason: Mapped[str] = mapped_column(Text, default="")
    gate: Mapped[dict[str, Any] | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]

    rollout: Mapped[Rollout] = relationship(back_populates="history")
