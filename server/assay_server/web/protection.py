"""What guards the pages besides who may see them: a CSRF token in every form, and security
headers on every response.

- CSRF (Flask-WTF): every form under the ``web`` blueprint carries the token its page was
  rendered with (``{{ csrf_token() }}``); a POST without it is a 400 page and changes nothing.
  The JSON API is exempt: it authenticates by ``Authorization: Bearer`` alone, a header no other
  site can make a browser send (and a cookie never opens it, ``auth.authorization``). A page
  request carrying a bearer token is exempt for the same reason.
- Headers (flask-talisman): ``Content-Security-Policy`` (``'self'`` only: no inline script or
  style anywhere in the templates), ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``,
  ``nosniff``, ``Referrer-Policy: same-origin``; and ``Strict-Transport-Security`` when
  ``ASSAY_PUBLIC_URL`` is https. No redirect to https: TLS ends at the proxy in front.
  A response that sets one of these headers itself keeps its own: Evidently's page is served
  with ``sandbox allow-scripts …`` and ``frame-ancestors 'self'`` (``sandboxed.py``), and the
  UI frames it from the same origin; Swagger UI's page brings its own policy (``openapi.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

from ..auth.authorization import bearer_token
from ..settings import Settings
from .blueprint import bp

#: Inline styles plotly.js needs, by the SHA-256 of their exact text, nothing else: an *empty*
#: <style> element it then fills through the CSSOM (which a policy does not govern), an empty
#: ``style`` attribute, and its fixed ``image-rendering`` probe (``'unsafe-hashes'`` lets these
#: hashes match attributes; any other inline style is still refused).
PLOTLY_STYLES = " ".join(
    (
        "'unsafe-hashes'",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # ""
        "'sha256-AR/cKIZjWPcPmBUPDA6oti9XBiTbJvz0Cro2J1VzzS8='",  # image-rendering: …
        # the stylesheet plotly.js 2.35's bundle adds for its map traces (fixed text); a new
        # plotly makes the browser tests report its new hash
        "'sha256-gG0b4ixT/IQUp7JJLbyKcpYcYDjq2Wp8NGv3f+aasqo='",
    )
)
PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": f"'self' {PLOTLY_STYLES}",
    "img-src": "'self' data:",  # plotly.js draws a heatmap as a PNG data URL
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# What a response may set for itself and keep (the sandboxed report page does).
OWN_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600


class SecurityHeaders(Talisman):
    """flask-talisman, except that a header the response set itself is kept, and HSTS is sent
    on every response when configured (the proxy in front may not say the request was https)."""

    def _set_response_headers(self, response: Response) -> Response:
        own = {name: response.headers[name] for name in OWN_HEADERS if name in response.headers}
        response = super()._set_response_headers(response)
        response.headers.update(own)
        if self.strict_transport_security:
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={self.strict_transport_security_max_age}"
            )
        return response


def frameable_by_this_site(view: Any) -> Any:
    """Declare a page the UI shows in a frame of its own: ``frame-ancestors 'self'`` and
    ``X-Frame-Options: SAMEORIGIN`` on what it answers without a policy of its own (a page
    saying the report is being prepared, an error page)."""
    view.talisman_view_options = {
        "frame_options": "SAMEORIGIN",
        "content_security_policy": {**PAGE_POLICY, "frame-ancestors": "'self'"},
    }
    return view


def init_app(app: Flask, settings: Settings) -> None:
    """Install CSRF protection of the pages' forms and the security headers."""
    app.config.update(
        SESSION_COOKIE_SECURE=settings.is_https,
        # the web blueprint checks its own requests (below); the API needs no token
        WTF_CSRF_CHECK_DEFAULT=False,
        # a token lives as long as the cookie's CSRF secret, which a sign-in renews; the UI
        # session's own lifetimes bound it (the default, an hour, refuses a page left open longer)
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)
    SecurityHeaders(
        app,
        force_https=False,
        strict_transport_security=settings.is_https,
        strict_transport_security_max_age=HSTS_MAX_AGE_SECONDS,
        strict_transport_security_include_subdomains=False,
        frame_options="DENY",
        content_security_policy=PAGE_POLICY,
        referrer_policy="same-origin",
        session_cookie_secure=settings.is_https,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
    )


@bp.before_request
def _refuse_forged_forms() -> None:
    """A POST to a page needs the CSRF token of a page this site rendered (else a 400 page)."""
    if bearer_token() is None:
        current_app.extensions["csrf"].protect()
