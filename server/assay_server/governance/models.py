"""Versioned policies, promotion requests with their decisions and evaluations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..registry.models import ModelVersion, RegisteredModel
from .policies import PolicyDocument
from .verdicts import Evaluation, FailingRule, failing_rules


class PromotionStatus(str, enum.Enum):
    """Where a promotion request stands; ``overridden``: an admin moved the version directly,
    past the policies and approvals (the request records that override)."""

    BLOCKED = "blocked"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    OVERRIDDEN = "overridden"


OPEN_STATUSES = frozenset({PromotionStatus.BLOCKED.value, PromotionStatus.PENDING_APPROVAL.value})


class Policy(Base):
    """A named policy; its content lives in its versions, the newest one in force."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    versions: Mapped[list[PolicyVersion]] = relationship(
        back_populates="policy", order_by="PolicyVersion.version"
    )

    @property
    def current(self) -> PolicyVersion:
        """The version in force."""
        return next(v for v in self.versions if v.version == self.current_version)

    @property
    def description(self) -> str:
        """The current version's description."""
        return str(self.current.document.get("description", ""))


class PolicyVersion(Base):
    """One applied content of a policy: the YAML as sent, and the validated document."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    document: Mapped[PolicyDocument] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))

    policy: Mapped[Policy] = relationship(back_populates="versions")

    @property
    def name(self) -> str:
        """The policy's name."""
        return self.policy.name


class PromotionRequest(Base):
    """A request to move a version to a stage, or a governed alias to a version; its latest
    evaluation and its decisions.

    A request targets exactly one of ``stage`` and ``alias``. ``owner_at_request`` is the
    model's owner when the request was opened: independent validation
    (``independent_of_owner``) judges approvers against it, not only against whoever owns the
    model when they approve.
    """

    __tablename__ = "promotion_requests"
    __table_args__ = (CheckConstraint("(stage IS NULL) <> (alias IS NULL)", name="stage_or_alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    stage: Mapped[str | None] = mapped_column(String(16))
    # a governed alias the request moves to the version (registry/aliases.py), instead of a stage
    alias: Mapped[str | None] = mapped_column(String(63))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    required_approvals: Mapped[int]
    evaluation: Mapped[Evaluation] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_token_id: Mapped[int | None]
    owner_at_request: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    #: approved to production, the version waits for a phased rollout (governance/rollouts.py)
    rollout: Mapped[bool] = mapped_column(default=False, server_default=false())

    model: Mapped[RegisteredModel] = relationship()
    version: Mapped[ModelVersion] = relationship()
    decisions: Mapped[list[PromotionDecision]] = relationship(
        back_populates="request", order_by="PromotionDecision.id"
    )

    @property
    def model_name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def version_number(self) -> int:
        """The version's number."""
        return self.version.version

    @property
    def target(self) -> str:
        """What the request moves the version to, in words: ``production``, ``alias champion``."""
        return f"alias {self.alias}" if self.alias is not None else str(self.stage)

    @property
    def approvals(self) -> int:
        """How many approvals were given."""
        return sum(1 for d in self.decisions if d.decision == "approve")

    @property
    def failing_rules(self) -> list[FailingRule]:
        """The rules of the latest evaluation that did not pass."""
        return failing_rules(self.evaluation)


class PromotionDecision(Base):
    """One approver's approval or rejection; one per approver per request."""

    __tablename__ = "promotion_decisions"
    __table_args__ = (UniqueConstraint("request_id", "approver"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"), index=True)
    approver: Mapped[str] = mapped_column(String(100))
    approver_token_id: Mapped[int | None]
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    request: Mapped[PromotionRequest] = relationship(back_populates="decisions")


class PolicyEvaluationRecord(Base):
    """Every evaluation of a request, kept: which policy versions judged it, with what evidence."""

    __tablename__ = "policy_evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    result: Mapped[Evaluation] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
