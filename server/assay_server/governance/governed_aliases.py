"""Governed aliases: a policy may declare aliases (``governed_aliases: [champion]``) that only
the promotion flow may move for the models it applies to.

A promotion request naming the alias (``alias: champion`` instead of a stage) is judged by the
policies that govern it (:func:`governing_policies`), approved like any promotion, and then
moves the alias through the registry's governed path
(:meth:`AliasService.move_governed <assay_server.registry.aliases.AliasService.move_governed>`),
whose ``alias.changed`` event carries the request's ``promotion_id``. Every other set, move or
removal of a governed alias is refused (409, naming the policy): the ``alias.changed``
subscriber below raises in the registry's unit of work and the change rolls back with it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..errors import Conflict
from ..events import DomainEvent
from ..registry.models import RegisteredModel
from .policies import governs
from .service import PolicyService


def governing_policies(
    session: Session, ctx: ServiceContext, model: RegisteredModel, alias: str
) -> list[str]:
    """The names of the policies in force that govern ``alias`` of ``model``."""
    return [
        version.name
        for version in PolicyService(session, ctx).in_force()
        if governs(version.document, model=model, alias=alias)
    ]


def governed_aliases_of(session: Session, ctx: ServiceContext, model: RegisteredModel) -> list[str]:
    """Every alias of ``model`` a policy in force governs, sorted."""
    named = {
        alias
        for version in PolicyService(session, ctx).in_force()
        for alias in version.document.get("governed_aliases", [])
        if governs(version.document, model=model, alias=alias)
    }
    return sorted(named)


def refuse_direct_move_of_governed_alias(
    session: Session, ctx: ServiceContext, event: DomainEvent
) -> None:
    """``alias.changed``: refuse the change when a policy in force that applies to the model
    governs the alias, naming the policy, unless an approved promotion request made it."""
    if event.payload.get("promotion_id") is not None:
        return
    model = session.get(RegisteredModel, event.payload["model_id"])
    if model is None:
        return
    alias = event.payload["alias"]
    governing = governing_policies(session, ctx, model, alias)
    if governing:
        raise Conflict(
            f"Alias {alias!r} of {model.name!r} is governed by policy {governing[0]!r}: it "
            "moves only through a promotion request (POST …/promotions with "
            f'{{"alias": "{alias}"}}), not directly.',
            details={"alias": alias, "policies": governing},
        )
