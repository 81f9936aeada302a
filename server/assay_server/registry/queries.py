"""Reading the registry: models and versions by name, filtered lists of them, their files.

:class:`RegistryQueries` is also what each part of
:class:`~assay_server.registry.service.RegistryService` builds on: the session, the context,
the audit trail and the two blob stores (artifacts, reference datasets).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound
from ..storage import BlobMissing, BlobStore, OpenedBlob
from .models import ModelVersion, RegisteredModel
from .paging import Page, paged, sorted_by

MODEL_SORTS = frozenset({"name", "created_at", "updated_at"})
VERSION_SORTS = frozenset({"version", "created_at"})


class RegistryQueries:
    """Find and list models and versions, and locate their stored files."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.artifacts = ctx.storage.artifacts
        self.references = ctx.storage.reference

    def get_model(self, name: str, *, for_update: bool = False) -> RegisteredModel:
        """A model by name, or :class:`NotFound`."""
        query = select(RegisteredModel).where(RegisteredModel.name == name)
        if for_update:
            query = query.with_for_update()
        model = self.session.scalar(query)
        if model is None:
            raise NotFound(f"No model named {name!r}.")
        return model

    def _live_model(self, name: str) -> RegisteredModel:
        """The model, locked until commit, or :class:`Conflict` when it is archived."""
        model = self.get_model(name, for_update=True)
        if model.archived_at is not None:
            raise Conflict(f"Model {name!r} is archived; restore it first.")
        return model

    def list_models(
        self,
        *,
        q: str | None = None,
        task: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        include_archived: bool = False,
        sort: str = "name",
        page: int = 1,
        limit: int = 50,
    ) -> Page[RegisteredModel]:
        """Models matching the filters, sorted and paged."""
        query = select(RegisteredModel)
        if q:
            query = query.where(RegisteredModel.name.contains(q.lower(), autoescape=True))
        if task:
            query = query.where(RegisteredModel.task == task)
        if risk_tier:
            query = query.where(RegisteredModel.risk_tier == risk_tier)
        if owner:
            query = query.where(RegisteredModel.owner == owner)
        if not include_archived:
            query = query.where(RegisteredModel.archived_at.is_(None))
        return paged(
            self.session,
            sorted_by(query, RegisteredModel, sort, MODEL_SORTS),
            page=page,
            limit=limit,
            keep=(lambda model: tag in model.tags) if tag else None,
        )

    def versions_in_stages(
        self, model_ids: Iterable[int], stages: Iterable[str]
    ) -> dict[int, dict[str, list[int]]]:
        """Per model id, the version numbers in each of ``stages``, newest first: one query
        for a whole list of models (a list page must not load each model's versions)."""
        ids, wanted = list(model_ids), list(stages)
        found: dict[int, dict[str, list[int]]] = {
            model_id: {stage: [] for stage in wanted} for model_id in ids
        }
        if not ids or not wanted:
            return found
        rows = self.session.execute(
            select(ModelVersion.model_id, ModelVersion.stage, ModelVersion.version)
            .where(ModelVersion.model_id.in_(ids), ModelVersion.stage.in_(wanted))
            .order_by(ModelVersion.version.desc())
        )
        for model_id, stage, version in rows:
            found[model_id][stage].append(version)
        return found

    def count_models(self) -> int:
        """How many models (archived included)."""
        return self.session.scalar(select(func.count()).select_from(RegisteredModel)) or 0

    def get_version(self, model_name: str, version: int) -> ModelVersion:
        """One version, or :class:`NotFound`."""
        row = self.session.scalar(
            select(ModelVersion)
            .join(ModelVersion.model)
            .options(joinedload(ModelVersion.model))
            .where(RegisteredModel.name == model_name, ModelVersion.version == version)
        )
        if row is None:
            self.get_model(model_name)
            raise NotFound(f"Model {model_name!r} has no version {version}.")
        return row

    def list_versions(
        self,
        model_name: str,
        *,
        stage: str | None = None,
        tag: str | None = None,
        sort: str = "-version",
        page: int = 1,
        limit: int = 50,
    ) -> Page[ModelVersion]:
        """A model's versions, filtered, sorted and paged."""
        model = self.get_model(model_name)
        query = (
            select(ModelVersion)
            .options(joinedload(ModelVersion.model))
            .where(ModelVersion.model_id == model.id)
        )
        if stage:
            query = query.where(ModelVersion.stage == stage)
        return paged(
            self.session,
            sorted_by(query, ModelVersion, sort, VERSION_SORTS),
            page=page,
            limit=limit,
            keep=(lambda version: tag in version.tags) if tag else None,
        )

    def artifact_path(self, model_name: str, version: int) -> tuple[ModelVersion, Path]:
        """A local file holding a version's artifact (with S3 storage, a cached copy)."""
        row = self._with_artifact(model_name, version)
        return row, _local(self.artifacts, row.artifact_sha256 or "", "artifact")

    def reference_path(self, model_name: str, version: int) -> tuple[ModelVersion, Path]:
        """A local file holding a version's reference dataset (Parquet)."""
        row = self._with_reference(model_name, version)
        return row, _local(self.references, row.reference_sha256 or "", "reference dataset")

    def open_artifact(self, model_name: str, version: int) -> tuple[ModelVersion, OpenedBlob]:
        """A version's artifact opened for a download (streamed, never read whole)."""
        row = self._with_artifact(model_name, version)
        return row, _opened(self.artifacts, row.artifact_sha256 or "", "artifact")

    def open_reference(self, model_name: str, version: int) -> tuple[ModelVersion, OpenedBlob]:
        """A version's reference dataset opened for a download."""
        row = self._with_reference(model_name, version)
        return row, _opened(self.references, row.reference_sha256 or "", "reference dataset")

    def _with_artifact(self, model_name: str, version: int) -> ModelVersion:
        row = self.get_version(model_name, version)
        if row.artifact_sha256 is None:
            raise NotFound(f"Version {version} of {model_name!r} has no artifact.")
        return row

    def _with_reference(self, model_name: str, version: int) -> ModelVersion:
        row = self.get_version(model_name, version)
        if row.reference_sha256 is None:
            raise NotFound(f"Version {version} of {model_name!r} has no reference dataset.")
        return row


def _local(store: BlobStore, sha256: str, what: str) -> Path:
    try:
        return store.local_path(sha256)
    except BlobMissing:
        raise _missing(sha256, what) from None


def _opened(store: BlobStore, sha256: str, what: str) -> OpenedBlob:
    try:
        return store.open(sha256)
    except BlobMissing:
        raise _missing(sha256, what) from None


def _missing(sha256: str, what: str) -> NotFound:
    return NotFound(f"The stored {what} ({sha256[:12]}…) is missing from the blob storage.")


def version_audit_ids(session: Session, version_ids: Iterable[int]) -> dict[int, str]:
    """How audit events name each of these versions (``model/version``), by version id."""
    wanted = sorted(set(version_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(ModelVersion.id, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.id.in_(wanted))
    ).all()
    return {row.id: f"{row.name}/{row.version}" for row in rows}
