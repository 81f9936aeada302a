"""Registry rules: models, versions, uploads, stages. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..roles import Role
from . import reference as ref
from .models import ArtifactFormat, ModelVersion, RegisteredModel, Stage
from .profiles import build_profile, store_profile
from .stages import holders, record_stay
from .storage import Blob, ContentStore

_FORMAT_BY_SUFFIX = {
    ".skops": ArtifactFormat.SKOPS,
    ".onnx": ArtifactFormat.ONNX,
    ".pkl": ArtifactFormat.PICKLE,
    ".pickle": ArtifactFormat.PICKLE,
    ".joblib": ArtifactFormat.PICKLE,
}
_ZIP_MAGIC = b"PK\x03\x04"
_MODEL_SORTS = {"name", "created_at", "updated_at"}
_VERSION_SORTS = {"version", "created_at"}


@dataclass(frozen=True)
class Upload:
    """An incoming file: its bytes as a stream, and the name the client gave it."""

    stream: BinaryIO
    filename: str


@dataclass(frozen=True)
class VersionSpec:
    """What a client says about a version it registers (all optional)."""

    description: str = ""
    tags: list[str] = field(default_factory=list)
    format: str | None = None
    artifact_sha256: str | None = None
    features: list[dict[str, str]] | None = None
    target: str | None = None
    prediction: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    model_card: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _StagedArtifact:
    """An artifact received and checked, waiting to be stored."""

    blob: Blob
    format: str
    filename: str


@dataclass(frozen=True)
class Page:
    """A page of rows and the total matching."""

    items: list[Any]
    total: int
    page: int
    limit: int


def _lineage(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "dataset_uri": raw.get("dataset_uri"),
        "dataset_hash": raw.get("dataset_hash"),
        "git_commit": raw.get("git_commit"),
        "params": raw.get("params") or {},
        "metrics": raw.get("metrics") or {},
        "metadata": raw.get("metadata") or {},
    }


def _sorted(query: Select[Any], sort: str, column_of: Any, allowed: set[str]) -> Select[Any]:
    name = sort.lstrip("-")
    if name not in allowed:
        raise ValidationFailed("", details={"sort": [f"Sort by one of {sorted(allowed)}."]})
    descending = sort.startswith("-")
    # The id breaks ties (rows made in the same instant), so pages neither repeat nor skip.
    return query.order_by(
        *(
            column.desc() if descending else column.asc()
            for column in (column_of(name), column_of("id"))
        )
    )


def _changes(obj: Any, updates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"from": getattr(obj, name), "to": value}
        for name, value in updates.items()
        if getattr(obj, name) != value
    }


class RegistryService:
    """Create and read models and versions, store their files, move their stages."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.artifacts = ContentStore(ctx.settings.artifacts_dir)
        self.references = ContentStore(ctx.settings.reference_dir)

    # models -----------------------------------------------------------------------------

    def create_model(
        self,
        *,
        name: str,
        task: str,
        risk_tier: str = "low",
        owner: str | None = None,
        description: str = "",
        tags: list[str] | None = None,
    ) -> RegisteredModel:
        """Register a new model name."""
        if self.session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)):
            raise Conflict(f"A model named {name!r} already exists.")
        now = self.ctx.clock()
        model = RegisteredModel(
            name=name,
            task=task,
            risk_tier=risk_tier,
            owner=owner,
            description=description,
            tags=list(tags or []),
            latest_version=0,
            created_at=now,
            updated_at=now,
            created_by=self.ctx.actor.name,
        )
        self.session.add(model)
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError:
            raise Conflict(f"A model named {name!r} already exists.") from None
        self.audit.append(
            "model.created",
            "model",
            name,
            {
                "task": task,
                "risk_tier": risk_tier,
                "owner": owner,
                "tags": model.tags,
            },
        )
        return model

    def get_model(self, name: str, *, for_update: bool = False) -> RegisteredModel:
        """A model by name, or :class:`NotFound`."""
        query = select(RegisteredModel).where(RegisteredModel.name == name)
        if for_update:
            query = query.with_for_update()
        model = self.session.scalar(query)
        if model is None:
            raise NotFound(f"No model named {name!r}.")
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
    ) -> Page:
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
        return self._paged(
            query,
            tag=tag,
            sort=sort,
            allowed=_MODEL_SORTS,
            page=page,
            limit=limit,
            column_of=lambda n: getattr(RegisteredModel, n),
        )

    def update_model(self, name: str, updates: dict[str, Any]) -> RegisteredModel:
        """Change description, owner, tags; the risk tier only as an admin."""
        model = self._live_model(name)
        if (
            "risk_tier" in updates
            and updates["risk_tier"] != model.risk_tier
            and not self.ctx.actor.role.allows(Role.ADMIN)
        ):
            raise PermissionDenied("Only an admin may change a model's risk tier.")
        changes = _changes(model, updates)
        if changes:
            for key, change in changes.items():
                setattr(model, key, change["to"])
            model.updated_at = self.ctx.clock()
            self.session.flush()
            self.audit.append("model.updated", "model", name, {"changes": changes})
        return model

    def archive_model(self, name: str) -> RegisteredModel:
        """Archive a model: it stays readable, but takes no new versions or changes."""
        model = self._live_model(name)
        model.archived_at = model.updated_at = self.ctx.clock()
        self.session.flush()
        self.audit.append("model.archived", "model", name, {})
        return model

    def restore_model(self, name: str) -> RegisteredModel:
        """Undo an archive."""
        model = self.get_model(name, for_update=True)
        if model.archived_at is None:
            raise Conflict(f"Model {name!r} is not archived.")
        model.archived_at = None
        model.updated_at = self.ctx.clock()
        self.session.flush()
        self.audit.append("model.restored", "model", name, {})
        return model

    def _live_model(self, name: str) -> RegisteredModel:
        model = self.get_model(name, for_update=True)
        if model.archived_at is not None:
            raise Conflict(f"Model {name!r} is archived; restore it first.")
        return model

    # versions ---------------------------------------------------------------------------

    def register_version(
        self,
        model_name: str,
        spec: VersionSpec,
        *,
        artifact: Upload | None = None,
        reference_data: Upload | None = None,
    ) -> ModelVersion:
        """Register the next version, storing its artifact and reference dataset.

        Both files are checked before either is stored, so a refused version leaves nothing
        behind in the data directory.
        """
        model = self._live_model(model_name)
        schema = ref.declared_schema(model.task, spec.features, spec.target, spec.prediction)
        if artifact is None and (spec.format or spec.artifact_sha256):
            raise ValidationFailed(
                "",
                details={
                    "artifact": [
                        "'format' and 'artifact_sha256' describe an artifact; none was sent."
                    ]
                },
            )
        if reference_data is None and not schema.features:
            raise ValidationFailed(
                "",
                details={
                    "features": ["Declare the features, or send reference data to infer them from."]
                },
            )
        staged = self._stage_artifact(spec, artifact) if artifact is not None else None
        reference_fields: dict[str, Any] = {}
        if reference_data is not None:
            try:
                schema, reference_fields = self._store_reference(reference_data, schema)
            except BaseException:
                if staged is not None:
                    ContentStore.discard(staged.blob)
                raise
        artifact_fields = self._commit_artifact(staged) if staged is not None else {}
        model.latest_version += 1
        model.updated_at = now = self.ctx.clock()
        version = ModelVersion(
            model=model,
            version=model.latest_version,
            stage=Stage.NONE.value,
            description=spec.description,
            tags=list(spec.tags),
            model_card=dict(spec.model_card),
            feature_schema=schema.as_json(),
            lineage=_lineage(spec.lineage),
            created_at=now,
            created_by=self.ctx.actor.name,
            created_by_token_id=self.ctx.actor.token_id,
            **artifact_fields,
            **reference_fields,
        )
        self.session.add(version)
        self.session.flush()
        self.audit.append(
            "version.registered",
            "model_version",
            version.audit_id,
            {
                "version": version.version,
                "artifact_sha256": version.artifact_sha256,
                "artifact_format": version.artifact_format,
                "reference_sha256": version.reference_sha256,
                "reference_rows": version.reference_rows,
                "features": len(schema.features),
                "lineage": {
                    k: v
                    for k, v in version.lineage.items()
                    if k in {"dataset_uri", "dataset_hash", "git_commit"}
                },
            },
        )
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "version.registered",
            {"model": model.name, "version": version.version, "version_id": version.id},
        )
        return version

    def _stage_artifact(self, spec: VersionSpec, upload: Upload) -> _StagedArtifact:
        """Receive the artifact into a temporary file and check it; raise if it is refused."""
        fmt = spec.format or self._format_from_name(upload.filename)
        blob = self.artifacts.stage_stream(
            upload.stream, what="artifact", max_bytes=self.ctx.settings.max_artifact_bytes
        )
        staged = _StagedArtifact(
            blob=blob, format=fmt, filename=Path(upload.filename or "artifact").name[:255]
        )
        try:
            if blob.size == 0:
                raise ValidationFailed("", details={"artifact": ["The artifact is empty."]})
            if spec.artifact_sha256 and spec.artifact_sha256.lower() != blob.sha256:
                raise ValidationFailed(
                    "",
                    details={
                        "artifact_sha256": [
                            f"The uploaded artifact's sha256 is {blob.sha256}, "
                            f"not {spec.artifact_sha256}."
                        ]
                    },
                )
            self._check_format(blob.path, fmt)
        except BaseException:
            ContentStore.discard(blob)
            raise
        return staged

    def _commit_artifact(self, staged: _StagedArtifact) -> dict[str, Any]:
        blob = self.artifacts.commit(staged.blob)
        return {
            "artifact_sha256": blob.sha256,
            "artifact_format": staged.format,
            "artifact_size": blob.size,
            "artifact_filename": staged.filename,
        }

    @staticmethod
    def _format_from_name(filename: str) -> str:
        fmt = _FORMAT_BY_SUFFIX.get(Path(filename or "").suffix.lower())
        if fmt is None:
            raise ValidationFailed(
                "",
                details={
                    "format": [
                        "Say the artifact's format (skops, onnx or pickle): its file name "
                        f"{filename!r} does not tell."
                    ]
                },
            )
        return fmt.value

    @staticmethod
    def _check_format(path: Path, fmt: str) -> None:
        with path.open("rb") as handle:
            head = handle.read(4)
        looks_pickled = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
        if fmt == ArtifactFormat.SKOPS.value and head != _ZIP_MAGIC:
            raise ValidationFailed(
                "",
                details={
                    "format": [
                        "A skops file is a zip archive; this artifact is not one."
                        + (" It looks like a pickle." if looks_pickled else "")
                    ]
                },
            )
        if fmt == ArtifactFormat.ONNX.value and (looks_pickled or head == _ZIP_MAGIC):
            raise ValidationFailed("", details={"format": ["This artifact is not an ONNX file."]})

    def _store_reference(
        self, upload: Upload, schema: ref.FeatureSchema
    ) -> tuple[ref.FeatureSchema, dict[str, Any]]:
        incoming = ContentStore(self.ctx.settings.data_dir / "incoming")
        staged = incoming.stage_stream(
            upload.stream, what="reference dataset", max_bytes=self.ctx.settings.max_reference_bytes
        )
        try:
            frame = ref.read_table(staged.path, upload.filename)
        finally:
            ContentStore.discard(staged)
        schema = ref.check_and_complete(frame, schema)
        stored = ref.store_reference(frame, schema, self.references)
        profile = build_profile(frame, schema.as_json())
        return schema, {
            "reference_sha256": stored.blob.sha256,
            "reference_rows": stored.rows,
            "reference_columns": stored.columns,
            "reference_size": stored.blob.size,
            "reference_profile_sha256": store_profile(profile, self.ctx.settings),
        }

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
    ) -> Page:
        """A model's versions, filtered, sorted and paged."""
        model = self.get_model(model_name)
        query = (
            select(ModelVersion)
            .options(joinedload(ModelVersion.model))
            .where(ModelVersion.model_id == model.id)
        )
        if stage:
            query = query.where(ModelVersion.stage == stage)
        return self._paged(
            query,
            tag=tag,
            sort=sort,
            allowed=_VERSION_SORTS,
            page=page,
            limit=limit,
            column_of=lambda n: getattr(ModelVersion, n),
        )

    def update_version(
        self, model_name: str, version: int, updates: dict[str, Any]
    ) -> ModelVersion:
        """Change what may change after registration: description, tags, model card."""
        self._live_model(model_name)
        row = self.get_version(model_name, version)
        changes = _changes(row, updates)
        if changes:
            for key, change in changes.items():
                setattr(row, key, change["to"])
            self.session.flush()
            self.audit.append(
                "version.updated", "model_version", row.audit_id, {"changes": changes}
            )
        return row

    def set_stage(
        self,
        model_name: str,
        version: int,
        stage: str,
        *,
        comment: str | None = None,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage`` directly (an admin's decision, outside the gate)."""
        if not self.ctx.actor.role.allows(Role.ADMIN):
            raise PermissionDenied("Only an admin may change a stage directly.")
        self._live_model(model_name)
        row = self.get_version(model_name, version)
        if row.stage == stage:
            raise Conflict(f"Version {version} of {model_name!r} is already in {stage}.")
        replaces = archive_existing and stage in {Stage.STAGING.value, Stage.PRODUCTION.value}
        self.move_stage(
            row,
            stage,
            comment,
            archive_holders=f"archived: v{version} moved to {stage}" if replaces else None,
        )
        return row

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

        Who may move what is decided by the caller (governance, or an admin's direct change).
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

    def artifact_path(self, model_name: str, version: int) -> tuple[ModelVersion, Path]:
        """The stored artifact of a version, checked to exist."""
        row = self.get_version(model_name, version)
        if row.artifact_sha256 is None:
            raise NotFound(f"Version {version} of {model_name!r} has no artifact.")
        return row, self._existing(self.artifacts, row.artifact_sha256, "artifact")

    def reference_path(self, model_name: str, version: int) -> tuple[ModelVersion, Path]:
        """The stored reference dataset (Parquet) of a version."""
        row = self.get_version(model_name, version)
        if row.reference_sha256 is None:
            raise NotFound(f"Version {version} of {model_name!r} has no reference dataset.")
        return row, self._existing(self.references, row.reference_sha256, "reference dataset")

    @staticmethod
    def _existing(store: ContentStore, sha256: str, what: str) -> Path:
        path = store.path_for(sha256)
        if not path.exists():
            raise NotFound(
                f"The stored {what} ({sha256[:12]}…) is missing from the data directory."
            )
        return path

    # queries ----------------------------------------------------------------------------

    def _paged(
        self,
        query: Select[Any],
        *,
        tag: str | None,
        sort: str,
        column_of: Any,
        allowed: set[str],
        page: int,
        limit: int,
    ) -> Page:
        query = _sorted(query, sort, column_of, allowed)
        start = (page - 1) * limit
        if tag:  # tags are a JSON list: matched here, the same on SQLite and PostgreSQL
            rows = [row for row in self.session.scalars(query).unique() if tag in row.tags]
            return Page(items=rows[start : start + limit], total=len(rows), page=page, limit=limit)
        total = (
            self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            or 0
        )
        items = list(self.session.scalars(query.offset(start).limit(limit)).unique())
        return Page(items=items, total=total, page=page, limit=limit)

    def count_models(self) -> int:
        """How many models (archived included)."""
        return self.session.scalar(select(func.count()).select_from(RegisteredModel)) or 0
