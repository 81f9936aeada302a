"""The approval gate: promotion requests, their evaluation, approvals with separation of
duties, the stage change on approval, the gate answer for CI, and rollback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT, Database
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..registry.models import ModelVersion, Stage
from ..registry.service import Page, RegistryService
from ..roles import Role
from .evidence import EvidenceContext
from .models import (
    OPEN_STATUSES,
    PolicyEvaluationRecord,
    PromotionDecision,
    PromotionRequest,
    PromotionStatus,
)
from .policies import applies
from .rules import PASS, evaluate_rule
from .service import PolicyService

TARGET_STAGES = (Stage.STAGING.value, Stage.PRODUCTION.value)
DEFAULT_APPROVALS = {
    "required": 1,
    "role": Role.APPROVER.value,
    "separation_of_duties": True,
    "independent_of_owner": False,
}


class PromotionBlocked(Conflict):
    """The policies do not pass: the request cannot be approved. ``details`` names the rules."""


def failing_rules(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of an evaluation that did not pass, each with its policy and version."""
    return [
        {"policy": policy["name"], "policy_version": policy["version"], **rule}
        for policy in evaluation.get("policies", [])
        for rule in policy["rules"]
        if rule["status"] != PASS
    ]


def policy_summary(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """Which policy versions judged, and how: for audit payloads."""
    return [
        {"name": p["name"], "version": p["version"], "status": p["status"]}
        for p in evaluation["policies"]
    ]


def _describe(failing: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['policy']}/{r['id']} ({r['status']})" for r in failing)


class PromotionService:
    """Open, evaluate, approve, reject and cancel promotion requests."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    # evaluation -------------------------------------------------------------------------

    def evaluate_version(self, version: ModelVersion, stage: str) -> dict[str, Any]:
        """Judge ``version`` for ``stage`` against every policy in force that applies to it."""
        now = self.ctx.clock()
        evidence = EvidenceContext(self.session, version, now, self.ctx.evidence)
        policies = []
        for policy_version in PolicyService(self.session, self.ctx).in_force():
            document = policy_version.document
            if not applies(document, model=version.model, version=version, stage=stage):
                continue
            rules = [evaluate_rule(evidence, rule) for rule in document["rules"]]
            policies.append(
                {
                    "name": policy_version.name,
                    "version": policy_version.version,
                    "policy_version_id": policy_version.id,
                    "status": "pass" if all(r["status"] == PASS for r in rules) else "blocked",
                    "rules": rules,
                    "approvals": document.get("approvals") or DEFAULT_APPROVALS,
                }
            )
        outcome = "pass" if all(p["status"] == "pass" for p in policies) else "blocked"
        return {
            "outcome": outcome,
            "evaluated_at": now.strftime(TIMESTAMP_FORMAT),
            "stage": stage,
            "policies": policies,
            "approvals": self._approvals_needed(policies),
        }

    @staticmethod
    def _approvals_needed(policies: list[dict[str, Any]]) -> dict[str, Any]:
        """The strictest of the applicable policies' approval rules (one approver if none)."""
        if not policies:
            return dict(DEFAULT_APPROVALS)
        rules = [p["approvals"] for p in policies]
        return {
            "required": max(r.get("required", 1) for r in rules),
            "role": Role.ADMIN.value
            if any(r.get("role") == Role.ADMIN.value for r in rules)
            else Role.APPROVER.value,
            # Separation of duties is the system's rule; a policy cannot switch it off.
            "separation_of_duties": True,
            "independent_of_owner": any(r.get("independent_of_owner") for r in rules),
        }

    def _store_evaluation(self, request: PromotionRequest, trigger: str) -> dict[str, Any]:
        evaluation = self.evaluate_version(request.version, request.stage)
        request.evaluation = evaluation
        request.required_approvals = evaluation["approvals"]["required"]
        request.updated_at = self.ctx.clock()
        self.session.add(
            PolicyEvaluationRecord(
                request_id=request.id,
                trigger=trigger,
                outcome=evaluation["outcome"],
                result=evaluation,
                created_at=self.ctx.clock(),
                created_by=self.ctx.actor.name,
            )
        )
        self.session.flush()
        return evaluation

    # requests ---------------------------------------------------------------------------

    def request(
        self, model_name: str, version: int, *, stage: str, reason: str = ""
    ) -> PromotionRequest:
        """Open a request to move a version to ``stage``, evaluated now, its evidence stored."""
        if stage not in TARGET_STAGES:
            raise ValidationFailed("", details={"stage": [f"Promote to one of {TARGET_STAGES}."]})
        model = self.registry.get_model(model_name, for_update=True)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        row = self.registry.get_version(model_name, version)
        if row.stage == stage:
            raise Conflict(f"Version {version} of {model_name!r} is already in {stage}.")
        open_request = self.session.scalar(
            select(PromotionRequest.id).where(
                PromotionRequest.version_id == row.id,
                PromotionRequest.stage == stage,
                PromotionRequest.status.in_(OPEN_STATUSES),
            )
        )
        if open_request is not None:
            raise Conflict(
                f"Promotion request {open_request} for v{version} to {stage} is still open.",
                details={"promotion_id": open_request},
            )
        now = self.ctx.clock()
        request = PromotionRequest(
            model=model,
            version=row,
            stage=stage,
            reason=reason,
            status=PromotionStatus.BLOCKED.value,
            required_approvals=1,
            evaluation={},
            requested_by=self.ctx.actor.name,
            requested_by_token_id=self.ctx.actor.token_id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(request)
        self.session.flush()
        evaluation = self._store_evaluation(request, "request")
        request.status = (
            PromotionStatus.PENDING_APPROVAL.value
            if evaluation["outcome"] == "pass"
            else PromotionStatus.BLOCKED.value
        )
        self._announce(
            "promotion.requested",
            request,
            {
                "model": model.name,
                "version": version,
                "stage": stage,
                "reason": reason,
                "status": request.status,
                "policies": policy_summary(evaluation),
                "failing_rules": [f"{r['policy']}/{r['id']}" for r in failing_rules(evaluation)],
            },
        )
        self._promote_if_enough(request)
        return request

    def _announce(self, event: str, request: PromotionRequest, payload: dict[str, Any]) -> None:
        """Audit a step that channels may be subscribed to, and publish it to them."""
        audited = self.audit.append(event, "promotion", str(request.id), payload)
        self.ctx.events.publish(
            self.session,
            self.ctx,
            event,
            {"promotion_id": request.id, "audit_seq": audited.seq, **payload},
        )

    def get(self, promotion_id: int, *, for_update: bool = False) -> PromotionRequest:
        """One request, or :class:`NotFound`; ``for_update`` locks its row until commit."""
        query = (
            select(PromotionRequest)
            .options(joinedload(PromotionRequest.model), joinedload(PromotionRequest.version))
            .where(PromotionRequest.id == promotion_id)
        )
        if for_update:
            # Two approvals of one request queue here (PostgreSQL); SQLite serialises writers.
            query = query.with_for_update(of=PromotionRequest).execution_options(
                populate_existing=True
            )
        request = self.session.scalar(query)
        if request is None:
            raise NotFound(f"No promotion request {promotion_id}.")
        return request

    def list(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        stage: str | None = None,
        status: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> Page:
        """Requests matching the filters, newest first."""
        query = select(PromotionRequest)
        if model:
            model_row = self.registry.get_model(model)
            query = query.where(PromotionRequest.model_id == model_row.id)
            if version is not None:
                row = self.registry.get_version(model, version)
                query = query.where(PromotionRequest.version_id == row.id)
        elif version is not None:
            raise ValidationFailed("", details={"version": ["Filter by version with a model."]})
        if stage:
            query = query.where(PromotionRequest.stage == stage)
        if status:
            query = query.where(PromotionRequest.status == status)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        items = list(
            self.session.scalars(
                query.order_by(PromotionRequest.id.desc()).offset((page - 1) * limit).limit(limit)
            )
        )
        return Page(items=items, total=total, page=page, limit=limit)

    def evaluations(self, promotion_id: int) -> list[PolicyEvaluationRecord]:
        """Every evaluation of a request, oldest first."""
        return list(
            self.session.scalars(
                select(PolicyEvaluationRecord)
                .where(PolicyEvaluationRecord.request_id == promotion_id)
                .order_by(PolicyEvaluationRecord.id)
            )
        )

    def _open(self, promotion_id: int, doing: str) -> PromotionRequest:
        request = self.get(promotion_id, for_update=True)
        if request.status not in OPEN_STATUSES:
            raise Conflict(
                f"Promotion request {promotion_id} is {request.status}; it cannot be {doing}.",
                details={"status": request.status},
            )
        return request

    def evaluate(self, promotion_id: int, *, trigger: str = "on_demand") -> PromotionRequest:
        """Re-evaluate an open request now (evidence may have arrived or changed)."""
        request = self._open(promotion_id, "re-evaluated")
        self._reevaluate(request, trigger)
        self._promote_if_enough(request)
        return request

    def _reevaluate(self, request: PromotionRequest, trigger: str) -> dict[str, Any]:
        """Store a fresh evaluation and apply its outcome."""
        before = request.status
        evaluation = self._store_evaluation(request, trigger)
        self._apply_outcome(request, evaluation, trigger=trigger, before=before)
        return evaluation

    def _apply_outcome(
        self, request: PromotionRequest, evaluation: dict[str, Any], *, trigger: str, before: str
    ) -> None:
        """Set the status an evaluation implies, and audit the change."""
        request.status = (
            PromotionStatus.PENDING_APPROVAL.value
            if evaluation["outcome"] == "pass"
            else PromotionStatus.BLOCKED.value
        )
        self.audit.append(
            "promotion.evaluated",
            "promotion",
            str(request.id),
            {
                "trigger": trigger,
                "from": before,
                "to": request.status,
                "policies": policy_summary(evaluation),
                "failing_rules": [f"{r['policy']}/{r['id']}" for r in failing_rules(evaluation)],
            },
        )

    # decisions --------------------------------------------------------------------------

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
        if approvals.get("independent_of_owner") and request.model.owner == actor.name:
            raise PermissionDenied(
                f"Independent validation: {actor.name!r} owns model {request.model.name!r} and "
                "cannot approve its promotion."
            )

    def _decided_by_actor(self, request: PromotionRequest) -> PromotionDecision | None:
        return next((d for d in request.decisions if d.approver == self.ctx.actor.name), None)

    def check_approval(self, promotion_id: int) -> PromotionRequest:
        """The open request the actor may approve: separation of duties, one decision per
        approver, not blocked. Raises before anything changes."""
        request = self._open(promotion_id, "approved")
        self._check_duties(request)
        earlier = self._decided_by_actor(request)
        if earlier is not None:
            raise Conflict(
                f"{self.ctx.actor.name!r} already decided on promotion request {promotion_id} "
                f"({earlier.decision})."
            )
        if request.status == PromotionStatus.BLOCKED.value:
            failing = failing_rules(request.evaluation)
            raise PromotionBlocked(
                f"Promotion request {promotion_id} is blocked by {_describe(failing)}; "
                "re-evaluate it once the evidence is there.",
                details={"failing_rules": failing},
            )
        return request

    def reevaluate_for_approval(self, promotion_id: int) -> list[dict[str, Any]]:
        """The re-evaluation an approval starts with, stored; a failing one blocks the
        request. Returns the failing rules (none when the policies still pass)."""
        request = self.check_approval(promotion_id)
        evaluation = self._store_evaluation(request, "approval")
        if evaluation["outcome"] == "pass":
            return []
        self._apply_outcome(request, evaluation, trigger="approval", before=request.status)
        return failing_rules(evaluation)

    def record_approval(self, promotion_id: int, *, comment: str = "") -> PromotionRequest:
        """Record the actor's approval against the evaluation :meth:`reevaluate_for_approval`
        stored; with enough approvals the stage changes (the previous production version is
        archived). Use :func:`approve_promotion`, which runs both."""
        request = self.check_approval(promotion_id)
        evaluation = request.evaluation
        self._decide(request, "approve", comment)
        self.audit.append(
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
        self._promote_if_enough(request)
        return request

    def reject(self, promotion_id: int, *, comment: str) -> PromotionRequest:
        """Reject an open request; it is final (a new request starts over)."""
        if not comment.strip():
            raise ValidationFailed("", details={"comment": ["Say why the promotion is rejected."]})
        request = self._open(promotion_id, "rejected")
        earlier = self._decided_by_actor(request)
        if earlier is not None:
            raise Conflict(
                f"{self.ctx.actor.name!r} already decided on promotion request {promotion_id} "
                f"({earlier.decision})."
            )
        self._decide(request, "reject", comment)
        request.status = PromotionStatus.REJECTED.value
        request.decided_at = self.ctx.clock()
        self.session.flush()
        self._announce(
            "promotion.rejected",
            request,
            {
                "model": request.model.name,
                "version": request.version.version,
                "stage": request.stage,
                "comment": comment,
            },
        )
        return request

    def cancel(self, promotion_id: int, *, comment: str = "") -> PromotionRequest:
        """Withdraw an open request (its requester, or an admin)."""
        request = self._open(promotion_id, "cancelled")
        actor = self.ctx.actor
        if actor.name != request.requested_by and not actor.role.allows(Role.ADMIN):
            raise PermissionDenied("Only the requester or an admin may cancel a promotion request.")
        request.status = PromotionStatus.CANCELLED.value
        request.decided_at = request.updated_at = self.ctx.clock()
        self.session.flush()
        self._announce(
            "promotion.cancelled",
            request,
            {
                "model": request.model.name,
                "version": request.version.version,
                "stage": request.stage,
                "comment": comment,
            },
        )
        return request

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

    def _promote_if_enough(self, request: PromotionRequest) -> None:
        if request.status != PromotionStatus.PENDING_APPROVAL.value:
            return
        if request.approvals < request.required_approvals:
            return
        request.status = PromotionStatus.APPROVED.value
        request.decided_at = self.ctx.clock()
        self.session.flush()
        self._announce(
            "promotion.approved",
            request,
            {
                "model": request.model.name,
                "version": request.version.version,
                "stage": request.stage,
                "approvers": [d.approver for d in request.decisions if d.decision == "approve"],
            },
        )
        stage = request.stage
        self.registry.move_stage(
            request.version,
            stage,
            f"promotion request {request.id} approved",
            archive_holders=f"archived: v{request.version.version} moved to {stage}"
            if stage == Stage.PRODUCTION.value
            else None,
        )


def approve_promotion(
    database: Database, session: Session, ctx: ServiceContext, promotion_id: int, comment: str
) -> PromotionRequest:
    """Approve a promotion: re-evaluate its policies in a unit of work of its own, so that a
    re-evaluation that finds the request blocked is kept when the approval is refused; then
    record the approval in ``session`` (the caller's unit of work)."""
    with database.unit_of_work() as own:
        failing = PromotionService(own, ctx).reevaluate_for_approval(promotion_id)
    if failing:
        raise PromotionBlocked(
            f"The policies no longer pass for promotion request {promotion_id}: "
            f"{_describe(failing)}. It is blocked again.",
            details={"failing_rules": failing},
        )
    return PromotionService(session, ctx).record_approval(promotion_id, comment=comment)
