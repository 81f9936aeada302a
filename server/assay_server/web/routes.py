"""Pages for people: sign in with a token, the model list; the other pages' modules join here.

``bp`` (from :mod:`.blueprint`) carries every page; importing the page modules below
registers their routes on it, so app.py registers the whole UI with ``routes.bp``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..access import browser_page, public, requires
from ..auth.service import authenticate
from ..errors import AuthenticationRequired
from ..registry.service import RegistryService
from ..request_scope import db_session, service_context
from ..roles import Role
from . import alert_pages, monitoring_pages  # noqa: F401  (registers their routes on bp)
from .blueprint import bp, safe_next

__all__ = ["bp"]


@bp.get("/")
@requires(Role.VIEWER)
@browser_page
def index() -> str:
    """The model list."""
    include_archived = request.args.get("archived") == "1"
    page = RegistryService(db_session(), service_context()).list_models(
        include_archived=include_archived, limit=500
    )
    return render_template(
        "index.html",
        models=page.items,
        total=page.total,
        include_archived=include_archived,
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """Sign in by pasting an API token; it is kept in a signed, HTTP-only cookie."""
    error = None
    if request.method == "POST":
        token = (request.form.get("token") or "").strip()
        try:
            authenticate(db_session(), token, current_app.extensions["assay_clock"]())
        except AuthenticationRequired as exc:
            error = exc.message
        else:
            session.clear()
            session["token"] = token
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error)


@bp.post("/logout")
@public
def logout() -> Response:
    """Forget the token."""
    session.clear()
    return redirect(url_for("web.login"))
