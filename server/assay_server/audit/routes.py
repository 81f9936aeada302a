"""Audit trail endpoints: read-only, by design."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.blueprints import BlueprintSetupState
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import public, requires
from ..request_scope import database, db_session, service_context, settings
from ..roles import Role
from .schemas import (
    AuditListArgsSchema,
    AuditPageSchema,
    AuditVerificationSchema,
    CheckpointListArgsSchema,
    CheckpointPageSchema,
    CheckpointSchema,
    PublicKeySchema,
)
from .service import AuditFilters, AuditTrail, export_trail
from .signing import signing_key

blp = Blueprint(
    "audit", __name__, url_prefix="/api/v1", description="The hash-chained audit trail (read-only)"
)


@blp.record_once
def _create_signing_key(state: BlueprintSetupState) -> None:
    """Create the checkpoint signing key when the app is built, if it does not exist yet, so
    it is there to back up from the first start (and a key path that cannot be written stops
    the server at once)."""
    signing_key(state.app.extensions["assay_settings"])


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
        """Export the trail as JSON Lines, ending with a signed checkpoint and the chain head"""
        lines = export_trail(database(), service_context())
        response = current_app.response_class(lines, mimetype="application/x-ndjson")
        response.headers["Content-Disposition"] = 'attachment; filename="assay-audit.jsonl"'
        return response


@blp.route("/audit/checkpoints")
class AuditCheckpoints(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(CheckpointListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, CheckpointPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List the signed checkpoints of the chain, oldest first, by cursor"""
        return AuditTrail(db_session(), service_context()).checkpoints(**args)

    @requires(Role.VIEWER)  # what any export does too: it changes nothing but the signatures
    @blp.response(200, CheckpointSchema)
    def post(self) -> Any:
        """Sign the chain head now (unless it is signed already) and return its checkpoint"""
        return AuditTrail(db_session(), service_context()).sign_head()


@blp.route("/audit/public-key")
class AuditPublicKey(MethodView):
    @public
    @blp.response(200, PublicKeySchema)
    def get(self) -> Any:
        """The public key checkpoints are signed with (PEM) and its id"""
        return signing_key(settings()).public()
