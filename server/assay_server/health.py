"""Liveness and readiness: the two endpoints that need no token."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from . import __version__
from .access import public
from .errors import Unavailable
from .request_scope import database

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness and readiness")


class HealthSchema(Schema):
    """The server answers, and which version it is."""

    status = fields.String()
    version = fields.String()


@blp.route("/health")
class Health(MethodView):
    @public
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Liveness: the process answers"""
        return {"status": "ok", "version": __version__}


@blp.route("/ready")
class Ready(MethodView):
    @public
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Readiness: the database answers and is migrated to the code's schema"""
        from .migrate import pending_migrations

        try:
            with database().engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                pending = pending_migrations(connection)
        except Exception:
            raise Unavailable("The database is not reachable.") from None
        if pending:
            raise Unavailable(
                "The database needs migrating: run 'assay-server db upgrade'.",
                details={"pending": pending},
            )
        return {"status": "ready", "version": __version__}
