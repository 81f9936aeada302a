"""The UI's blueprint: who is signed in for every template, and errors as pages, not JSON.

Page errors are handled here, not by the app's JSON handler: Flask consults a blueprint's
handlers first for requests routed to it, including errors raised by the app's authorization
hook (a viewer posting an acknowledgement gets a 403 page).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, g, render_template, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import AssayError
from . import formatting

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__, template_folder="templates")

for _name, _filter in formatting.TEMPLATE_FILTERS.items():
    bp.add_app_template_filter(_filter, _name)

_HTTP_MESSAGES = {
    404: "No such page.",
    405: "This page does not accept that method.",
    413: "The form is too large.",
}
FORGED_FORM = (
    "This form was refused: it did not carry the security (CSRF) token of a page Assay showed "
    "you, so it may come from an old page or from another site. Nothing was changed. Reload "
    "the page and try again."
)


@bp.context_processor
def _signed_in() -> dict[str, Any]:
    """Templates see the signed-in actor (None on the sign-in page)."""
    return {"actor": g.get("actor")}


def safe_next(target: str | None, default_endpoint: str = "web.index") -> str:
    """``target`` when it is a path on this site, else the URL of ``default_endpoint``."""
    if target and _is_path_on_this_site(target):
        return target
    return url_for(default_endpoint)


def _is_path_on_this_site(target: str) -> bool:
    # A browser drops tabs and newlines from a URL, and reads two slashes, or a slash and a
    # backslash, as the start of another site's address: refuse all of those.
    if any(char.isspace() or not char.isprintable() for char in target):
        return False
    parsed = urlparse(target)
    return (
        target.startswith("/")
        and target[1:2] not in ("/", "\\")
        and not parsed.scheme
        and not parsed.netloc
    )


def error_message(exc: AssayError) -> str:
    """What a person reads about a domain error (a validation error may carry only details)."""
    if exc.message:
        return exc.message
    problems = [
        f"{field}: {' '.join(map(str, messages if isinstance(messages, list) else [messages]))}"
        for field, messages in exc.details.items()
    ]
    return "; ".join(problems) or "The request was not valid."


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    page = render_template(
        "error.html", status=status, title=title, message=message, request_id=g.get("request_id")
    )
    return page, status


@bp.errorhandler(Exception)
def _page_error(exc: Exception) -> tuple[str, int]:
    """Every error on a page, as a page in the layout (never a stack trace)."""
    if isinstance(exc, AssayError):
        if exc.status >= 500:
            log.error("%s [request %s]: %s", exc.code, g.get("request_id"), exc.message)
        return _error_page(exc.status, exc.code.replace("_", " ").capitalize(), error_message(exc))
    if isinstance(exc, CSRFError):
        log.info("form refused [request %s]: %s", g.get("request_id"), exc.description)
        return _error_page(400, "Form refused", FORGED_FORM)
    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        status = exc.code or 500
        return _error_page(status, exc.name, _HTTP_MESSAGES.get(status, exc.name))
    log.error("error on a page [request %s]", g.get("request_id"), exc_info=exc)
    return _error_page(500, "Internal server error", "Something went wrong on our side.")
