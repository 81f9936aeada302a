"""The gate CI asks (may this version go to this stage?), stage history, and rollback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, ValidationFailed
from ..registry.models import Stage, StageHistory
from ..registry.service import RegistryService
from ..registry.stages import held, stage_history
from .evaluation import evaluate_version
from .models import PromotionRequest, PromotionStatus
from .verdicts import Evaluation, FailingRule, failing_rule_names, failing_rules, policy_summary


@dataclass(frozen=True)
class GateAnswer:
    """May a version go to a stage: ``passed`` once it holds it (or a later stage); the
    latest request's status and approvals, and the evaluation behind them."""

    model: str
    version: int
    stage: str
    current_stage: str
    passed: bool
    status: str
    promotion_id: int | None
    approvals: int
    required_approvals: int
    failing_rules: list[FailingRule]
    evaluation: Evaluation


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did."""

    model: str
    stage: str
    from_versions: list[int]
    to_version: int
    reason: str
    evaluation: Evaluation


class StageService:
    """Answer the gate, read the stage history, roll a stage back."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    def gate(self, model_name: str, version: int, stage: str) -> GateAnswer:
        """May ``version`` go to ``stage``? ``passed`` once it holds it (or a later stage)."""
        row = self.registry.get_version(model_name, version)
        latest = self.session.scalar(
            select(PromotionRequest)
            .where(PromotionRequest.version_id == row.id, PromotionRequest.stage == stage)
            .order_by(PromotionRequest.id.desc())
            .limit(1)
        )
        holds = row.stage == stage or (
            stage == Stage.STAGING.value and row.stage == Stage.PRODUCTION.value
        )
        if latest is None:
            evaluation = evaluate_version(self.session, self.ctx, row, stage)
            status = "approved" if holds else "not_requested"
        else:
            evaluation = latest.evaluation
            status = "approved" if holds else latest.status
            if latest.status == PromotionStatus.APPROVED.value and not holds:
                status = "superseded"
        return GateAnswer(
            model=model_name,
            version=version,
            stage=stage,
            current_stage=row.stage,
            passed=holds,
            status=status,
            promotion_id=latest.id if latest else None,
            approvals=latest.approvals if latest else 0,
            required_approvals=latest.required_approvals
            if latest
            else evaluation["approvals"]["required"],
            failing_rules=failing_rules(evaluation),
            evaluation=evaluation,
        )

    def rollback(
        self, model_name: str, *, stage: str, to_version: int, reason: str
    ) -> RollbackResult:
        """Move ``stage`` back to a version that held it before; policies shown, not enforced."""
        if not reason.strip():
            raise ValidationFailed("", details={"reason": ["Say why you roll back."]})
        model = self.registry.get_model(model_name, for_update=True)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        row = self.registry.get_version(model_name, to_version)
        if row.stage == stage:
            raise Conflict(f"Version {to_version} of {model_name!r} is already in {stage}.")
        if not held(self.session, row.id, stage):
            raise Conflict(
                f"Version {to_version} of {model_name!r} has never been in {stage}; "
                "roll back only to a version that held it (promote the others)."
            )
        evaluation = evaluate_version(self.session, self.ctx, row, stage)
        holders = self.registry.move_stage(
            row,
            stage,
            f"rollback: {reason}",
            archive_holders=f"rolled back: v{to_version} back in {stage}",
        )
        self.audit.append(
            "stage.rolled_back",
            "model",
            model.name,
            {
                "stage": stage,
                "from_versions": [h.version for h in holders],
                "to_version": to_version,
                "reason": reason,
                "policies": policy_summary(evaluation),
                "failing_rules": failing_rule_names(evaluation),
            },
        )
        return RollbackResult(
            model=model.name,
            stage=stage,
            from_versions=[h.version for h in holders],
            to_version=to_version,
            reason=reason,
            evaluation=evaluation,
        )

    def history(
        self, model_name: str, *, at: datetime | None = None, stage: str | None = None
    ) -> list[StageHistory]:
        """The model's stage history (see :func:`~assay_server.registry.stages.stage_history`)."""
        model = self.registry.get_model(model_name)
        return stage_history(self.session, model.id, at=at, stage=stage)
