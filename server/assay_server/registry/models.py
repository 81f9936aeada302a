"""Registered models, their immutable versions, the versions' benchmarks and their stays in
stages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base


class Task(str, enum.Enum):
    """What a model predicts."""

    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"


class RiskTier(str, enum.Enum):
    """How much harm a wrong prediction can do; policies key on it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Stage(str, enum.Enum):
    """Where a version is in its life."""

    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class ArtifactFormat(str, enum.Enum):
    """How an artifact is serialised; only skops and onnx are loadable without an opt-in."""

    SKOPS = "skops"
    ONNX = "onnx"
    PICKLE = "pickle"


class FeatureKind(str, enum.Enum):
    """How a column is compared: as numbers, or as categories."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


class ArtifactInfo(TypedDict):
    """A version's stored artifact, as the API and the compliance report describe it."""

    sha256: str
    format: str | None
    size_bytes: int | None
    filename: str | None


class ReferenceInfo(TypedDict):
    """A version's stored reference dataset, as the API and the compliance report describe it."""

    sha256: str
    rows: int | None
    columns: int | None
    size_bytes: int | None


class RegisteredModel(Base):
    """A named model; archived instead of deleted."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    task: Mapped[str] = mapped_column(String(32))
    risk_tier: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]]
    #: A classifier's classes as declared at creation (None: inferred from the reference).
    classes: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    #: Days its predictions are kept (None: for ever); expired by ``ingest/retention.py``.
    retention_days: Mapped[int | None]
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.version"
    )

    @property
    def archived(self) -> bool:
        """True once archived."""
        return self.archived_at is not None

    @property
    def latest_version_number(self) -> int | None:
        """The newest version's number, or None before the first."""
        return self.latest_version or None


class ModelVersion(Base):
    """One registered version: immutable but for its documentation and its stage."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[int]
    stage: Mapped[str] = mapped_column(String(16), default="none", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]]
    model_card: Mapped[dict[str, Any]]
    feature_schema: Mapped[dict[str, Any]]
    lineage: Mapped[dict[str, Any]]
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    artifact_format: Mapped[str | None] = mapped_column(String(16))
    artifact_size: Mapped[int | None] = mapped_column(BigInteger)
    artifact_filename: Mapped[str | None] = mapped_column(String(255))
    reference_sha256: Mapped[str | None] = mapped_column(String(64))
    reference_rows: Mapped[int | None] = mapped_column(BigInteger)
    reference_columns: Mapped[int | None]
    reference_size: Mapped[int | None] = mapped_column(BigInteger)
    # derived from the reference dataset once, read by every monitoring run instead of it
    reference_profile_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_token_id: Mapped[int | None]
    stage_changed_at: Mapped[datetime | None]
    # the alert this version was retrained for (``triggered_by={"alert": id}``): checked by
    # the alerts package when the version registers; no foreign key, as the registry sits
    # below alerts and an alert goes with its monitor while the version stays
    triggered_by_alert_id: Mapped[int | None] = mapped_column(index=True)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def triggered_by(self) -> dict[str, int] | None:
        """What the version was registered in answer to: ``{"alert": id}``, or None."""
        if self.triggered_by_alert_id is None:
            return None
        return {"alert": self.triggered_by_alert_id}

    @property
    def artifact(self) -> ArtifactInfo | None:
        """The artifact's description, or None for a version registered without one."""
        if self.artifact_sha256 is None:
            return None
        return {
            "sha256": self.artifact_sha256,
            "format": self.artifact_format,
            "size_bytes": self.artifact_size,
            "filename": self.artifact_filename,
        }

    @property
    def reference(self) -> ReferenceInfo | None:
        """The reference dataset's description, or None."""
        if self.reference_sha256 is None:
            return None
        return {
            "sha256": self.reference_sha256,
            "rows": self.reference_rows,
            "columns": self.reference_columns,
            "size_bytes": self.reference_size,
        }

    @property
    def audit_id(self) -> str:
        """How audit events name this version: ``model/version``."""
        return f"{self.model.name}/{self.version}"


class Benchmark(Base):
    """A named evaluation of a version on a named dataset: metrics, evidence for gates."""

    __tablename__ = "benchmarks"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    dataset_uri: Mapped[str | None] = mapped_column(String(2000))
    dataset_hash: Mapped[str | None] = mapped_column(String(200))
    metrics: Mapped[dict[str, Any]]
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))

    version: Mapped[ModelVersion] = relationship()

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.version.model.name

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version


class StageHistory(Base):
    """A version's stay in one stage: from ``entered_at`` until ``left_at`` (None: still there)."""

    __tablename__ = "stage_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    entered_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    entered_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)

    version: Mapped[ModelVersion] = relationship()

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version


class ModelAlias(Base):
    """A named pointer of a model (``champion``, ``challenger``) to one of its versions, now;
    its past lives in :class:`AliasHistory`."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(63))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(100))

    version: Mapped[ModelVersion] = relationship()


class AliasHistory(Base):
    """An alias's stay on one version: from ``entered_at`` until ``left_at`` (None: still)."""

    __tablename__ = "alias_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(63))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    entered_at: Mapped[datetime]
    entered_by: Mapped[str] = mapped_column(String(100))
    left_at: Mapped[datetime | None]
    left_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)

    version: Mapped[ModelVersion] = relationship()
