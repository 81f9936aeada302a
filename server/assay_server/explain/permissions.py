"""Loading decisions: which extra skops types, and whether a pickle, a worker may load.

Admins make these per version; each is audited. :meth:`LoadPermissionService.loadable` reads
them when an explanation is planned, refusing early what a worker would refuse, and the
worker enforces them again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import ValidationFailed
from ..registry.models import ModelVersion, Task
from ..registry.service import RegistryService
from .messages import FeatureSpec
from .models import LoadPermission
from .work import LoadableVersion


@dataclass(frozen=True)
class LoadPermissionView:
    """What workers may load for a version, as the API shows it."""

    model: str
    version: int
    format: str | None
    trusted_types: list[str]
    allow_pickle: bool
    pickle_enabled_on_server: bool


def features_of(row: ModelVersion) -> list[FeatureSpec]:
    """The version's features, as a worker is told them."""
    schema = row.feature_schema or {}
    return [{"name": f["name"], "kind": f["kind"]} for f in schema.get("features", [])]


class LoadPermissionService:
    """Read and change what workers may load for a version."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.registry = RegistryService(session, ctx)

    def load_permission(self, model_name: str, version: int) -> LoadPermissionView:
        """What workers may load for this version."""
        row = self.registry.get_version(model_name, version)
        return self._permission_view(row, self.session.get(LoadPermission, row.id))

    def trust_types(self, model_name: str, version: int, types: list[str]) -> LoadPermissionView:
        """Add ``types`` to what skops may load for this version (admin; audited)."""
        row = self.registry.get_version(model_name, version)
        permission = self._permission(row)
        added = sorted(set(types) - set(permission.trusted_types))
        permission.trusted_types = sorted(set(permission.trusted_types) | set(types))
        self.session.flush()
        self.audit.append(
            "version.types_trusted",
            "model_version",
            row.audit_id,
            {"added": added, "trusted_types": permission.trusted_types},
        )
        return self._permission_view(row, permission)

    def set_pickle_opt_in(self, model_name: str, version: int, allow: bool) -> LoadPermissionView:
        """Opt this version's pickle artifact in (or out) of loading (admin; audited)."""
        row = self.registry.get_version(model_name, version)
        if row.artifact_format != "pickle":
            raise ValidationFailed(
                "",
                details={
                    "allow": [f"This version's artifact is {row.artifact_format}, not pickle."]
                },
            )
        permission = self._permission(row)
        permission.allow_pickle = allow
        self.session.flush()
        self.audit.append(
            "version.pickle_opt_in",
            "model_version",
            row.audit_id,
            {"allow": allow, "server_allows_pickle": self.ctx.settings.allow_pickle},
        )
        return self._permission_view(row, permission)

    def loadable(self, row: ModelVersion) -> LoadableVersion:
        """What a worker needs to load and explain this version; refuse early what it would
        refuse (no artifact, no reference data, a pickle nobody opted in)."""
        name = row.model.name
        if row.artifact_sha256 is None:
            raise ValidationFailed(
                "", details={"artifact": [f"Version {row.version} of {name!r} has no artifact."]}
            )
        if row.reference_sha256 is None:
            raise ValidationFailed(
                "",
                details={
                    "reference_data": [
                        "LIME samples around the reference dataset; this version has none."
                    ]
                },
            )
        permission = self.session.get(LoadPermission, row.id)
        pickle_allowed = bool(
            self.ctx.settings.allow_pickle and permission and permission.allow_pickle
        )
        if row.artifact_format == "pickle" and not pickle_allowed:
            raise ValidationFailed(
                "Pickle artifacts load only when the server runs with ASSAY_ALLOW_PICKLE=1 "
                "and an admin opted this version in.",
                details={
                    "artifact": ["pickle refused"],
                    "server_allows_pickle": self.ctx.settings.allow_pickle,
                    "version_opted_in": bool(permission and permission.allow_pickle),
                },
            )
        _row, artifact = self.registry.artifact_path(name, row.version)
        _row, reference = self.registry.reference_path(name, row.version)
        target = ((row.feature_schema or {}).get("target") or {}).get("name")
        return LoadableVersion(
            model={
                "path": str(artifact.resolve()),
                "sha256": row.artifact_sha256,
                "format": row.artifact_format or "",
                "trusted_types": list(permission.trusted_types) if permission else [],
                "pickle_allowed": pickle_allowed,
                "max_unpacked_bytes": self.ctx.settings.explain_max_unpacked_bytes,
            },
            reference={"path": str(reference.resolve()), "sha256": row.reference_sha256},
            mode="regression" if row.model.task == Task.REGRESSION.value else "classification",
            features=features_of(row),
            target=target,
        )

    def _permission(self, row: ModelVersion) -> LoadPermission:
        permission = self.session.get(LoadPermission, row.id)
        if permission is None:
            permission = LoadPermission(version_id=row.id, trusted_types=[], allow_pickle=False)
            self.session.add(permission)
        permission.updated_at = self.ctx.clock()
        permission.updated_by = self.ctx.actor.name
        return permission

    def _permission_view(
        self, row: ModelVersion, permission: LoadPermission | None
    ) -> LoadPermissionView:
        return LoadPermissionView(
            model=row.model.name,
            version=row.version,
            format=row.artifact_format,
            trusted_types=list(permission.trusted_types) if permission else [],
            allow_pickle=bool(permission and permission.allow_pickle),
            pickle_enabled_on_server=self.ctx.settings.allow_pickle,
        )
