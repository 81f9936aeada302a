"""Explanations (answered, queued or failed) and the per-version decisions about loading."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..registry.models import ModelVersion


class ExplanationStatus:
    """Where an explanation is: queued for a job, running, done or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Explanation(Base):
    """One explanation request: local (rows) or global (a sample), and its stored result."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    input_hash: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]]
    row_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="request")
    rows: Mapped[list[Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_token_id: Mapped[int | None]
    finished_at: Mapped[datetime | None]

    version: Mapped[ModelVersion] = relationship()

    cached = False  # set on an answer served from a stored result; not a column

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.version.model.name

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version


class LoadPermission(Base):
    """What an admin decided a worker may load for one version: extra skops types, pickle."""

    __tablename__ = "explain_load_permissions"

    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    trusted_types: Mapped[list[str]]
    allow_pickle: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))
