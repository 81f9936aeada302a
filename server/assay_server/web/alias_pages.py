"""A model's aliases on its page: each alias, the version it names, since when and by whom, its
history, and the forms that set, move or remove it — or, for an alias a policy governs, that
request a promotion to it.

Every form goes through the same services the API uses (the registry's aliases, governance's
promotions): audited, published, refused alike. A refusal is flashed on the model page and
nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import flash, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..context import ServiceContext
from ..errors import AssayError, ValidationFailed
from ..governance.governed_aliases import governing_policies
from ..governance.promotions import PromotionService
from ..governance.service import PolicyService
from ..registry.aliases import AliasHolding, AliasService, check_alias
from ..registry.models import AliasHistory, RegisteredModel
from ..request_scope import db_session, service_context
from ..roles import Role
from .blueprint import bp, error_message

#: How many moves of the model's aliases the page lists, newest first.
HISTORY_SHOWN = 50


@dataclass(frozen=True)
class AliasLine:
    """One alias of the model now: where it points, and the policies that govern it."""

    holding: AliasHolding
    governed_by: list[str]


@dataclass(frozen=True)
class AliasPanel:
    """The model page's aliases: each one now, the governed ones (set or not), the history."""

    lines: list[AliasLine]
    governed: dict[str, list[str]]
    history: list[AliasHistory]


def alias_panel(session: Session, ctx: ServiceContext, model: RegisteredModel) -> AliasPanel:
    """The aliases of ``model`` as its page shows them."""
    service = AliasService(session, ctx)
    holdings = service.list_aliases(model.name)
    governed = {
        alias: policies
        for alias in sorted(_declared_aliases(session, ctx, model) | {h.alias for h in holdings})
        if (policies := governing_policies(session, ctx, model, alias))
    }
    lines = [AliasLine(h, governed.get(h.alias, [])) for h in holdings]
    history = list(reversed(service.alias_history(model.name)))[:HISTORY_SHOWN]
    return AliasPanel(lines=lines, governed=governed, history=history)


def aliases_naming(session: Session, ctx: ServiceContext, name: str, version: int) -> list[str]:
    """The aliases of model ``name`` that name ``version`` now, for the version page."""
    return [h.alias for h in AliasService(session, ctx).list_aliases(name) if h.version == version]


def _declared_aliases(session: Session, ctx: ServiceContext, model: RegisteredModel) -> set[str]:
    """Every alias some policy in force declares governed (whether it governs this model is
    asked of :func:`governing_policies`)."""
    return {
        alias
        for version in PolicyService(session, ctx).in_force()
        for alias in version.document.get("governed_aliases", [])
    }


def _form_version() -> int:
    text = request.form.get("version", "").strip()
    if not text.isdigit() or int(text) < 1:
        raise ValidationFailed("", details={"version": ["Choose a version."]})
    return int(text)


def _comment(field: str = "comment") -> str | None:
    text = request.form.get(field, "").strip()
    if len(text) > 2000:
        raise ValidationFailed("", details={field: ["At most 2000 characters."]})
    return text or None


def _act(name: str, action: Callable[[], str]) -> Response:
    """Run ``action``, flash what it did (or why it was refused), and go back to the aliases."""
    try:
        done = action()
    except AssayError as exc:
        db_session().rollback()
        flash(error_message(exc), "error")
    else:
        flash(done, "ok")
    return redirect(url_for("web.model_page", name=name, _anchor="aliases"))


@bp.post("/models/<name>/aliases")
@requires(Role.CONTRIBUTOR)
@browser_page
def set_alias_page(name: str) -> Response:
    """Set or move an alias (refused for a governed one, as through the API)."""

    def set_alias() -> str:
        alias = check_alias(request.form.get("alias", "").strip())
        holding = AliasService(db_session(), service_context()).set_alias(
            name, alias, _form_version(), comment=_comment()
        )
        return f"Alias {holding.alias} now names v{holding.version}."

    return _act(name, set_alias)


@bp.post("/models/<name>/aliases/<alias>/remove")
@requires(Role.CONTRIBUTOR)
@browser_page
def remove_alias_page(name: str, alias: str) -> Response:
    """Remove an alias (refused for a governed one, as through the API)."""

    def remove() -> str:
        AliasService(db_session(), service_context()).remove_alias(name, alias, comment=_comment())
        return f"Alias {alias} removed."

    return _act(name, remove)


@bp.post("/models/<name>/aliases/<alias>/promotion")
@requires(Role.CONTRIBUTOR)
@browser_page
def request_alias_promotion_page(name: str, alias: str) -> Response:
    """Request a promotion of a version to a governed alias: its policies judge it, approvers
    decide on the version page or in the approvals inbox."""
    try:
        version = _form_version()
        reason = _comment("reason") or ""
        promotion = PromotionService(db_session(), service_context()).request(
            name, version, alias=alias, reason=reason
        )
    except AssayError as exc:
        db_session().rollback()
        flash(error_message(exc), "error")
        return redirect(url_for("web.model_page", name=name, _anchor="aliases"))
    flash(
        f"Promotion request {promotion.id} of v{version} to alias {alias} is "
        f"{promotion.status.replace('_', ' ')}.",
        "ok",
    )
    target = url_for("web.version_page", name=name, version=version, _anchor="promotions")
    return redirect(target)
