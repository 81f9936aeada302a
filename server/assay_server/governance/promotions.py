"""Promotion requests: opened with the policies' evaluation stored, re-evaluated as evidence
arrives, cancelled by their requester, and, once approved by enough people, the stage change
(or, for a request naming a governed alias, the alias moved to the version).

Who may approve or reject, and how, is in :mod:`.decisions`; what the policies say of a
version, in :mod:`.evaluation`.
"""

from __future__ import annotations

import builtins

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..registry.aliases import AliasService, check_alias
from ..registry.models import ModelVersion, RegisteredModel, Stage
from ..registry.paging import Page, paged
from ..registry.service import RegistryService
from ..roles import Role
from .evaluation import evaluate_version
from .governed_aliases import governing_policies
from .models import OPEN_STATUSES, PolicyEvaluationRecord, PromotionRequest, PromotionStatus
from .rollout_rules import awaits_rollout
from .verdicts import Evaluation, failing_rule_names, overrides_pass, policy_summary

TARGET_STAGES = (Stage.STAGING.value, Stage.PRODUCTION.value)


def status_after(evaluation: Evaluation) -> str:
    """The status an open request takes from its evaluation."""
    if evaluation["outcome"] == "pass":
        return PromotionStatus.PENDING_APPROVAL.value
    return PromotionStatus.BLOCKED.value


class PromotionService:
    """Open, read, re-evaluate and cancel promotion requests; promote once approved."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    def request(
        self,
        model_name: str,
        version: int,
        *,
        stage: str | None = None,
        alias: str | None = None,
        reason: str = "",
        rollout: bool = False,
    ) -> PromotionRequest:
        """Open a request to move a version to ``stage``, or to point the governed ``alias``
        at it; evaluated now, its evidence stored (``rollout``: to production, once approved
        it waits for a phased rollout)."""
        if (stage is None) == (alias is None):
            raise ValidationFailed(
                "Promote to a stage or to an alias, not both.",
                details={"stage": ["Give a stage or an alias, not both."]},
            )
        if stage is not None and stage not in TARGET_STAGES:
            raise ValidationFailed("", details={"stage": [f"Promote to one of {TARGET_STAGES}."]})
        if rollout and stage != Stage.PRODUCTION.value:
            raise ValidationFailed("", details={"rollout": ["Only production is rolled out."]})
        model = self.registry.get_model(model_name, for_update=True)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        row = self.registry.get_version(model_name, version)
        if alias is not None:
            self._check_alias_target(model, row, alias)
        elif row.stage == stage:
            raise Conflict(f"Version {version} of {model_name!r} is already in {stage}.")
        open_request = self.session.scalar(
            select(PromotionRequest.id).where(
                PromotionRequest.version_id == row.id,
                PromotionRequest.stage == stage
                if stage is not None
                else PromotionRequest.alias == alias,
                PromotionRequest.status.in_(OPEN_STATUSES),
            )
        )
        if open_request is not None:
            target = stage if stage is not None else f"alias {alias}"
            raise Conflict(
                f"Promotion request {open_request} for v{version} to {target} is still open.",
                details={"promotion_id": open_request},
            )
        now = self.ctx.clock()
        evaluation = evaluate_version(self.session, self.ctx, row, stage, alias=alias)
        request = PromotionRequest(
            model=model,
            version=row,
            stage=stage,
            alias=alias,
            reason=reason,
            status=status_after(evaluation),
            required_approvals=evaluation["approvals"]["required"],
            evaluation=evaluation,
            requested_by=self.ctx.actor.name,
            requested_by_token_id=self.ctx.actor.token_id,
            owner_at_request=model.owner,
            created_at=now,
            updated_at=now,
            rollout=rollout,
        )
        self.session.add(request)
        self.session.flush()
        self._keep_evaluation(request, evaluation, "request")
        self.announce(
            "promotion.requested",
            request,
            {
                **target_of(request),
                "reason": reason,
                "status": request.status,
                "policies": policy_summary(evaluation),
                "failing_rules": failing_rule_names(evaluation),
            },
        )
        self.promote_if_enough(request)
        return request

    def _check_alias_target(self, model: RegisteredModel, row: ModelVersion, alias: str) -> None:
        """An alias request names a governed alias that does not name the version yet."""
        check_alias(alias)
        if not governing_policies(self.session, self.ctx, model, alias):
            raise Conflict(
                f"Alias {alias!r} of {model.name!r} is governed by no policy in force: set it "
                "directly (PUT …/aliases/{alias}), no promotion needed.",
                details={"alias": alias, "policies": []},
            )
        holding = AliasService(self.session, self.ctx).holding(model.name, alias)
        if holding is not None and holding.version == row.version:
            raise Conflict(f"Alias {alias!r} of {model.name!r} names v{row.version} already.")

    def override(self, row: ModelVersion, stage: str, *, reason: str) -> PromotionRequest:
        """Record an admin's direct move of ``row`` to ``stage`` as an ``overridden`` request:
        the evaluation it skips is stored with it and audited (``stage.overridden``), and the
        open request for that stage, now moot, is cancelled. The caller moves the version."""
        now = self.ctx.clock()
        evaluation = evaluate_version(self.session, self.ctx, row, stage)
        override = PromotionRequest(
            model=row.model,
            version=row,
            stage=stage,
            reason=reason,
            status=PromotionStatus.OVERRIDDEN.value,
            required_approvals=evaluation["approvals"]["required"],
            evaluation=evaluation,
            requested_by=self.ctx.actor.name,
            requested_by_token_id=self.ctx.actor.token_id,
            owner_at_request=row.model.owner,
            created_at=now,
            updated_at=now,
            decided_at=now,
        )
        self.session.add(override)
        self.session.flush()
        self._keep_evaluation(override, evaluation, "override")
        moot = self.session.scalars(
            select(PromotionRequest.id).where(
                PromotionRequest.version_id == row.id,
                PromotionRequest.stage == stage,
                PromotionRequest.status.in_(OPEN_STATUSES),
            )
        ).all()
        for promotion_id in moot:
            self.cancel(promotion_id, comment=f"overridden by promotion request {override.id}")
        self.audit.append(
            "stage.overridden",
            "promotion",
            str(override.id),
            {
                "model": row.model.name,
                "version": row.version,
                "stage": stage,
                "from": row.stage,
                "reason": reason,
                "outcome": evaluation["outcome"],
                "policies": policy_summary(evaluation),
                "failing_rules": failing_rule_names(evaluation),
                "approvals_skipped": evaluation["approvals"]["required"],
                "passes_gate": overrides_pass(evaluation),
                "cancelled": list(moot),
            },
        )
        return override

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
        alias: str | None = None,
        status: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> Page[PromotionRequest]:
        """Requests matching the filters, newest first (``alias``: those to point it)."""
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
        if alias:
            query = query.where(PromotionRequest.alias == alias)
        if status:
            query = query.where(PromotionRequest.status == status)
        query = query.order_by(PromotionRequest.id.desc())
        return paged(self.session, query, page=page, limit=limit)

    def evaluations(self, promotion_id: int) -> builtins.list[PolicyEvaluationRecord]:
        """Every evaluation of a request, oldest first."""
        return list(
            self.session.scalars(
                select(PolicyEvaluationRecord)
                .where(PolicyEvaluationRecord.request_id == promotion_id)
                .order_by(PolicyEvaluationRecord.id)
            )
        )

    def open_request(self, promotion_id: int, doing: str) -> PromotionRequest:
        """The request, locked until commit, if it is still open; :class:`Conflict` if not
        (``doing`` says what could not be done: "approved", "cancelled" …)."""
        request = self.get(promotion_id, for_update=True)
        if request.status not in OPEN_STATUSES:
            raise Conflict(
                f"Promotion request {promotion_id} is {request.status}; it cannot be {doing}.",
                details={"status": request.status},
            )
        return request

    def evaluate(self, promotion_id: int, *, trigger: str = "on_demand") -> PromotionRequest:
        """Re-evaluate an open request now (evidence may have arrived or changed)."""
        request = self.open_request(promotion_id, "re-evaluated")
        before = request.status
        evaluation = self.store_evaluation(request, trigger)
        self.apply_outcome(request, evaluation, trigger=trigger, before=before)
        self.promote_if_enough(request)
        return request

    def store_evaluation(self, request: PromotionRequest, trigger: str) -> Evaluation:
        """Evaluate the request's version now; keep the result on the request and as a record
        (``trigger`` says why: "request", "approval", "on_demand" …)."""
        evaluation = evaluate_version(
            self.session, self.ctx, request.version, request.stage, alias=request.alias
        )
        self._keep_evaluation(request, evaluation, trigger)
        return evaluation

    def _keep_evaluation(
        self, request: PromotionRequest, evaluation: Evaluation, trigger: str
    ) -> None:
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

    def apply_outcome(
        self, request: PromotionRequest, evaluation: Evaluation, *, trigger: str, before: str
    ) -> None:
        """Set the status an evaluation implies, and audit the change from ``before``."""
        request.status = status_after(evaluation)
        self.audit.append(
            "promotion.evaluated",
            "promotion",
            str(request.id),
            {
                "trigger": trigger,
                "from": before,
                "to": request.status,
                "policies": policy_summary(evaluation),
                "failing_rules": failing_rule_names(evaluation),
            },
        )

    def cancel(self, promotion_id: int, *, comment: str = "") -> PromotionRequest:
        """Withdraw an open request (its requester, or an admin)."""
        request = self.open_request(promotion_id, "cancelled")
        actor = self.ctx.actor
        if actor.name != request.requested_by and not actor.role.allows(Role.ADMIN):
            raise PermissionDenied("Only the requester or an admin may cancel a promotion request.")
        request.status = PromotionStatus.CANCELLED.value
        request.decided_at = request.updated_at = self.ctx.clock()
        self.session.flush()
        self.announce("promotion.cancelled", request, {**target_of(request), "comment": comment})
        return request

    def announce(self, event: str, request: PromotionRequest, payload: dict[str, object]) -> None:
        """Audit a step that channels may be subscribed to, and publish it to them."""
        audited = self.audit.append(event, "promotion", str(request.id), payload)
        self.ctx.events.publish(
            self.session,
            self.ctx,
            event,
            {"promotion_id": request.id, "audit_seq": audited.seq, **payload},
        )

    def promote_if_enough(self, request: PromotionRequest) -> None:
        """Approve a pending request that has the approvals it needs, and move its version
        (archiving the previous production version), or point its governed alias at it."""
        if request.status != PromotionStatus.PENDING_APPROVAL.value:
            return
        if request.approvals < request.required_approvals:
            return
        request.status = PromotionStatus.APPROVED.value
        request.decided_at = self.ctx.clock()
        self.session.flush()
        self.announce(
            "promotion.approved",
            request,
            {
                **target_of(request),
                "approvers": [d.approver for d in request.decisions if d.decision == "approve"],
            },
        )
        comment = f"promotion request {request.id} approved"
        if request.alias is not None:
            AliasService(self.session, self.ctx).move_governed(
                request.version, request.alias, comment, promotion_id=request.id
            )
            return
        if awaits_rollout(self.session, request):
            return  # the rollout's last step moves it (governance/rollouts.py)
        stage = str(request.stage)
        self.registry.move_stage(
            request.version,
            stage,
            comment,
            archive_holders=f"archived: v{request.version.version} moved to {stage}"
            if stage == Stage.PRODUCTION.value
            else None,
        )


def target_of(request: PromotionRequest) -> dict[str, object]:
    """What a ``promotion.*`` event says of the request's target: model, version, the stage or
    the alias (the other None), and ``target`` in words (``production``, ``alias champion``)."""
    return {
        "model": request.model.name,
        "version": request.version.version,
        "stage": request.stage,
        "alias": request.alias,
        "target": request.target,
    }
