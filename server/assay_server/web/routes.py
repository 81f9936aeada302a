"""Pages for people: sign in with a token; the other pages' modules join here.

``bp`` (from :mod:`.blueprint`) carries every page; importing the page modules below
registers their routes on it, so app.py registers the whole UI with ``routes.bp``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..access import public
from ..auth.authorization import SESSION_KEY
from ..auth.service import authenticate
from ..auth.sessions import UiSessionService, resume
from ..errors import AuthenticationRequired
from ..request_scope import db_session, service_context, settings
from . import (  # noqa: F401  (each registers its pages on bp)
    admin_pages,
    alert_pages,
    alias_pages,
    approval_pages,
    audit_pages,
    charts,
    comparison_pages,
    model_pages,
    monitoring_pages,
    policy_pages,
    protection,
    rollout_pages,
    version_pages,
)
from .blueprint import bp, safe_next

__all__ = ["bp"]


@bp.get("/favicon.ico")
@public
def favicon() -> Response:
    """The site's icon where a browser looks for it unasked: a document that names no icon
    (the printable compliance report, an API answer opened in a tab) would get a 404 and a
    console error for it (public, served as the other static files are)."""
    return current_app.send_static_file("favicon.svg")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """Sign in by pasting an API token: it starts a UI session; the cookie holds only its id."""
    error = None
    if request.method == "POST":
        token = (request.form.get("token") or "").strip()
        try:
            actor = authenticate(db_session(), token, _now())
        except AuthenticationRequired as exc:
            error = exc.message
        else:
            _end_session(session.get(SESSION_KEY))  # signing in again ends the one before
            g.actor = actor
            started = UiSessionService(db_session(), service_context()).start()
            session.clear()  # a fresh cookie: nothing before it (nor its CSRF secret) carries over
            session[SESSION_KEY] = started.session_id
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error)


@bp.post("/logout")
@public
def logout() -> Response:
    """Sign out: the session ends in the store, so a copy of the cookie signs nobody in."""
    _end_session(session.get(SESSION_KEY))
    session.clear()
    return redirect(url_for("web.login"))


def _end_session(session_id: str | None) -> None:
    """End the UI session ``session_id`` as its own actor, if it is still live."""
    if not session_id:
        return
    try:
        resumed = resume(db_session(), session_id, _now(), settings())
    except AuthenticationRequired:
        return  # over already: signed out, expired, idle, or its token revoked
    g.actor = resumed.actor
    UiSessionService(db_session(), service_context()).end(session_id)


def _now() -> datetime:
    return current_app.extensions["assay_clock"]()
