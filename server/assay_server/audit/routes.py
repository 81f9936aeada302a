"""Audit trail endpoints: read-only, by design."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import requires
from ..request_scope import database, db_session, service_context
from ..roles import Role
from .schemas import AuditListArgsSchema, AuditPageSchema, AuditVerificationSchema
from .service import AuditFilters, AuditTrail

blp = Blueprint(
    "audit", __name__, url_prefix="/api/v1", description="The hash-chained audit trail (read-only)"
)


@blp.route("/audit")
class AuditEvents(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(AuditListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List audit events, oldest first, by cursor"""
        after_seq, limit = args.pop("after_seq"), args.pop("limit")
        trail = AuditTrail(db_session(), service_context())
        return trail.list(AuditFilters(**args), after_seq=after_seq, limit=limit)


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, AuditVerificationSchema)
    def get(self) -> Any:
        """Recompute the hash chain on the server"""
        return AuditTrail(db_session(), service_context()).verify()


@blp.route("/audit/export")
class AuditExport(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, content_type="application/x-ndjson")
    def get(self) -> Response:
        """Export the trail as JSON Lines, ending with the chain head"""
        ctx = service_context()
        db = database()

        def lines() -> Any:
            with db.unit_of_work(write=False) as session:
                yield from AuditTrail(session, ctx).export_lines()

        response = current_app.response_class(lines(), mimetype="application/x-ndjson")
        response.headers["Content-Disposition"] = 'attachment; filename="assay-audit.jsonl"'
        return response
