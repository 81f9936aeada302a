"""Judging a version for a stage, or for a governed alias: every policy in force that applies
to it (for an alias: that governs the alias), rule by rule, and the approvals the strictest of
them asks for."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT
from ..registry.models import ModelVersion
from ..roles import Role
from .evidence import EvidenceContext
from .policies import PolicyDocument, applies, governs
from .rules import evaluate_rule
from .service import PolicyService
from .verdicts import DEFAULT_APPROVALS, Approvals, Evaluation, PolicyVerdict, outcome_of


def evaluate_version(
    session: Session,
    ctx: ServiceContext,
    version: ModelVersion,
    stage: str | None,
    *,
    alias: str | None = None,
) -> Evaluation:
    """Judge ``version`` for ``stage`` against every policy in force that applies to it; or,
    with ``alias`` (and no stage), for pointing that alias at it, against every policy in
    force that governs the alias for the model."""
    now = ctx.clock()
    evidence = EvidenceContext(session, version, now, ctx.evidence)
    policies: list[PolicyVerdict] = []
    for policy_version in PolicyService(session, ctx).in_force():
        document = policy_version.document
        if alias is not None:
            if not governs(document, model=version.model, alias=alias):
                continue
        elif stage is None or not applies(
            document, model=version.model, version=version, stage=stage
        ):
            continue
        rules = [evaluate_rule(evidence, rule) for rule in document["rules"]]
        policies.append(
            {
                "name": policy_version.name,
                "version": policy_version.version,
                "policy_version_id": policy_version.id,
                "status": outcome_of(rules),
                "rules": rules,
                "approvals": approvals_of(document),
            }
        )
    return {
        "outcome": outcome_of(policies),
        "evaluated_at": now.strftime(TIMESTAMP_FORMAT),
        "stage": stage,
        "alias": alias,
        "policies": policies,
        "approvals": approvals_needed(policies),
    }


def approvals_of(document: PolicyDocument) -> Approvals:
    """The approvals a policy asks for; what it leaves out, the default."""
    stated = document.get("approvals") or {}
    return {
        "required": stated.get("required", DEFAULT_APPROVALS["required"]),
        "role": stated.get("role", DEFAULT_APPROVALS["role"]),
        "separation_of_duties": stated.get(
            "separation_of_duties", DEFAULT_APPROVALS["separation_of_duties"]
        ),
        "independent_of_owner": stated.get(
            "independent_of_owner", DEFAULT_APPROVALS["independent_of_owner"]
        ),
        "overrides_pass": stated.get("overrides_pass", DEFAULT_APPROVALS["overrides_pass"]),
    }


def approvals_needed(policies: list[PolicyVerdict]) -> Approvals:
    """The strictest of the applicable policies' approval rules (one approver if none).

    An override passes the gate only when every applicable policy lets it; with no policy
    applicable there is nothing to override, so it does.
    """
    if not policies:
        return {**DEFAULT_APPROVALS, "overrides_pass": True}
    rules = [p["approvals"] for p in policies]
    return {
        "required": max(r["required"] for r in rules),
        "role": Role.ADMIN.value
        if any(r["role"] == Role.ADMIN.value for r in rules)
        else Role.APPROVER.value,
        # Separation of duties is the system's rule; a policy cannot switch it off.
        "separation_of_duties": True,
        "independent_of_owner": any(r["independent_of_owner"] for r in rules),
        "overrides_pass": all(r["overrides_pass"] for r in rules),
    }
