"""Roles, ranked, and the actor a service acts for."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(str, enum.Enum):
    """A token's role; each includes the ones ranked below it."""

    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the ranking: viewer 0 … admin 3."""
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True when this role may do what ``required`` may."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.CONTRIBUTOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}

ROLE_NAMES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a token (id, name, role) or a local operator at the CLI (no token id)."""

    name: str
    role: Role
    token_id: int | None = None

    @classmethod
    def cli(cls, name: str = "cli") -> Actor:
        """The operator running ``assay-server`` on the server machine: full rights."""
        return cls(name=name, role=Role.ADMIN, token_id=None)
