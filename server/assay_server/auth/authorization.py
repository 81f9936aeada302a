"""The hook that enforces what each route declares (see ``assay_server.access``).

It runs before any argument parsing, so a caller without a token learns nothing about the
body it sent. The API authenticates the bearer token alone; a page takes a bearer token too,
else the UI session its cookie names (``auth.sessions``). A cookie never opens the API.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..access import PUBLIC, required_role_for, view_handler
from ..errors import AuthenticationRequired, PermissionDenied
from ..request_scope import database, settings
from ..roles import Actor, Role
from .service import authenticate
from .sessions import resume, touch

#: The key of the UI session's id in the (signed) session cookie.
SESSION_KEY = "ui_session"


def bearer_token() -> str | None:
    """The request's ``Authorization: Bearer …`` credential, if it sends one."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _return_to() -> str:
    """Where to come back after signing in: this page, or for a form post the page it was
    posted from (the post itself cannot be replayed by a redirect)."""
    if request.method == "GET":
        return request.full_path
    referrer = urlparse(request.referrer or "")
    same_site = referrer.netloc in ("", request.host)
    return referrer.path if same_site and referrer.path.startswith("/") else "/"


def _authorize() -> Response | None:
    if request.url_rule is None or request.method == "OPTIONS":
        return None  # unknown route (404) or method (405): the error handler answers
    rule = required_role_for(current_app, request.endpoint, request.method)
    if rule == PUBLIC:
        return None
    view = view_handler(current_app, request.endpoint or "", request.method)
    is_page = getattr(view, "browser_page", False)
    bearer = bearer_token()
    try:
        g.actor = _by_ui_session() if is_page and not bearer else _by_token(bearer)
    except AuthenticationRequired as exc:
        if is_page:
            ended = bool(session.get(SESSION_KEY))
            session.clear()  # and with it a token an older version kept in the cookie
            if ended:
                flash(exc.message, "error")
            return redirect(url_for("web.login", next=_return_to()))
        raise
    if not isinstance(rule, Role):
        raise PermissionDenied("This route declares no authorization rule.")
    if not g.actor.role.allows(rule):
        raise PermissionDenied(
            f"This needs the {rule.value} role; the token {g.actor.name!r} "
            f"has {g.actor.role.value}."
        )
    return None


def _by_token(secret: str | None) -> Actor:
    # A short read of its own: the request's session (for writes on SQLite, the write lock)
    # is opened only when the view needs it, after a slow upload has arrived.
    with database().unit_of_work(write=False) as lookup:
        return authenticate(lookup, secret, current_app.extensions["assay_clock"]())


def _by_ui_session() -> Actor:
    session_id = session.get(SESSION_KEY)
    now = current_app.extensions["assay_clock"]()
    with database().unit_of_work(write=False) as lookup:
        resumed = resume(lookup, session_id, now, settings())
    if resumed.stale and session_id:
        with database().unit_of_work() as writer:
            touch(writer, session_id, now)
    return resumed.actor


def init_app(app: Flask) -> None:
    """Install the authorization hook (after the request-scope hook)."""
    app.before_request(_authorize)
