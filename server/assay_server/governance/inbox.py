"""The approvals inbox: the promotion requests an approver may act on, and the decided ones.

Read-only queries for the UI. Who may finally approve is still decided by
:class:`~.decisions.PromotionDecisions` when the approval is recorded; the inbox only leaves
out what it would certainly refuse (separation of duties, a second decision, an admin-only
request for a non-admin), so an approver's list holds what is theirs to decide.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..registry.paging import Page, paged
from ..roles import Actor, Role
from .models import PromotionDecision, PromotionRequest, PromotionStatus
from .verdicts import DEFAULT_APPROVALS

#: What an inbox lists at most of the requests waiting (a queue longer than that is a process
#: problem, not a paging one).
WAITING_LIMIT = 500
DECIDED_STATUSES = (
    PromotionStatus.APPROVED.value,
    PromotionStatus.REJECTED.value,
    PromotionStatus.CANCELLED.value,
    PromotionStatus.OVERRIDDEN.value,
)


def _with_parts(query: Select[Any]) -> Select[Any]:
    """``query`` loading each request's model, version and decisions with it."""
    return query.options(
        joinedload(PromotionRequest.model),
        joinedload(PromotionRequest.version),
        selectinload(PromotionRequest.decisions),
    )


def waiting_for(session: Session, actor: Actor) -> list[PromotionRequest]:
    """Pending requests ``actor`` may decide, oldest first: not requested by them, not on a
    version they registered, not decided by them yet, and not needing an admin they are not."""
    if not actor.role.allows(Role.APPROVER):
        return []
    decided_by_actor = exists().where(
        PromotionDecision.request_id == PromotionRequest.id,
        PromotionDecision.approver == actor.name,
    )
    query = (
        select(PromotionRequest)
        .where(
            PromotionRequest.status == PromotionStatus.PENDING_APPROVAL.value,
            PromotionRequest.requested_by != actor.name,
            ~decided_by_actor,
        )
        .order_by(PromotionRequest.id)
        .limit(WAITING_LIMIT)
    )
    if actor.token_id is not None:
        query = query.where(
            or_(
                PromotionRequest.requested_by_token_id.is_(None),
                PromotionRequest.requested_by_token_id != actor.token_id,
            )
        )
    requests = session.scalars(_with_parts(query)).unique()
    return [request for request in requests if _may_decide(request, actor)]


def _may_decide(request: PromotionRequest, actor: Actor) -> bool:
    version = request.version
    if version.created_by == actor.name or (
        actor.token_id is not None and version.created_by_token_id == actor.token_id
    ):
        return False
    approvals = request.evaluation.get("approvals") or DEFAULT_APPROVALS
    return approvals.get("role") != Role.ADMIN.value or actor.role.allows(Role.ADMIN)


def decided(session: Session, *, page: int = 1, limit: int = 25) -> Page[PromotionRequest]:
    """Requests that are closed (approved, rejected, cancelled, overridden), newest decision
    first."""
    query = select(PromotionRequest).where(PromotionRequest.status.in_(DECIDED_STATUSES))
    query = query.order_by(PromotionRequest.decided_at.desc(), PromotionRequest.id.desc())
    return paged(session, _with_parts(query), page=page, limit=limit)
