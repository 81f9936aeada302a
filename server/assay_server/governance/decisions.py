"""Deciding on a promotion request: approvals with separation of duties, one decision per
approver, a re-evaluation before every approval; and rejections."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import Database
from ..errors import Conflict, PermissionDenied, ValidationFailed
from ..roles import Role
from .models import PromotionDecision, PromotionRequest, PromotionStatus
from .ownership import ownership_of
from .promotions import PromotionService, target_of
from .verdicts import DEFAULT_APPROVALS, FailingRule, describe, failing_rules, policy_summary


class PromotionBlocked(Conflict):
    """The policies do not pass: the request cannot be approved. ``details`` names the rules."""


class PromotionDecisions:
    """Approve and reject promotion requests, as the context's actor."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.promotions = PromotionService(session, ctx)

    def check_approval(self, promotion_id: int) -> PromotionRequest:
        """The open request the actor may approve: separation of duties, one decision per
        approver, not blocked. Raises before anything changes."""
        request = self.promotions.open_request(promotion_id, "approved")
        self._check_duties(request)
        self._refuse_a_second_decision(request)
        if request.status == PromotionStatus.BLOCKED.value:
            failing = failing_rules(request.evaluation)
            raise PromotionBlocked(
                f"Promotion request {promotion_id} is blocked by {describe(failing)}; "
                "re-evaluate it once the evidence is there.",
                details={"failing_rules": failing},
            )
        return request

    def reevaluate_for_approval(self, promotion_id: int) -> list[FailingRule]:
        """The re-evaluation an approval starts with, stored; a failing one blocks the
        request. Returns the failing rules (none when the policies still pass)."""
        request = self.check_approval(promotion_id)
        evaluation = self.promotions.store_evaluation(request, "approval")
        if evaluation["outcome"] == "pass":
            return []
        self.promotions.apply_outcome(
            request, evaluation, trigger="approval", before=request.status
        )
        return failing_rules(evaluation)

    def record_approval(self, promotion_id: int, *, comment: str = "") -> PromotionRequest:
        """Record the actor's approval against the evaluation :meth:`reevaluate_for_approval`
        stored; with enough approvals the stage changes (the previous production version is
        archived). Use :func:`approve_promotion`, which runs both."""
        request = self.check_approval(promotion_id)
        evaluation = request.evaluation
        self._decide(request, "approve", comment)
        self.promotions.audit.append(
            "promotion.approval_recorded",
            "promotion",
            str(request.id),
            {
                "comment": comment,
                "approvals": request.approvals,
                "required": request.required_approvals,
                "policies": policy_summary(evaluation),
            },
        )
        self.promotions.promote_if_enough(request)
        return request

    def reject(self, promotion_id: int, *, comment: str) -> PromotionRequest:
        """Reject an open request; it is final (a new request starts over)."""
        if not comment.strip():
            raise ValidationFailed("", details={"comment": ["Say why the promotion is rejected."]})
        request = self.promotions.open_request(promotion_id, "rejected")
        self._refuse_a_second_decision(request)
        self._decide(request, "reject", comment)
        request.status = PromotionStatus.REJECTED.value
        request.decided_at = self.ctx.clock()
        self.session.flush()
        self.promotions.announce(
            "promotion.rejected",
            request,
            {**target_of(request), "comment": comment},
        )
        return request

    def _check_duties(self, request: PromotionRequest) -> None:
        actor = self.ctx.actor
        approvals = request.evaluation.get("approvals") or DEFAULT_APPROVALS
        if approvals.get("role") == Role.ADMIN.value and not actor.role.allows(Role.ADMIN):
            raise PermissionDenied("The policies require an admin to approve this promotion.")

        def same(name: str, token_id: int | None) -> bool:
            return actor.name == name or (token_id is not None and actor.token_id == token_id)

        if same(request.requested_by, request.requested_by_token_id):
            raise PermissionDenied(
                f"Separation of duties: {actor.name!r} requested this promotion and cannot "
                "approve it."
            )
        version = request.version
        if same(version.created_by, version.created_by_token_id):
            raise PermissionDenied(
                f"Separation of duties: {actor.name!r} registered version {version.version} "
                "and cannot approve its promotion."
            )
        if approvals.get("independent_of_owner"):
            ownership = ownership_of(self.session, self.ctx, request, actor.name)
            if ownership is not None:
                raise PermissionDenied(
                    f"Independent validation: {actor.name!r} {ownership} and cannot approve "
                    "its promotion."
                )

    def _refuse_a_second_decision(self, request: PromotionRequest) -> None:
        name = self.ctx.actor.name
        earlier = next((d for d in request.decisions if d.approver == name), None)
        if earlier is not None:
            raise Conflict(
                f"{name!r} already decided on promotion request {request.id} ({earlier.decision})."
            )

    def _decide(self, request: PromotionRequest, decision: str, comment: str) -> None:
        self.session.add(
            PromotionDecision(
                request=request,
                approver=self.ctx.actor.name,
                approver_token_id=self.ctx.actor.token_id,
                decision=decision,
                comment=comment,
                created_at=self.ctx.clock(),
            )
        )
        request.updated_at = self.ctx.clock()
        self.session.flush()


def approve_promotion(
    database: Database, session: Session, ctx: ServiceContext, promotion_id: int, comment: str
) -> PromotionRequest:
    """Approve a promotion: re-evaluate its policies in a unit of work of its own, so that a
    re-evaluation that finds the request blocked is kept when the approval is refused; then
    record the approval in ``session`` (the caller's unit of work)."""
    with database.unit_of_work() as own:
        failing = PromotionDecisions(own, ctx).reevaluate_for_approval(promotion_id)
    if failing:
        raise PromotionBlocked(
            f"The policies no longer pass for promotion request {promotion_id}: "
            f"{describe(failing)}. It is blocked again.",
            details={"failing_rules": failing},
        )
    return PromotionDecisions(session, ctx).record_approval(promotion_id, comment=comment)
