"""The policy rules of phased rollouts, and when an approved promotion waits for one.

- ``rollout_min_duration`` (``hours``): the version's rollout has run at least that long.
  Judged on its latest rollout, from its start to its end (or now). A version with no rollout
  yet passes *for now*: approved to production, it then waits for a rollout (see
  :func:`awaits_rollout`), and the step of that rollout to 100% is judged on this rule again
  (:mod:`.rollouts_gate`), so the version cannot reach production before ``hours``. A rollout
  that was rolled back fails it.
- ``no_open_incident`` (``severity``, default ``critical``): no incident of that severity or
  worse is open on the version (an incident is an alert of the alerts package).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts.evidence import open_incidents
from ..registry.models import Stage
from ..registry.stages import holders
from .evidence import EvidenceContext
from .models import PromotionRequest
from .rollouts_models import Rollout, RolloutStatus
from .rule_schemas import NoOpenIncident, RolloutMinDuration
from .verdicts import FAIL, PASS, RuleResult, rule_result

#: The rule kinds a rollout's gate judges again, and that make an approval wait for one.
ROLLOUT_RULE_KINDS = frozenset({"rollout_min_duration", "no_open_incident"})


def latest_rollout(session: Session, version_id: int) -> Rollout | None:
    """The newest rollout whose candidate is the version, if any."""
    return session.scalar(
        select(Rollout)
        .where(Rollout.candidate_id == version_id)
        .order_by(Rollout.id.desc())
        .limit(1)
    )


def rollout_hours(rollout: Rollout, now: datetime) -> float:
    """How long the rollout has run (or ran), in hours."""
    end = rollout.ended_at or now
    return round((end - rollout.created_at).total_seconds() / 3600, 4)


def awaits_rollout(session: Session, request: PromotionRequest) -> bool:
    """Does this approved promotion wait for a phased rollout instead of moving its version?
    To production, when the request asked for one or a policy judged it on a rollout rule,
    and another version holds production now (a first release has nothing to roll out
    against, and moves at once)."""
    if request.stage != Stage.PRODUCTION.value:
        return False
    policies = request.evaluation.get("policies") or []
    judged = any(r["check"] in ROLLOUT_RULE_KINDS for p in policies for r in p["rules"])
    if not (request.rollout or judged):
        return False
    production = holders(session, request.model_id, Stage.PRODUCTION.value)
    return any(row.id != request.version_id for row in production)


def rollout_gate_status(session: Session, request: PromotionRequest) -> str | None:
    """What the stage gate says of an approved promotion whose version has not moved:
    ``awaiting_rollout`` (no rollout started yet), ``rolling_out`` (one runs or is halted),
    ``rolled_back``; None when it does not wait for a rollout."""
    rollout = session.scalar(select(Rollout).where(Rollout.promotion_id == request.id))
    if rollout is not None:
        return "rolled_back" if rollout.status == RolloutStatus.ROLLED_BACK.value else "rolling_out"
    return "awaiting_rollout" if awaits_rollout(session, request) else None


def rollout_min_duration(ctx: EvidenceContext, rule: RolloutMinDuration) -> RuleResult:
    """Judge ``rollout_min_duration`` (see the module's docstring)."""
    hours = rule["hours"]
    threshold = f">= {hours:g} hours of rollout"
    rollout = latest_rollout(ctx.session, ctx.version.id)
    name = ctx.version.model.name
    if rollout is None:
        return rule_result(
            rule,
            PASS,
            f"v{ctx.version.version} has no rollout yet: approved to production it waits for "
            f"one, whose step to 100% needs {hours:g} hours.",
            threshold=threshold,
            observed=None,
            evidence={"type": "rollout", "link": f"/api/v1/models/{name}/rollouts"},
        )
    ran = rollout_hours(rollout, ctx.now)
    evidence: dict[str, object] = {
        "type": "rollout",
        "id": rollout.id,
        "status": rollout.status,
        "link": f"/api/v1/rollouts/{rollout.id}",
    }
    if rollout.status == RolloutStatus.ROLLED_BACK.value:
        return rule_result(
            rule,
            FAIL,
            f"Rollout {rollout.id} of v{ctx.version.version} was rolled back after {ran:g} hours.",
            threshold=threshold,
            observed=ran,
            evidence=evidence,
        )
    return rule_result(
        rule,
        PASS if ran >= hours else FAIL,
        f"Rollout {rollout.id} of v{ctx.version.version} has run {ran:g} hours; "
        f"the rule needs {hours:g}.",
        threshold=threshold,
        observed=ran,
        evidence=evidence,
    )


def no_open_incident(ctx: EvidenceContext, rule: NoOpenIncident) -> RuleResult:
    """Judge ``no_open_incident`` (see the module's docstring)."""
    severity = rule["severity"]
    found = open_incidents(ctx.session, ctx.version.id, severity=severity)
    worse = "" if severity == "critical" else " or worse"
    threshold = f"no open {severity}{worse} incident"
    name = ctx.version.model.name
    evidence: dict[str, object] = {
        "type": "alerts",
        "ids": [incident.id for incident in found],
        "link": f"/api/v1/alerts?model={name}&status=open",
    }
    if not found:
        return rule_result(
            rule,
            PASS,
            f"No {severity}{worse} incident is open on v{ctx.version.version}.",
            threshold=threshold,
            observed=0,
            evidence=evidence,
        )
    listed = ", ".join(f"#{i.id} {i.check} of {i.subject} ({i.severity})" for i in found[:5])
    return rule_result(
        rule,
        FAIL,
        f"{len(found)} {severity}{worse} incidents are open on v{ctx.version.version}: {listed}.",
        threshold=threshold,
        observed=len(found),
        evidence=evidence,
    )
