"""The Flask app factory: binds the store, the API blueprints, the UI and the error handler."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from . import __version__, http_errors, openapi, request_scope
from .auth import authorization
from .db import Database, utcnow
from .models import import_all_models
from .schemas import ErrorSchema
from .settings import Settings
from .web import protection
from .wiring import Wiring, wire


class AssayApi(Api):
    """flask-smorest's Api, answering errors in our one shape."""

    ERROR_SCHEMA = ErrorSchema
    # each operation lists its own error statuses instead (openapi.ErrorResponses)
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        """Every HTTP error in our shape."""
        return http_errors.handle_http_exception(error)


def _secret_key(settings: Settings) -> str:
    """The session-signing key: from ASSAY_SECRET_KEY, else generated once per data dir."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Callable[[], datetime] = utcnow,
    wiring: Wiring | None = None,
) -> Flask:
    """Build the Assay server; ``settings`` default to the ``ASSAY_*`` environment, ``wiring``
    to :func:`~assay_server.wiring.wire` (the scheduler, CLI and tests wire the same way)."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    import_all_models()
    database = database or Database.from_settings(settings)

    app = Flask(__name__, static_folder="web/static")  # the UI's stylesheet
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=(
            settings.max_artifact_bytes + settings.max_reference_bytes + settings.max_request_bytes
        ),
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        API_TITLE="Assay",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",  # Swagger UI at /api/docs: openapi.init_app
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.getLogger("assay_server").setLevel(settings.log_level)

    wiring = wiring or wire()
    request_scope.init_app(
        app, database, settings, clock, events=wiring.events, evidence=wiring.evidence
    )
    authorization.init_app(app)
    request_scope.init_idempotency_keys(app)  # after authorization: a key is its caller's
    protection.init_app(app, settings)  # CSRF on the pages' forms, security headers

    api = AssayApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "extra_plugins": [openapi.ErrorResponses(app)],
        },
    )
    from .alerts.routes import blp as alerts_blp
    from .audit.routes import blp as audit_blp
    from .auth.routes import blp as auth_blp
    from .explain.routes import blp as explain_blp
    from .governance.rollouts_routes import blp as rollouts_blp
    from .governance.routes import blp as governance_blp
    from .health import blp as health_blp
    from .ingest.routes import blp as ingest_blp
    from .metrics import bp as metrics_bp
    from .monitoring.comparison_routes import blp as comparisons_blp
    from .monitoring.routes import blp as monitoring_blp
    from .registry.alias_routes import blp as aliases_blp
    from .registry.routes import blp as registry_blp
    from .web.routes import bp as web_bp

    for blueprint in (
        health_blp,
        auth_blp,
        registry_blp,
        aliases_blp,
        audit_blp,
        ingest_blp,
        explain_blp,
        governance_blp,
        rollouts_blp,
        monitoring_blp,
        comparisons_blp,
        alerts_blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(web_bp)
    app.register_blueprint(metrics_bp)
    openapi.init_app(app)
    http_errors.init_app(app)
    return app
