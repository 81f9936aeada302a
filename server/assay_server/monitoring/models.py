"""Monitors, their runs, and the reports each run stores (one per check)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..registry.models import ModelVersion, RegisteredModel


class Check(str, enum.Enum):
    """What a monitor can check."""

    DRIFT = "drift"
    DATA_QUALITY = "data_quality"
    BIAS = "bias"
    PERFORMANCE = "performance"
    ESTIMATED_PERFORMANCE = "estimated_performance"


CHECKS = tuple(check.value for check in Check)


class ReportStatus(str, enum.Enum):
    """A report's verdict."""

    OK = "ok"
    WARNING = "warning"
    ALERT = "alert"
    INSUFFICIENT_DATA = "insufficient_data"


REPORT_STATUSES = tuple(status.value for status in ReportStatus)


class RunStatus(str, enum.Enum):
    """Where a run stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


RUN_STATUSES = tuple(status.value for status in RunStatus)


class Monitor(Base):
    """Which checks run for a model, on which version, over which window, how often."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("model_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    checks: Mapped[list[str]]
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    stage: Mapped[str | None] = mapped_column(String(16))
    window: Mapped[dict[str, Any]]
    schedule: Mapped[dict[str, Any] | None]
    thresholds: Mapped[dict[str, Any]]
    sensitive_features: Mapped[list[str]]
    min_rows: Mapped[int]
    options: Mapped[dict[str, Any]]
    channels: Mapped[list[str]]
    enabled: Mapped[bool]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]

    model: Mapped[RegisteredModel] = relationship()
    version: Mapped[ModelVersion | None] = relationship()

    @property
    def model_name(self) -> str:
        """The monitored model's name."""
        return self.model.name

    @property
    def version_number(self) -> int | None:
        """The fixed version's number, when the monitor watches one version."""
        return self.version.version if self.version is not None else None

    @property
    def audit_id(self) -> str:
        """How audit events name this monitor."""
        return f"{self.model.name}/monitors/{self.id}"


class MonitorRun(Base):
    """One execution of a monitor; a scheduled run's row is also its claim.

    ``(monitor_id, scheduled_for, attempt)`` is unique, so of several scheduler processes that
    find the same slot due, exactly one inserts the row and runs it.
    """

    __tablename__ = "monitor_runs"
    __table_args__ = (
        UniqueConstraint("monitor_id", "scheduled_for", "attempt"),
        Index("ix_monitor_runs_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime | None]
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None]  # wall time from start to finish
    deadline_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    rows_total: Mapped[int | None]
    rows_used: Mapped[int | None]
    sampled: Mapped[bool]
    statuses: Mapped[dict[str, Any]]

    monitor: Mapped[Monitor] = relationship()
    version: Mapped[ModelVersion | None] = relationship()

    @property
    def version_number(self) -> int | None:
        """The number of the version the run looked at."""
        return self.version.version if self.version is not None else None


class Report(Base):
    """One check's result over one window: summary, detail, findings and a status."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_model_created", "model_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("monitor_runs.id"), index=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    rows_total: Mapped[int]
    rows_used: Mapped[int]
    sampled: Mapped[bool]
    sample_seed: Mapped[int | None]
    summary: Mapped[dict[str, Any]]
    detail: Mapped[dict[str, Any]]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    html_sha256: Mapped[str | None] = mapped_column(String(64))

    model: Mapped[RegisteredModel] = relationship()
    version: Mapped[ModelVersion] = relationship()

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version
