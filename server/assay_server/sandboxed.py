"""Serving HTML that Assay did not write (Evidently's report page) where it cannot act as Assay.

Evidently's page holds values that arrived with predictions. Its response carries
``Content-Security-Policy: sandbox allow-scripts``: the browser runs its scripts in an opaque
origin, so even a value that became script could not read Assay's cookies, pages or API. The
UI shows it inside ``<iframe sandbox="allow-scripts">`` as well; the values in its data are
escaped before it is stored (``monitoring.evidently_report.script_safe_data``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Response, send_file

# 'unsafe-inline' is Evidently's own bundle and data, inline in its page; the sandbox makes
# that page an opaque origin, and connect-src 'none' keeps it from sending anything anywhere.
SANDBOX_POLICY = "; ".join(
    [
        "sandbox allow-scripts",
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "img-src data: blob:",
        "font-src data:",
        "connect-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
)


def sandboxed_html(path: Path, *, max_age: int) -> Response:
    """``path`` as a private, cacheable HTML response that runs only in a sandbox."""
    response = send_file(path, mimetype="text/html", max_age=max_age)
    response.cache_control.no_cache = None
    response.cache_control.public = False
    response.cache_control.private = True
    response.headers["Content-Security-Policy"] = SANDBOX_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
