"""Registering a version: its number, schema, lineage and files; and what may change later."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TypedDict

from ..errors import ValidationFailed
from ..storage import discard
from . import reference as ref
from .model_rules import changes_to
from .models import ArtifactFormat, ModelVersion, Stage
from .onnx_inputs import graph_inputs
from .queries import RegistryQueries
from .uploads import Upload, commit_artifact, stage_artifact, store_reference

#: The lineage fields the ``version.registered`` audit event repeats.
_AUDITED_LINEAGE = ("dataset_uri", "dataset_hash", "git_commit")


class LineageSpec(TypedDict, total=False):
    """Where a version came from, as a client states it (every field optional)."""

    dataset_uri: str | None
    dataset_hash: str | None
    git_commit: str | None
    params: dict[str, object]
    metrics: dict[str, float]
    metadata: dict[str, object]


class Lineage(TypedDict):
    """Where a version came from, as stored: every field, empty where not stated."""

    dataset_uri: str | None
    dataset_hash: str | None
    git_commit: str | None
    params: dict[str, object]
    metrics: dict[str, float]
    metadata: dict[str, object]


class TriggeredBy(TypedDict):
    """What a version was registered in answer to: an alert of its model."""

    alert: int


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
    lineage: LineageSpec = field(default_factory=LineageSpec)
    model_card: dict[str, object] = field(default_factory=dict)
    # what the version answers: ``{"alert": id}``, checked by the alerts package before a
    # file of the version is stored (``version.registering``)
    triggered_by: TriggeredBy | None = None


class VersionChanges(TypedDict, total=False):
    """What may change on a version after registration."""

    description: str
    tags: list[str]
    model_card: dict[str, object]


def lineage_of(spec: LineageSpec) -> Lineage:
    """The stored lineage: every field present."""
    return {
        "dataset_uri": spec.get("dataset_uri"),
        "dataset_hash": spec.get("dataset_hash"),
        "git_commit": spec.get("git_commit"),
        "params": spec.get("params") or {},
        "metrics": spec.get("metrics") or {},
        "metadata": spec.get("metadata") or {},
    }


class VersionRegistration(RegistryQueries):
    """Register versions with their files, and change their documentation."""

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
        schema = ref.declared_schema(
            model.task, spec.features, spec.target, spec.prediction, model.classes
        )
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
        # what another package may refuse is refused before a file is stored
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "version.registering",
            {
                "model": model.name,
                "model_id": model.id,
                "triggered_by_alert_id": spec.triggered_by["alert"] if spec.triggered_by else None,
            },
        )
        settings = self.ctx.settings
        staged = (
            stage_artifact(
                self.artifacts,
                artifact,
                stated_format=spec.format,
                stated_sha256=spec.artifact_sha256,
                max_bytes=settings.max_artifact_bytes,
            )
            if artifact is not None
            else None
        )
        if staged is not None and staged.format == ArtifactFormat.ONNX.value:
            # the features must be what the graph takes: checked with the reference's
            # columns when they are inferred from it, else here
            try:
                schema = dataclasses.replace(schema, graph_inputs=graph_inputs(staged.blob.path))
                if reference_data is None:
                    ref.check_graph(schema)
            except BaseException:
                discard(staged.blob)
                raise
        # What the version records of its stored files: nothing of a file not sent.
        file_columns: dict[str, object] = {}
        if reference_data is not None:
            try:
                schema, reference_columns = store_reference(
                    reference_data, schema, settings, self.ctx.storage
                )
            except BaseException:
                if staged is not None:
                    discard(staged.blob)
                raise
            file_columns.update(reference_columns)
        if staged is not None:
            file_columns.update(commit_artifact(self.artifacts, staged))
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
            lineage=lineage_of(spec.lineage),
            created_at=now,
            created_by=self.ctx.actor.name,
            created_by_token_id=self.ctx.actor.token_id,
            triggered_by_alert_id=spec.triggered_by["alert"] if spec.triggered_by else None,
            **file_columns,
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
                "lineage": {k: v for k, v in version.lineage.items() if k in _AUDITED_LINEAGE},
                **({"triggered_by": version.triggered_by} if version.triggered_by else {}),
            },
        )
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "version.registered",
            {
                "model": model.name,
                "model_id": model.id,
                "version": version.version,
                "version_id": version.id,
                "triggered_by_alert_id": version.triggered_by_alert_id,
            },
        )
        return version

    def update_version(
        self, model_name: str, version: int, updates: VersionChanges
    ) -> ModelVersion:
        """Change what may change after registration: description, tags, model card."""
        self._live_model(model_name)
        row = self.get_version(model_name, version)
        changes = changes_to(row, updates)
        if changes:
            for key, change in changes.items():
                setattr(row, key, change["to"])
            self.session.flush()
            self.audit.append(
                "version.updated", "model_version", row.audit_id, {"changes": changes}
            )
        return row
