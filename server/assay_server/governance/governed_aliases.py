"""Governed aliases: a policy may declare aliases (``governed_aliases: [champion]``) that only
the promotion flow may move for the models it applies to.

The promotion flow does not move aliases yet, so a direct set, move or removal of a governed
alias is refused (409, naming the policy) — the ``alias.changed`` subscriber below raises in
the registry's unit of work and the change rolls back with it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..errors import Conflict
from ..events import DomainEvent
from ..registry.models import RegisteredModel
from .policies import PolicyDocument
from .service import PolicyService


def refuse_direct_move_of_governed_alias(
    session: Session, ctx: ServiceContext, event: DomainEvent
) -> None:
    """``alias.changed``: refuse the change when a policy in force that applies to the model
    governs the alias, naming the policy."""
    model = session.get(RegisteredModel, event.payload["model_id"])
    if model is None:
        return
    alias = event.payload["alias"]
    governing = [
        version.name
        for version in PolicyService(session, ctx).in_force()
        if alias in version.document.get("governed_aliases", [])
        and _applies_to_model(version.document, model)
    ]
    if governing:
        raise Conflict(
            f"Alias {alias!r} of {model.name!r} is governed by policy {governing[0]!r}: it "
            "moves only through a promotion, not directly.",
            details={"alias": alias, "policies": governing},
        )


def _applies_to_model(document: PolicyDocument, model: RegisteredModel) -> bool:
    """The policy's scope on the model alone: an alias is not a stage, so ``stage`` is not
    asked, and tags are the model's."""
    scope = document.get("applies_to") or {}
    if scope.get("risk_tier") and model.risk_tier not in scope["risk_tier"]:
        return False
    if scope.get("models") and model.name not in scope["models"]:
        return False
    return not (scope.get("tags") and not set(model.tags or []) & set(scope["tags"]))
