"""What every route declares about who may call it: ``@requires(Role.X)``, ``@public``,
``@browser_page``; and how to read a declaration back. Enforced by ``auth.authorization``.

A view that declares nothing is refused for everyone: a route added without a rule fails
closed (and the auth matrix test names it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from .roles import Role

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
# flask-smorest's own documentation views, and Flask's static files.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "api-docs.openapi_json",
        "api-docs.openapi_swagger_ui",
    }
)


def requires(role: Role) -> Callable[[F], F]:
    """Declare the lowest role that may call the decorated view."""

    def mark(view: F) -> F:
        view.required_role = role  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Declare a view that needs no token (health, readiness, login)."""
    view.required_role = PUBLIC  # type: ignore[attr-defined]
    return view


def browser_page(view: F) -> F:
    """Declare a page for people: no session sends the browser to the login form."""
    view.browser_page = True  # type: ignore[attr-defined]
    return view


def required_role_for(app: Flask, endpoint: str | None, method: str) -> Role | str | None:
    """The rule declared for ``endpoint`` and ``method``: a Role, ``"public"``, or None."""
    if endpoint is None:
        return None
    if endpoint in PUBLIC_ENDPOINTS:
        return PUBLIC
    view = view_handler(app, endpoint, method)
    return getattr(view, "required_role", None)


def view_handler(app: Flask, endpoint: str, method: str) -> Any:
    """The function that answers ``method`` at ``endpoint`` (a MethodView's method)."""
    view = app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        name = "get" if method == "HEAD" else method.lower()
        return getattr(view_class, name, None)
    return view
