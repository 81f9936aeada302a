"""The gate CI asks (may this version go to this stage?), an admin's direct stage change,
stage history, and rollback.

A direct change to ``staging`` or ``production`` skips the policies and approvals: it is an
*override*. It needs a reason, is recorded as an ``overridden`` promotion request with the
evaluation it skipped (audited as ``stage.overridden``), and the gate then answers
``override``, passing only where every applicable policy says ``overrides_pass: true`` (or
none applies). Moving a version to ``archived`` or ``none`` overrides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, PermissionDenied, ValidationFailed
from ..registry.aliases import alias_version
from ..registry.models import ModelVersion, Stage, StageHistory
from ..registry.service import RegistryService
from ..registry.stages import held, stage_history
from ..roles import Role
from .evaluation import evaluate_version
from .models import PromotionRequest, PromotionStatus
from .promotions import TARGET_STAGES, PromotionService
from .rollout_rules import rollout_gate_status
from .verdicts import (
    Evaluation,
    FailingRule,
    failing_rule_names,
    failing_rules,
    overrides_pass,
    policy_summary,
)

#: How a version comes to hold a stage through the gate, or past it.
_ENTRIES = (PromotionStatus.APPROVED.value, PromotionStatus.OVERRIDDEN.value)


@dataclass(frozen=True)
class GateAnswer:
    """May a version go to a stage: ``passed`` once it holds it (or a later stage) through an
    approved request, or through an override the policies let pass; the latest request's
    status and approvals (``override``: the override's), and the evaluation behind them."""

    model: str
    version: int
    stage: str | None
    current_stage: str
    passed: bool
    status: str
    promotion_id: int | None
    approvals: int
    required_approvals: int
    failing_rules: list[FailingRule]
    evaluation: Evaluation
    alias: str | None = None


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

    def gate(
        self, model_name: str, version: int, stage: str | None = None, *, alias: str | None = None
    ) -> GateAnswer:
        """May ``version`` go to ``stage``? ``passed`` once it holds it (or a later stage),
        unless it got there by an override the policies do not let pass. With ``alias``
        instead: may the alias name ``version``? ``passed`` while it does."""
        row = self.registry.get_version(model_name, version)
        if alias is not None:
            return self._alias_gate(row, alias)
        if stage is None:
            raise ValidationFailed("Give a stage or an alias.", details={"stage": ["Missing."]})
        holds = row.stage == stage or (
            stage == Stage.STAGING.value and row.stage == Stage.PRODUCTION.value
        )
        if holds:
            # How it came to hold the stage it is in: the latest approval or override of it.
            entry = self._latest_request(row, row.stage, statuses=_ENTRIES)
            if entry is not None and entry.status == PromotionStatus.OVERRIDDEN.value:
                return self._answer(
                    row,
                    stage,
                    entry.evaluation,
                    entry,
                    "override",
                    overrides_pass(entry.evaluation),
                )
        latest = self._latest_request(row, stage)
        if latest is None:
            evaluation = evaluate_version(self.session, self.ctx, row, stage)
            status = "approved" if holds else "not_requested"
        else:
            evaluation = latest.evaluation
            status = "approved" if holds else latest.status
            if latest.status in _ENTRIES and not holds:
                status = rollout_gate_status(self.session, latest) or "superseded"
        return self._answer(row, stage, evaluation, latest, status, holds)

    def _alias_gate(self, row: ModelVersion, alias: str) -> GateAnswer:
        """The gate of pointing ``alias`` at ``row``: approved while the alias names it (an
        alias no policy governs is set directly, with no request); else the latest request's
        status, ``superseded`` once the alias it moved names another version."""
        named = alias_version(self.session, row.model_id, alias)
        holds = named is not None and named.id == row.id
        latest = self._latest_request(row, alias=alias)
        if latest is None:
            evaluation = evaluate_version(self.session, self.ctx, row, None, alias=alias)
            status = "approved" if holds else "not_requested"
        else:
            evaluation = latest.evaluation
            status = "approved" if holds else latest.status
            if latest.status in _ENTRIES and not holds:
                status = "superseded"
        return self._answer(row, None, evaluation, latest, status, holds, alias=alias)

    def _latest_request(
        self,
        row: ModelVersion,
        stage: str | None = None,
        *,
        alias: str | None = None,
        statuses: tuple[str, ...] | None = None,
    ) -> PromotionRequest | None:
        target = (
            PromotionRequest.alias == alias
            if alias is not None
            else PromotionRequest.stage == stage
        )
        query = select(PromotionRequest).where(PromotionRequest.version_id == row.id, target)
        if statuses is not None:
            query = query.where(PromotionRequest.status.in_(statuses))
        return self.session.scalar(query.order_by(PromotionRequest.id.desc()).limit(1))

    @staticmethod
    def _answer(
        row: ModelVersion,
        stage: str | None,
        evaluation: Evaluation,
        request: PromotionRequest | None,
        status: str,
        passed: bool,
        *,
        alias: str | None = None,
    ) -> GateAnswer:
        return GateAnswer(
            model=row.model.name,
            version=row.version,
            stage=stage,
            current_stage=row.stage,
            passed=passed,
            status=status,
            promotion_id=request.id if request else None,
            approvals=request.approvals if request else 0,
            required_approvals=request.required_approvals
            if request
            else evaluation["approvals"]["required"],
            failing_rules=failing_rules(evaluation),
            evaluation=evaluation,
            alias=alias,
        )

    def set_stage(
        self,
        model_name: str,
        version: int,
        stage: str,
        *,
        reason: str | None = None,
        comment: str | None = None,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """An admin moves a version directly. To ``staging`` or ``production`` this overrides
        the gate: ``reason`` is required, and the override is recorded and audited (see the
        module's docstring). With ``archive_existing``, the versions in that stage now are
        archived. To ``archived`` or ``none`` it is a plain move."""
        if not self.ctx.actor.role.allows(Role.ADMIN):
            raise PermissionDenied("Only an admin may change a stage directly.")
        overrides = stage in TARGET_STAGES
        if overrides and not (reason or "").strip():
            raise ValidationFailed(
                "",
                details={
                    "reason": [
                        f"Say why you override the gate: moving a version to {stage} directly "
                        "skips the policies and approvals."
                    ]
                },
            )
        model = self.registry.get_model(model_name, for_update=True)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        row = self.registry.get_version(model_name, version)
        if row.stage == stage:
            raise Conflict(f"Version {version} of {model_name!r} is already in {stage}.")
        if not overrides:
            self.registry.move_stage(row, stage, _note(reason, comment))
            return row
        PromotionService(self.session, self.ctx).override(row, stage, reason=reason or "")
        self.registry.move_stage(
            row,
            stage,
            _note(f"override: {reason}", comment),
            archive_holders=f"archived: v{version} moved to {stage}" if archive_existing else None,
        )
        return row

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


def _note(first: str | None, then: str | None) -> str | None:
    """What the stage history and the audit event record of a direct change."""
    return " — ".join(part for part in (first, then) if part and part.strip()) or None
