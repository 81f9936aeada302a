"""Phased rollouts: a candidate version takes a growing share of traffic, step by step, each
step gated on live evidence (:mod:`.rollouts_gate`), until it becomes production.

Assay routes no traffic: a rollout is the source of truth for which version gets what share
(:meth:`RolloutService.split`), and serving code asks for it. A rollout is started on an
approved promotion to production that waits for one (:func:`.rollout_rules.awaits_rollout`)
by an approver or the promotion's requester; the candidate takes the first step's share and
the production version the rest. Each advance is judged by the step's gate; the step to 100%
moves the candidate to production through the registry's ``move_stage`` (the path an approved
promotion takes) and completes the rollout. A halt (an approver, or a critical alert on the
candidate: :mod:`.rollouts_jobs`) stops it, and rolls it back (candidate 0%) when the plan
says so; an approver may resume a halted rollout or roll it back. Every change is kept in the
rollout's history, audited, and published (``rollout.*``) to the channels subscribed to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..registry.models import Stage
from ..registry.service import RegistryService
from ..registry.stages import holders
from ..roles import Role
from .models import PromotionStatus
from .promotions import PromotionService
from .rollout_rules import awaits_rollout
from .rollouts_gate import Comparer, StepGate, judge_step
from .rollouts_models import (
    OPEN_ROLLOUT_STATUSES,
    PlannedStep,
    Rollout,
    RolloutEvent,
    RolloutStatus,
)


@dataclass(frozen=True)
class Advance:
    """What asking a rollout to advance did: the gate judged, and whether it moved on."""

    rollout: Rollout
    gate: StepGate
    advanced: bool


def check_plan(steps: list[PlannedStep]) -> None:
    """Refuse a plan whose shares do not rise strictly from above 0 to exactly 100."""
    shares = [step["percent"] for step in steps]
    problems = []
    if len(shares) < 2:
        problems.append("Give at least two steps: a first share, then 100.")
    if any(not 0 < share <= 100 for share in shares):
        problems.append("Each step's percent is above 0 and at most 100.")
    if any(later <= earlier for earlier, later in pairwise(shares)):
        problems.append("Steps must increase: each share above the one before.")
    if shares and shares[-1] != 100:
        problems.append("The last step is 100: the candidate ends with all the traffic.")
    if problems:
        raise ValidationFailed("The rollout plan is not valid.", details={"steps": problems})


class RolloutService:
    """Start, read, advance, halt, resume and roll back rollouts, as the context's actor."""

    def __init__(
        self, session: Session, ctx: ServiceContext, *, compare: Comparer | None = None
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.compare = compare
        self.registry = RegistryService(session, ctx)
        self.audit = AuditTrail(session, ctx)

    # -- starting -------------------------------------------------------------------------

    def start(
        self,
        model_name: str,
        *,
        promotion_id: int,
        steps: list[PlannedStep],
        rollback_on_halt: bool = True,
        comment: str = "",
    ) -> Rollout:
        """Start rolling out the version of an approved promotion to production that waits
        for it (an approver, or the promotion's requester)."""
        check_plan(steps)
        model = self.registry.get_model(model_name, for_update=True)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        promotion = PromotionService(self.session, self.ctx).get(promotion_id)
        if promotion.model_id != model.id:
            raise NotFound(f"No promotion request {promotion_id} of {model_name!r}.")
        actor = self.ctx.actor
        if actor.name != promotion.requested_by and not actor.role.allows(Role.APPROVER):
            raise PermissionDenied(
                "Only an approver or the promotion's requester may start its rollout."
            )
        if promotion.stage != Stage.PRODUCTION.value:
            raise Conflict(
                f"Promotion request {promotion_id} is to {promotion.stage}; only "
                "a promotion to production is rolled out."
            )
        if promotion.status != PromotionStatus.APPROVED.value:
            raise Conflict(
                f"Promotion request {promotion_id} is {promotion.status}; a rollout needs an "
                "approved promotion.",
                details={"status": promotion.status},
            )
        earlier = self.session.scalar(
            select(Rollout.id).where(Rollout.promotion_id == promotion_id)
        )
        if earlier is not None:
            raise Conflict(
                f"Promotion request {promotion_id} already has rollout {earlier}.",
                details={"rollout_id": earlier},
            )
        if not awaits_rollout(self.session, promotion):
            raise Conflict(
                f"Promotion request {promotion_id} does not wait for a rollout: request the "
                "promotion with rollout=true, while another version is in production."
            )
        running = self._open_rollout(model.id)
        if running is not None:
            raise Conflict(
                f"Rollout {running.id} of {model_name!r} is {running.status}; finish it first.",
                details={"rollout_id": running.id},
            )
        baseline = next(
            row
            for row in sorted(
                holders(self.session, model.id, Stage.PRODUCTION.value),
                key=lambda row: row.version,
                reverse=True,
            )
            if row.id != promotion.version_id
        )
        now = self.ctx.clock()
        rollout = Rollout(
            model=model,
            promotion_id=promotion.id,
            candidate=promotion.version,
            baseline=baseline,
            steps=[dict(step) for step in steps],
            rollback_on_halt=rollback_on_halt,
            status=RolloutStatus.RUNNING.value,
            step=0,
            candidate_share=steps[0]["percent"] / 100,
            step_started_at=now,
            created_by=actor.name,
            created_at=now,
            updated_at=now,
        )
        self.session.add(rollout)
        self.session.flush()
        self._record(rollout, "started", 0.0, comment, extra={"steps": [dict(s) for s in steps]})
        return rollout

    # -- reading ----------------------------------------------------------------------------

    def get(self, rollout_id: int, *, for_update: bool = False) -> Rollout:
        """One rollout, or :class:`NotFound`; ``for_update`` locks it until commit."""
        query = (
            select(Rollout)
            .options(
                joinedload(Rollout.model),
                joinedload(Rollout.candidate),
                joinedload(Rollout.baseline),
            )
            .where(Rollout.id == rollout_id)
        )
        if for_update:
            query = query.with_for_update(of=Rollout).execution_options(populate_existing=True)
        rollout = self.session.scalar(query)
        if rollout is None:
            raise NotFound(f"No rollout {rollout_id}.")
        return rollout

    def list(self, model_name: str) -> list[Rollout]:
        """A model's rollouts, newest first."""
        model = self.registry.get_model(model_name)
        return list(
            self.session.scalars(
                select(Rollout).where(Rollout.model_id == model.id).order_by(Rollout.id.desc())
            )
        )

    def current(self, model_name: str) -> Rollout:
        """The model's open rollout, else its latest one; :class:`NotFound` if it has none."""
        model = self.registry.get_model(model_name)
        rollout = self._open_rollout(model.id) or self.session.scalar(
            select(Rollout).where(Rollout.model_id == model.id).order_by(Rollout.id.desc())
        )
        if rollout is None:
            raise NotFound(f"Model {model_name!r} has no rollout.")
        return rollout

    def split(self, model_name: str) -> dict[int, float]:
        """``{version: weight}`` serving code should follow now: the open rollout's shares,
        else the production version alone (several in production share equally; none: {})."""
        model = self.registry.get_model(model_name)
        rollout = self._open_rollout(model.id)
        if rollout is not None:
            return rollout.split()
        versions = sorted(v.version for v in holders(self.session, model.id, "production"))
        return {version: round(1 / len(versions), 6) for version in versions}

    def gate(self, rollout_id: int) -> StepGate | None:
        """The current step's gate judged now (None once the rollout is final)."""
        rollout = self.get(rollout_id)
        if not rollout.is_open:
            return None
        return judge_step(self.session, self.ctx, rollout, self.compare)

    def _open_rollout(self, model_id: int) -> Rollout | None:
        return self.session.scalar(
            select(Rollout).where(
                Rollout.model_id == model_id, Rollout.status.in_(OPEN_ROLLOUT_STATUSES)
            )
        )

    # -- changing -----------------------------------------------------------------------------

    def advance(self, rollout_id: int) -> Advance:
        """Judge the current step's gate; when it passes, take the next step (the step to
        100% makes the candidate production and completes the rollout)."""
        rollout = self._in(rollout_id, (RolloutStatus.RUNNING.value,), "advanced")
        gate = judge_step(self.session, self.ctx, rollout, self.compare)
        if not gate.passed or gate.next_percent is None:
            return Advance(rollout, gate, advanced=False)
        before = rollout.current_percent
        now = self.ctx.clock()
        rollout.step += 1
        rollout.candidate_share = gate.next_percent / 100
        rollout.step_started_at = rollout.updated_at = now
        if gate.next_percent < 100:
            self._record(rollout, "advanced", before, "", gate=gate)
            return Advance(rollout, gate, advanced=True)
        rollout.status = RolloutStatus.COMPLETED.value
        rollout.ended_at = now
        self.registry.move_stage(
            rollout.candidate,
            Stage.PRODUCTION.value,
            f"rollout {rollout.id} completed (promotion request {rollout.promotion_id})",
            archive_holders=f"archived: v{rollout.candidate.version} rolled out to production",
        )
        self._record(rollout, "completed", before, "", gate=gate)
        return Advance(rollout, gate, advanced=True)

    def halt(self, rollout_id: int, *, reason: str, alert_id: int | None = None) -> Rollout:
        """Stop a running rollout where it is; roll it back when its plan says so."""
        _need(reason, "halt")
        rollout = self._in(rollout_id, (RolloutStatus.RUNNING.value,), "halted")
        rollout.status = RolloutStatus.HALTED.value
        rollout.halted_reason = reason
        rollout.updated_at = self.ctx.clock()
        extra: dict[str, Any] = {"alert_id": alert_id} if alert_id is not None else {}
        self._record(rollout, "halted", rollout.current_percent, reason, extra=extra)
        if rollout.rollback_on_halt:
            self._roll_back(rollout, reason, extra)
        return rollout

    def resume(self, rollout_id: int, *, reason: str) -> Rollout:
        """Let a halted rollout run again; its step's minimums count afresh from now."""
        _need(reason, "resume")
        rollout = self._in(rollout_id, (RolloutStatus.HALTED.value,), "resumed")
        rollout.status = RolloutStatus.RUNNING.value
        rollout.halted_reason = None
        rollout.step_started_at = rollout.updated_at = self.ctx.clock()
        self._record(rollout, "resumed", rollout.current_percent, reason)
        return rollout

    def rollback(self, rollout_id: int, *, reason: str) -> Rollout:
        """Give the production version all the traffic back (candidate 0%); final."""
        _need(reason, "roll back")
        rollout = self._in(rollout_id, OPEN_ROLLOUT_STATUSES, "rolled back")
        self._roll_back(rollout, reason, {})
        return rollout

    def _roll_back(self, rollout: Rollout, reason: str, extra: dict[str, Any]) -> None:
        before = rollout.current_percent
        rollout.status = RolloutStatus.ROLLED_BACK.value
        rollout.candidate_share = 0.0
        rollout.ended_at = rollout.updated_at = self.ctx.clock()
        self._record(rollout, "rolled_back", before, reason, extra=extra)

    def _in(self, rollout_id: int, statuses: tuple[str, ...], doing: str) -> Rollout:
        rollout = self.get(rollout_id, for_update=True)
        if rollout.status not in statuses:
            raise Conflict(
                f"Rollout {rollout_id} is {rollout.status}; it cannot be {doing}.",
                details={"status": rollout.status},
            )
        return rollout

    def _record(
        self,
        rollout: Rollout,
        kind: str,
        before: float,
        reason: str,
        *,
        gate: StepGate | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Keep the change in the rollout's history, audit it and publish ``rollout.<kind>``."""
        now = self.ctx.clock()
        self.session.add(
            RolloutEvent(
                rollout=rollout,
                kind=kind,
                step=rollout.step,
                from_percent=before,
                to_percent=rollout.current_percent,
                reason=reason,
                gate=gate.as_json() if gate else None,
                created_by=self.ctx.actor.name,
                created_at=now,
            )
        )
        self.session.flush()
        payload: dict[str, Any] = {
            "model": rollout.model.name,
            "version": rollout.candidate.version,
            "baseline_version": rollout.baseline.version,
            "promotion_id": rollout.promotion_id,
            "status": rollout.status,
            "step": rollout.step,
            "from_percent": before,
            "percent": rollout.current_percent,
            "reason": reason,
            "by": self.ctx.actor.name,
            **(extra or {}),
        }
        if gate is not None:
            payload["gate"] = [
                {"name": c.name, "passed": c.passed, "observed": c.observed} for c in gate.checks
            ]
        audited = self.audit.append(f"rollout.{kind}", "rollout", str(rollout.id), payload)
        self.ctx.events.publish(
            self.session,
            self.ctx,
            f"rollout.{kind}",
            {"rollout_id": rollout.id, "audit_seq": audited.seq, **payload},
        )


def _need(reason: str, doing: str) -> None:
    if not reason.strip():
        raise ValidationFailed("", details={"reason": [f"Say why you {doing} the rollout."]})
