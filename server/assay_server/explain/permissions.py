"""Loading decisions: which extra skops types, and whether a pickle, a worker may load.

Admins make these per version; each is audited. The decisions are read by
:meth:`ExplanationService.work_request` and enforced again in the worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import ValidationFailed
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from .models import LoadPermission


class LoadPermissionService:
    """Read and change what workers may load for a version."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.registry = RegistryService(session, ctx)

    def load_permission(self, model_name: str, version: int) -> dict[str, Any]:
        """What workers may load for this version."""
        row = self.registry.get_version(model_name, version)
        return self._permission_view(row, self.session.get(LoadPermission, row.id))

    def trust_types(self, model_name: str, version: int, types: list[str]) -> dict[str, Any]:
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

    def set_pickle_opt_in(self, model_name: str, version: int, allow: bool) -> dict[str, Any]:
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
    ) -> dict[str, Any]:
        return {
            "model": row.model.name,
            "version": row.version,
            "format": row.artifact_format,
            "trusted_types": list(permission.trusted_types) if permission else [],
            "allow_pickle": bool(permission and permission.allow_pickle),
            "pickle_enabled_on_server": self.ctx.settings.allow_pickle,
        }
