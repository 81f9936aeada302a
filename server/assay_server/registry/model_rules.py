"""What may happen to a model: created, described, archived, restored; every change audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, PermissionDenied
from ..roles import Role
from .declared_classes import checked_classes
from .models import RegisteredModel
from .queries import RegistryQueries

#: One field's change, as audit events record it.
FieldChange = TypedDict("FieldChange", {"from": object, "to": object})


class ModelChanges(TypedDict, total=False):
    """What may change on a model (the risk tier: by an admin only)."""

    description: str
    owner: str | None
    tags: list[str]
    risk_tier: str
    retention_days: int | None


class SettingsDefault:
    """The type of :data:`SETTINGS_DEFAULT`."""


#: A model created without ``retention_days`` keeps its predictions ``ASSAY_RETENTION_DAYS``.
SETTINGS_DEFAULT = SettingsDefault()


def changes_to(row: object, updates: Mapping[str, object]) -> dict[str, FieldChange]:
    """The fields ``updates`` would change on ``row``: from what, to what."""
    return {
        name: {"from": getattr(row, name), "to": value}
        for name, value in updates.items()
        if getattr(row, name) != value
    }


class ModelRules(RegistryQueries):
    """Register model names and change what may change on them."""

    def create_model(
        self,
        *,
        name: str,
        task: str,
        risk_tier: str = "low",
        owner: str | None = None,
        description: str = "",
        tags: list[str] | None = None,
        classes: list[object] | None = None,
        retention_days: int | SettingsDefault | None = SETTINGS_DEFAULT,
    ) -> RegisteredModel:
        """Register a new model name; a classifier may declare its classes (else they are
        inferred from each version's reference target)."""
        declared = checked_classes(task, classes)
        if self.session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)):
            raise Conflict(f"A model named {name!r} already exists.")
        if isinstance(retention_days, SettingsDefault):
            retention_days = self.ctx.settings.retention_days
        now = self.ctx.clock()
        model = RegisteredModel(
            name=name,
            task=task,
            risk_tier=risk_tier,
            owner=owner,
            description=description,
            tags=list(tags or []),
            classes=declared,
            retention_days=retention_days,
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
                "retention_days": retention_days,
            }
            | ({"classes": declared} if declared is not None else {}),
        )
        return model

    def update_model(self, name: str, updates: ModelChanges) -> RegisteredModel:
        """Change description, owner, tags; the risk tier only as an admin. Audited, and
        published as ``model.updated`` (whose subscribers may refuse it)."""
        model = self._live_model(name)
        if (
            "risk_tier" in updates
            and updates["risk_tier"] != model.risk_tier
            and not self.ctx.actor.role.allows(Role.ADMIN)
        ):
            raise PermissionDenied("Only an admin may change a model's risk tier.")
        changes = changes_to(model, updates)
        if changes:
            for key, change in changes.items():
                setattr(model, key, change["to"])
            model.updated_at = self.ctx.clock()
            self.session.flush()
            self.audit.append("model.updated", "model", name, {"changes": changes})
            # A subscriber may refuse the change (governance: no new owner while a promotion
            # of the model is open).
            self.ctx.events.publish(
                self.session,
                self.ctx,
                "model.updated",
                {"model": name, "model_id": model.id, "changes": changes},
            )
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
