"""Who owns a model, for independent validation (a policy's ``independent_of_owner``).

An approver is not independent of a model they own now, owned when the promotion was
requested (kept on the request), or owned at any time since ``owner_lookback_days`` before
the request (read from the audit trail's ``model.updated`` events). And a model's owner does
not change while one of its promotions is open: otherwise its owner could hand the model to
someone else, approve, and take it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT
from ..errors import Conflict
from ..events import DomainEvent
from .models import OPEN_STATUSES, PromotionRequest


def refuse_owner_change_while_open(
    session: Session, ctx: ServiceContext, event: DomainEvent
) -> None:
    """``model.updated``: refuse a new owner while a promotion of the model is open (blocked
    or pending approval), naming the request."""
    if "owner" not in event.payload["changes"]:
        return
    open_requests = list(
        session.scalars(
            select(PromotionRequest)
            .options(joinedload(PromotionRequest.version))
            .where(
                PromotionRequest.model_id == event.payload["model_id"],
                PromotionRequest.status.in_(OPEN_STATUSES),
            )
            .order_by(PromotionRequest.id)
        )
    )
    if not open_requests:
        return
    first = open_requests[0]
    raise Conflict(
        f"Promotion request {first.id} (v{first.version.version} of "
        f"{event.payload['model']!r} to {first.target}) is {first.status}: the model's owner "
        "cannot change until it is approved, rejected or cancelled.",
        details={
            "promotion_id": first.id,
            "open_promotions": [request.id for request in open_requests],
        },
    )


def owners_since(
    session: Session, ctx: ServiceContext, model_name: str, since: datetime
) -> set[str]:
    """Who owned the model at some time from ``since`` until now, by the owner changes the
    audit trail holds from then on: the owner before each, and after. (With no change in
    that time, the owner now owned it throughout: the caller asks about them separately.)"""
    # Audit timestamps are all written in TIMESTAMP_FORMAT, so they sort as they compare.
    after = since.strftime(TIMESTAMP_FORMAT)
    owners: set[str] = set()
    for event in AuditTrail(session, ctx).events_about(
        [("model", model_name)], action="model.updated"
    ):
        change = event["payload"].get("changes", {}).get("owner")
        if change is None or event["timestamp"] < after:
            continue
        owners.update(owner for owner in (change.get("from"), change.get("to")) if owner)
    return owners


def ownership_of(
    session: Session, ctx: ServiceContext, request: PromotionRequest, name: str
) -> str | None:
    """How ``name`` owns (or owned) the request's model, in words; None when they did not
    within the lookback (``owner_lookback_days`` before the request, and since)."""
    model = request.model
    if model.owner == name:
        return f"owns model {model.name!r}"
    if request.owner_at_request == name:
        return f"owned model {model.name!r} when this promotion was requested"
    days = ctx.settings.owner_lookback_days
    since = request.created_at - timedelta(days=days)
    if name in owners_since(session, ctx, model.name, since):
        return (
            f"owned model {model.name!r} in the {days:g} days before this promotion was "
            "requested (or since)"
        )
    return None
