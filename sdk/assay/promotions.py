"""Promotions in the SDK: the approval gate, stage history, rollbacks, compliance reports.

:class:`PromotionMethods` is mixed into :class:`assay.Client`; ``assay gate check`` calls it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, overload

from assay._dates import iso_utc
from assay._http import ServerCalls
from assay._json import FreeForm, JSONObject, json_objects
from assay._paths import ModelRef, VersionRef, model_name, model_path, version_path

__all__ = [
    "Decision",
    "GateStatus",
    "PromotionMethods",
    "PromotionRequest",
    "Rollback",
    "RuleResult",
    "StageHistoryEntry",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: ``pass``, ``fail`` or ``missing_evidence``, and what it read."""

    policy: str
    id: str
    check: str
    status: str
    observed: object
    threshold: object
    message: str
    evidence: FreeForm | None

    @classmethod
    def from_json(cls, data: object) -> RuleResult:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rule result")
        return cls(
            policy=read.text_or_empty("policy"),
            id=read.text("id"),
            check=read.text("check"),
            status=read.text("status"),
            observed=read.raw("observed"),
            threshold=read.raw("threshold"),
            message=read.text_or_empty("message"),
            evidence=read.optional_free_form("evidence"),
        )

    def describe(self) -> str:
        """One line for people: policy/rule, status, observed against threshold."""
        return (
            f"{self.policy}/{self.id} [{self.check}] {self.status}: observed "
            f"{self.observed!r}, threshold {self.threshold} — {self.message}"
        )


@dataclass(frozen=True)
class Decision:
    """One approver's approval or rejection."""

    approver: str
    decision: str
    comment: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> Decision:
        """Build from the server's JSON."""
        read = JSONObject(data, "a decision")
        return cls(
            approver=read.text("approver"),
            decision=read.text("decision"),
            comment=read.text_or_empty("comment"),
            created_at=read.moment("created_at"),
        )


@dataclass(frozen=True)
class PromotionRequest:
    """A request to move a version to a stage, or to point a governed alias at it (``stage``
    is then None and ``alias`` names it): status, evaluation, decisions."""

    id: int
    model: str
    version: int
    stage: str | None
    reason: str
    status: str
    required_approvals: int
    approvals: int
    requested_by: str
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    failing_rules: tuple[RuleResult, ...]
    evaluation: FreeForm
    decisions: tuple[Decision, ...]
    alias: str | None = None

    @property
    def target(self) -> str:
        """What the request moves the version to, in words: ``production``, ``alias champion``."""
        return f"alias {self.alias}" if self.alias is not None else str(self.stage)

    @classmethod
    def from_json(cls, data: object) -> PromotionRequest:
        """Build from the server's JSON."""
        read = JSONObject(data, "a promotion request")
        return cls(
            id=read.integer("id"),
            model=read.text("model"),
            version=read.integer("version"),
            stage=read.optional_text("stage"),
            alias=read.optional_text("alias"),
            reason=read.text_or_empty("reason"),
            status=read.text("status"),
            required_approvals=read.integer("required_approvals"),
            approvals=read.integer("approvals"),
            requested_by=read.text("requested_by"),
            created_at=read.moment("created_at"),
            updated_at=read.moment("updated_at"),
            decided_at=read.optional_moment("decided_at"),
            failing_rules=tuple(RuleResult.from_json(r) for r in read.nested_list("failing_rules")),
            evaluation=read.free_form("evaluation"),
            decisions=tuple(Decision.from_json(d) for d in read.nested_list("decisions")),
        )


@dataclass(frozen=True)
class GateStatus:
    """The gate's answer: ``passed`` once the version holds the stage (or, for a gate of an
    alias, once the alias names the version: ``stage`` is then None); else why not."""

    model: str
    version: int
    stage: str | None
    current_stage: str
    passed: bool
    status: str
    promotion_id: int | None
    approvals: int
    required_approvals: int
    failing_rules: tuple[RuleResult, ...]
    evaluation: FreeForm
    alias: str | None = None

    @property
    def target(self) -> str:
        """What the gate guards, in words: ``production``, ``alias champion``."""
        return f"alias {self.alias}" if self.alias is not None else str(self.stage)

    @classmethod
    def from_json(cls, data: object) -> GateStatus:
        """Build from the server's JSON."""
        read = JSONObject(data, "the gate's answer")
        return cls(
            model=read.text("model"),
            version=read.integer("version"),
            stage=read.optional_text("stage"),
            alias=read.optional_text("alias"),
            current_stage=read.text("current_stage"),
            passed=read.flag("passed"),
            status=read.text("status"),
            promotion_id=read.optional_integer("promotion_id"),
            approvals=read.count("approvals"),
            required_approvals=read.count("required_approvals"),
            failing_rules=tuple(RuleResult.from_json(r) for r in read.nested_list("failing_rules")),
            evaluation=read.free_form("evaluation"),
        )


@dataclass(frozen=True)
class StageHistoryEntry:
    """A version's stay in a stage; ``left_at`` is None while it is still there."""

    version: int
    stage: str
    entered_at: datetime
    left_at: datetime | None
    entered_by: str
    comment: str | None

    @classmethod
    def from_json(cls, data: object) -> StageHistoryEntry:
        """Build from the server's JSON."""
        read = JSONObject(data, "a stage history entry")
        return cls(
            version=read.integer("version"),
            stage=read.text("stage"),
            entered_at=read.moment("entered_at"),
            left_at=read.optional_moment("left_at"),
            entered_by=read.text_or_empty("entered_by"),
            comment=read.optional_text("comment"),
        )


@dataclass(frozen=True)
class Rollback:
    """What a rollback did, and how the policies judge the restored version."""

    model: str
    stage: str
    from_versions: tuple[int, ...]
    to_version: int
    reason: str
    evaluation: FreeForm

    @classmethod
    def from_json(cls, data: object) -> Rollback:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollback")
        return cls(
            model=read.text("model"),
            stage=read.text("stage"),
            from_versions=tuple(read.integers("from_versions")),
            to_version=read.integer("to_version"),
            reason=read.text("reason"),
            evaluation=read.free_form("evaluation"),
        )


class PromotionMethods(ServerCalls):
    """Promotion requests, the gate, stage history and rollbacks (mixed into Client)."""

    def request_promotion(
        self,
        model: ModelRef,
        version: VersionRef,
        stage: str | None = None,
        reason: str = "",
        *,
        alias: str | None = None,
        rollout: bool = False,
    ) -> PromotionRequest:
        """Ask to move a version to ``staging`` or ``production``, or to point a governed
        ``alias`` (``alias="champion"``) at it (contributor); give a stage or an alias.

        The policies are evaluated at once (for an alias: the policies that govern it): the
        request is ``blocked`` (a rule fails or lacks evidence), ``pending_approval``, or
        already ``approved`` if no approval is needed. Once approved, the version moves, or
        the alias names it. With ``rollout=True`` (to production), once approved the version
        waits for a phased rollout (:meth:`~assay.rollouts.RolloutMethods.start_rollout`)
        instead of moving.
        """
        path = version_path(model, version) + "/promotions"
        target: dict[str, object] = {"stage": stage} if alias is None else {"alias": alias}
        if alias is not None and stage is not None:
            target["stage"] = stage  # the server refuses both, saying so
        if rollout:
            target["rollout"] = True
        body = self._transport.json("POST", path, json={**target, "reason": reason})
        return PromotionRequest.from_json(body)

    def get_promotion(self, promotion_id: int) -> PromotionRequest:
        """One promotion request."""
        body = self._transport.json("GET", f"/promotions/{int(promotion_id)}")
        return PromotionRequest.from_json(body)

    def list_promotions(
        self,
        *,
        model: ModelRef | None = None,
        version: int | None = None,
        stage: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> list[PromotionRequest]:
        """Promotion requests, newest first; filter by model, version, stage, status, or the
        governed alias they would point (``alias="champion"``)."""
        params = {
            "model": None if model is None else model_name(model),
            "version": version,
            "stage": stage,
            "alias": alias,
            "status": status,
        }
        return [PromotionRequest.from_json(item) for item in self._pages("/promotions", params)]

    def approve(self, promotion_id: int, comment: str = "") -> PromotionRequest:
        """Approve (approver). Neither the requester nor the version's registrant may.

        Raises PermissionDenied (separation of duties) or Conflict (blocked, decided, or
        the policies no longer pass).
        """
        return self._decide(promotion_id, "approve", comment)

    def reject(self, promotion_id: int, comment: str) -> PromotionRequest:
        """Reject a request, saying why (approver); a rejected request is final."""
        return self._decide(promotion_id, "reject", comment)

    def evaluate_promotion(self, promotion_id: int) -> PromotionRequest:
        """Re-evaluate an open request now, e.g. once the missing evidence was logged."""
        path = f"/promotions/{int(promotion_id)}/evaluate"
        return PromotionRequest.from_json(self._transport.json("POST", path))

    def cancel_promotion(self, promotion_id: int, comment: str = "") -> PromotionRequest:
        """Withdraw an open request (its requester, or an admin)."""
        return self._decide(promotion_id, "cancel", comment)

    def gate(
        self,
        model: ModelRef,
        version: VersionRef,
        stage: str | None = None,
        *,
        alias: str | None = None,
    ) -> GateStatus:
        """May ``version`` go to ``stage`` (or may ``alias`` name it: ``alias="champion"``)?
        What ``assay gate check`` asks; give a stage or an alias."""
        path = version_path(model, version) + "/gate"
        params = {"stage": stage, "alias": alias}  # the server refuses both, or neither
        return GateStatus.from_json(self._transport.json("GET", path, params=params))

    def stage_history(
        self, model: ModelRef, at: datetime | str | None = None, stage: str | None = None
    ) -> list[StageHistoryEntry]:
        """Which version held which stage, from when to when; ``at`` = only what held then
        (a datetime or ISO 8601 string; without a timezone it is UTC)."""
        params = {"at": None if at is None else iso_utc(at), "stage": stage}
        body = self._transport.json("GET", model_path(model) + "/stage-history", params=params)
        return [StageHistoryEntry.from_json(e) for e in json_objects(body, "stage history")]

    def rollback(self, model: ModelRef, stage: str, to_version: int, reason: str) -> Rollback:
        """Move ``stage`` back to a version that held it before (approver; reason required)."""
        body = {"stage": stage, "to_version": int(to_version), "reason": reason}
        answer = self._transport.json("POST", model_path(model) + "/rollback", json=body)
        return Rollback.from_json(answer)

    @overload
    def compliance_report(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        format: Literal["html"] = "html",
        path: None = None,
    ) -> str: ...
    @overload
    def compliance_report(
        self, model: ModelRef, version: VersionRef, *, format: Literal["json"], path: None = None
    ) -> FreeForm: ...
    @overload
    def compliance_report(
        self, model: ModelRef, version: VersionRef, *, format: str = "html", path: PathLike
    ) -> Path: ...
    def compliance_report(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        format: str = "html",
        path: PathLike | None = None,
    ) -> str | FreeForm | Path:
        """The version's compliance report: HTML text, or the JSON bundle (``format="json"``).

        With ``path`` the report is written there and the path returned.
        """
        url = version_path(model, version) + "/compliance-report"
        response = self._transport.request("GET", url, params={"format": format})
        if path is not None:
            Path(path).write_bytes(response.content)
            return Path(path)
        if format == "json":
            return JSONObject(response.json(), "the compliance report").as_dict()
        return response.text

    def _decide(self, promotion_id: int, action: str, comment: str) -> PromotionRequest:
        path = f"/promotions/{int(promotion_id)}/{action}"
        body = self._transport.json("POST", path, json={"comment": comment})
        return PromotionRequest.from_json(body)
