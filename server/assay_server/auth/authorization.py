"""The hook that enforces what each route declares (see ``assay_server.access``).

It runs before any argument parsing, so a caller without a token learns nothing about the
body it sent.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Flask, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..access import PUBLIC, required_role_for, view_handler
from ..errors import AuthenticationRequired, PermissionDenied
from ..request_scope import database
from ..roles import Role
from .service import authenticate


def _bearer_token() -> str | None:
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
    secret = _bearer_token() or (session.get("token") if is_page else None)
    try:
        # A short read of its own: the request's session (for writes on SQLite, the write
        # lock) is opened only when the view needs it, after a slow upload has arrived.
        with database().unit_of_work(write=False) as lookup:
            g.actor = authenticate(lookup, secret, current_app.extensions["assay_clock"]())
    except AuthenticationRequired:
        if is_page:
            session.pop("token", None)
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


def init_app(app: Flask) -> None:
    """Install the authorization hook (after the request-scope hook)."""
    app.before_request(_authorize)
