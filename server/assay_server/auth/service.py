"""Token rules: issue (shown once), authenticate in constant time, revoke, list."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import AuthenticationRequired, NotFound, PermissionDenied, ValidationFailed
from ..roles import Actor, Role
from .models import Token

TOKEN_PREFIX = "asy_"
TOKEN_BYTES = 32
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 32 bytes are at most 43 base62 digits; padding keeps every token the same length.
_TOKEN_DIGITS = 43


def new_token_secret() -> str:
    """``asy_`` followed by 32 random bytes written in base62."""
    number = int.from_bytes(secrets.token_bytes(TOKEN_BYTES), "big")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return TOKEN_PREFIX + "".join(reversed(digits)).rjust(_TOKEN_DIGITS, "0")


def hash_token(secret: str) -> str:
    """SHA-256 of the token, hex: the only form in which a token is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the stored row and the secret, which is never shown again."""

    token: Token
    secret: str


def authenticate(session: Session, secret: str | None, now: datetime) -> Actor:
    """The actor for a bearer token, or :class:`AuthenticationRequired`."""
    if not secret:
        raise AuthenticationRequired("Missing API token: send 'Authorization: Bearer asy_…'.")
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationRequired("Invalid API token.")
    digest = hash_token(secret)
    token = session.scalar(select(Token).where(Token.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise AuthenticationRequired("Invalid API token.")
    if token.revoked_at is not None:
        raise AuthenticationRequired("This API token has been revoked.")
    if not token.is_active(now):
        raise AuthenticationRequired("This API token has expired.")
    return Actor(name=token.name, role=Role(token.role), token_id=token.id)


class TokenService:
    """Issue, list and revoke tokens; every change is audited."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)

    @property
    def _clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    def count(self) -> int:
        """How many tokens were ever issued (revoked ones included)."""
        return self.session.scalar(select(func.count()).select_from(Token)) or 0

    def create(
        self, name: str, role: Role | str, *, expires_days: float | None = None
    ) -> IssuedToken:
        """Issue a token; only an admin may, and the secret is returned this once."""
        self._require_admin()
        role = Role(role)
        if expires_days is not None and expires_days <= 0:
            raise ValidationFailed("", details={"expires_days": ["Must be greater than 0."]})
        now = self._clock()
        secret = new_token_secret()
        token = Token(
            name=name,
            role=role.value,
            token_hash=hash_token(secret),
            display_prefix=secret[:8],
            last_four=secret[-4:],
            created_at=now,
            created_by=self.ctx.actor.name,
            expires_at=now + timedelta(days=expires_days) if expires_days else None,
        )
        self.session.add(token)
        self.session.flush()
        self.audit.append(
            "token.created",
            "token",
            str(token.id),
            {
                "name": name,
                "role": role.value,
                "display": f"{token.display_prefix}…{token.last_four}",
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            },
        )
        return IssuedToken(token=token, secret=secret)

    def list(self) -> list[Token]:
        """Every token, newest first; secrets are not stored, so never listed."""
        self._require_admin()
        return list(self.session.scalars(select(Token).order_by(Token.id.desc())))

    def get(self, token_id: int) -> Token:
        """One token by id."""
        token = self.session.get(Token, token_id)
        if token is None:
            raise NotFound(f"No token with id {token_id}.")
        return token

    def find(self, id_or_name: str) -> Token:
        """A token by id, or by name when exactly one active token has it."""
        if id_or_name.isdigit():
            return self.get(int(id_or_name))
        matches = list(
            self.session.scalars(
                select(Token).where(Token.name == id_or_name, Token.revoked_at.is_(None))
            )
        )
        if not matches:
            raise NotFound(f"No active token named {id_or_name!r}.")
        if len(matches) > 1:
            ids = ", ".join(str(t.id) for t in matches)
            raise ValidationFailed(
                f"Several active tokens are named {id_or_name!r} (ids {ids}); revoke by id."
            )
        return matches[0]

    def revoke(self, token_id: int) -> Token:
        """Revoke a token; revoking twice changes nothing and writes no second event."""
        self._require_admin()
        token = self.get(token_id)
        if token.revoked_at is None:
            token.revoked_at = self._clock()
            token.revoked_by = self.ctx.actor.name
            self.session.flush()
            self.audit.append(
                "token.revoked", "token", str(token.id), {"name": token.name, "role": token.role}
            )
        return token

    def _require_admin(self) -> None:
        if not self.ctx.actor.role.allows(Role.ADMIN):
            raise PermissionDenied("Only an admin may manage tokens.")
