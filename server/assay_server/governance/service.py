"""Policies: apply and version policy files, and read the ones in force."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import NotFound, ValidationFailed
from .models import Policy, PolicyVersion
from .policies import PolicyFile, bundled_policies, validate_policies


@dataclass(frozen=True)
class AppliedPolicy:
    """What applying one file did: ``created``, ``updated`` (a new version) or ``unchanged``."""

    name: str
    version: int
    status: str
    filename: str
    sha256: str


class PolicyService:
    """Apply policy files (a changed file makes a new version) and read them back."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def apply(self, files: list[PolicyFile]) -> list[AppliedPolicy]:
        """Validate every file, then store each new or changed policy as a new version.

        Nothing is stored when any file has an error: the errors of all files are listed.
        """
        if not files:
            raise ValidationFailed("", details={"files": ["Send at least one policy file."]})
        parsed = validate_policies(files)
        now = self.ctx.clock()
        applied: list[AppliedPolicy] = []
        for item in parsed:
            policy = self.session.scalar(
                select(Policy).where(Policy.name == item.name).with_for_update()
            )
            if policy is None:
                policy = Policy(name=item.name, current_version=0, created_at=now, updated_at=now)
                self.session.add(policy)
                self.session.flush()
            elif policy.current.sha256 == item.file.sha256:
                applied.append(
                    AppliedPolicy(
                        item.name,
                        policy.current_version,
                        "unchanged",
                        item.file.filename,
                        item.file.sha256,
                    )
                )
                continue
            status = "created" if policy.current_version == 0 else "updated"
            policy.current_version += 1
            policy.updated_at = now
            self.session.add(
                PolicyVersion(
                    policy=policy,
                    version=policy.current_version,
                    sha256=item.file.sha256,
                    filename=item.file.filename[:255],
                    source=item.file.source,
                    document=item.document,
                    created_at=now,
                    created_by=self.ctx.actor.name,
                )
            )
            self.session.flush()
            AuditTrail(self.session, self.ctx).append(
                "policy.applied",
                "policy",
                item.name,
                {
                    "version": policy.current_version,
                    "sha256": item.file.sha256,
                    "filename": item.file.filename,
                    "rules": [r["id"] for r in item.document["rules"]],
                },
            )
            applied.append(
                AppliedPolicy(
                    item.name,
                    policy.current_version,
                    status,
                    item.file.filename,
                    item.file.sha256,
                )
            )
        return applied

    def load_bundled_if_empty(self) -> list[AppliedPolicy]:
        """On first start (no policy stored yet), apply the packs shipped with the server."""
        if self.session.scalar(select(func.count()).select_from(Policy)):
            return []
        return self.apply(bundled_policies())

    def list(self) -> list[Policy]:
        """Every policy, by name, with its current version."""
        return list(
            self.session.scalars(
                select(Policy).options(joinedload(Policy.versions)).order_by(Policy.name)
            ).unique()
        )

    def get(self, name: str) -> Policy:
        """One policy by name."""
        policy = self.session.scalar(select(Policy).where(Policy.name == name))
        if policy is None:
            raise NotFound(f"No policy named {name!r}.")
        return policy

    def versions(self, name: str) -> builtins.list[PolicyVersion]:
        """Every version of a policy, oldest first."""
        return list(self.get(name).versions)

    def in_force(self) -> builtins.list[PolicyVersion]:
        """The current version of every policy."""
        return [policy.current for policy in self.list()]
