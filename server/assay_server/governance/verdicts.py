"""What an evaluation says: each rule's result, each policy's verdict, the outcome, and the
approvals a promotion then needs.

An evaluation is stored as JSON on its promotion request and in every evaluation record, and
served as it is (``evaluation``, ``failing_rules`` of a request, the gate's answer), so these
shapes are the API's too. Nothing here reads the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, TypedDict

from ..roles import Role

if TYPE_CHECKING:
    from typing_extensions import NotRequired

RuleStatus = Literal["pass", "fail", "missing_evidence"]
PASS: Final = "pass"
FAIL: Final = "fail"
MISSING: Final = "missing_evidence"

#: A policy's verdict, and an evaluation's outcome: every rule passed, or not.
Outcome = Literal["pass", "blocked"]


class RuleResult(TypedDict):
    """One rule judged: its status, what was observed against what threshold, and where the
    evidence is (``evidence``: its type, a link, and what else its source tells)."""

    id: str
    check: str
    status: RuleStatus
    observed: object
    threshold: str
    message: str
    evidence: dict[str, object] | None


class Approvals(TypedDict):
    """How many approvals a promotion needs, from which role, from whom; and whether an
    admin's override of the gate passes it (``overrides_pass``)."""

    required: int
    role: str
    separation_of_duties: bool
    independent_of_owner: bool
    overrides_pass: bool


#: What a policy that says nothing about approvals asks, and what a promotion no policy
#: applies to needs (though with no policy to override, an override passes: see
#: :func:`~assay_server.governance.evaluation.approvals_needed`).
DEFAULT_APPROVALS: Final[Approvals] = {
    "required": 1,
    "role": Role.APPROVER.value,
    "separation_of_duties": True,
    "independent_of_owner": False,
    "overrides_pass": False,
}


class PolicyVerdict(TypedDict):
    """One policy version's judgement of a version: its rules' results and its approvals."""

    name: str
    version: int
    policy_version_id: int
    status: Outcome
    rules: list[RuleResult]
    approvals: Approvals


class Evaluation(TypedDict):
    """A version judged for a stage (or for a governed alias: ``alias`` set, ``stage`` None)
    by every policy in force that applies to it."""

    outcome: Outcome
    evaluated_at: str
    stage: str | None
    alias: NotRequired[str | None]  # absent from evaluations stored before alias promotions
    policies: list[PolicyVerdict]
    approvals: Approvals


class FailingRule(RuleResult):
    """A rule that did not pass, with the policy version that holds it."""

    policy: str
    policy_version: int


class PolicySummary(TypedDict):
    """Which policy version judged, and how: for audit payloads."""

    name: str
    version: int
    status: Outcome


def outcome_of(results: list[RuleResult] | list[PolicyVerdict]) -> Outcome:
    """``pass`` when every result passed (none at all: pass), else ``blocked``."""
    return "pass" if all(result["status"] == PASS for result in results) else "blocked"


def failing_rules(evaluation: Evaluation) -> list[FailingRule]:
    """The rules of an evaluation that did not pass, each with its policy and version."""
    return [
        {"policy": policy["name"], "policy_version": policy["version"], **rule}
        for policy in evaluation.get("policies", [])
        for rule in policy["rules"]
        if rule["status"] != PASS
    ]


def failing_rule_names(evaluation: Evaluation) -> list[str]:
    """``policy/rule`` of each rule that did not pass: for audit payloads."""
    return [f"{rule['policy']}/{rule['id']}" for rule in failing_rules(evaluation)]


def policy_summary(evaluation: Evaluation) -> list[PolicySummary]:
    """Which policy versions judged, and how: for audit payloads."""
    return [
        {"name": p["name"], "version": p["version"], "status": p["status"]}
        for p in evaluation["policies"]
    ]


def overrides_pass(evaluation: Evaluation) -> bool:
    """True when the policies that judged ``evaluation`` let an admin's override pass the
    gate (an evaluation stored before overrides existed says no)."""
    approvals = evaluation.get("approvals") or DEFAULT_APPROVALS
    return bool(approvals.get("overrides_pass", False))


def describe(failing: list[FailingRule]) -> str:
    """The failing rules in a sentence: ``policy/rule (status); …``."""
    return "; ".join(f"{r['policy']}/{r['id']} ({r['status']})" for r in failing)


def rule_result(
    rule: Mapping[str, object],
    status: RuleStatus,
    message: str,
    *,
    threshold: str,
    observed: object = None,
    evidence: dict[str, object] | None = None,
) -> RuleResult:
    """One rule's result, as every rule kind reports it."""
    return {
        "id": str(rule["id"]),
        "check": str(rule["check"]),
        "status": status,
        "observed": observed,
        "threshold": threshold,
        "message": message,
        "evidence": evidence,
    }
