"""Pages for people: sign in with a token, see the models."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..auth.access import browser_page, public, requires
from ..auth.roles import Role
from ..auth.service import authenticate
from ..errors import AuthenticationRequired
from ..registry.service import RegistryService
from ..request_scope import current_actor, db_session, service_context

bp = Blueprint("web", __name__, template_folder="templates")


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
        actor=current_actor(),
        include_archived=include_archived,
    )


def _safe_next(target: str | None) -> str:
    parsed = urlparse(target or "")
    if target and not parsed.scheme and not parsed.netloc and target.startswith("/"):
        return target
    return url_for("web.index")


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
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error)


@bp.post("/logout")
@public
def logout() -> Response:
    """Forget the token."""
    session.clear()
    return redirect(url_for("web.login"))
