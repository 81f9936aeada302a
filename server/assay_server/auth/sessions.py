"""The UI's sign-in sessions: started from an API token, resumed on every page, ended at sign-out.

The browser's cookie holds a random session id, never the token; the store holds only the id's
SHA-256. Every page resumes the session and checks its token again, so revoking the token (or
its expiry) ends the session at once; signing out ends it in the store, so a copy of the cookie
made earlier signs nobody in afterwards. A session also ends after
``ASSAY_UI_SESSION_IDLE_MINUTES`` without a page, and ``ASSAY_UI_SESSION_HOURS`` after sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import AuthenticationRequired, PermissionDenied
from ..roles import Actor, Role
from ..settings import Settings
from .models import Token, UiSession

SESSION_ID_BYTES = 32
# last_seen_at is written at most once a minute per browser, not on every page: a page view
# stays a read (on SQLite a write takes the store's one write lock)
TOUCH_EVERY = timedelta(minutes=1)


def hash_session_id(session_id: str) -> str:
    """SHA-256 of a session id, hex: the only form in which one is stored."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StartedSession:
    """A session just started: its row, and the id for the cookie (never stored)."""

    session: UiSession
    session_id: str


@dataclass(frozen=True)
class ResumedSession:
    """Who a live session acts for; ``stale`` when its last use should be recorded."""

    actor: Actor
    stale: bool


def resume(
    session: Session, session_id: str | None, now: datetime, settings: Settings
) -> ResumedSession:
    """The live session ``session_id`` names, its token checked again at ``now``; else
    :class:`AuthenticationRequired` saying why not."""
    if not session_id:
        raise AuthenticationRequired("Sign in with an API token.")
    found = session.execute(
        select(UiSession, Token)
        .join(Token, UiSession.token_id == Token.id)
        .where(UiSession.session_hash == hash_session_id(session_id))
    ).first()
    if found is None:
        raise AuthenticationRequired("Your session is unknown; sign in again.")
    ui_session, token = found
    if ui_session.ended_at is not None:
        raise AuthenticationRequired("You signed out; sign in again.")
    if now >= ui_session.expires_at:
        raise AuthenticationRequired("Your session has expired; sign in again.")
    if now >= ui_session.last_seen_at + timedelta(minutes=settings.ui_session_idle_minutes):
        raise AuthenticationRequired("Your session was idle too long; sign in again.")
    if token.revoked_at is not None:
        raise AuthenticationRequired("The token of your session has been revoked.")
    if not token.is_active(now):
        raise AuthenticationRequired("The token of your session has expired.")
    actor = Actor(name=token.name, role=Role(token.role), token_id=token.id)
    return ResumedSession(actor=actor, stale=now - ui_session.last_seen_at >= TOUCH_EVERY)


def touch(session: Session, session_id: str, now: datetime) -> None:
    """Record that a live session was used at ``now`` (what its idle lifetime counts from)."""
    session.execute(
        update(UiSession)
        .where(
            UiSession.session_hash == hash_session_id(session_id),
            UiSession.ended_at.is_(None),
            UiSession.last_seen_at < now,
        )
        .values(last_seen_at=now)
    )


class UiSessionService:
    """Start and end sign-in sessions for the context's actor; both are audited."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)

    def start(self) -> StartedSession:
        """A new session for the actor's token, lasting at most ``ASSAY_UI_SESSION_HOURS``."""
        token_id = self.ctx.actor.token_id
        if token_id is None:
            raise PermissionDenied("Only an API token signs in to the UI.")
        now = self.ctx.clock()
        # rows past their absolute lifetime can never be used again: they go as new ones come
        self.session.execute(delete(UiSession).where(UiSession.expires_at <= now))
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        ui_session = UiSession(
            session_hash=hash_session_id(session_id),
            token_id=token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=self.ctx.settings.ui_session_hours),
        )
        self.session.add(ui_session)
        self.session.flush()
        self.audit.append(
            "ui_session.signed_in",
            "ui_session",
            str(ui_session.id),
            {
                "token_id": token_id,
                "expires_at": ui_session.expires_at.isoformat(),
                "idle_minutes": self.ctx.settings.ui_session_idle_minutes,
            },
        )
        return StartedSession(session=ui_session, session_id=session_id)

    def end(self, session_id: str) -> UiSession | None:
        """End the session (signing out); None when there is no such session or it has ended."""
        ui_session = self.session.scalar(
            select(UiSession).where(UiSession.session_hash == hash_session_id(session_id))
        )
        if ui_session is None or ui_session.ended_at is not None:
            return None
        ui_session.ended_at = self.ctx.clock()
        self.session.flush()
        self.audit.append(
            "ui_session.signed_out",
            "ui_session",
            str(ui_session.id),
            {"token_id": ui_session.token_id, "signed_in_at": ui_session.created_at.isoformat()},
        )
        return ui_session
