"""Token and identity endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from ..access import requires
from ..request_scope import current_actor, db_session, service_context
from ..roles import Role
from .schemas import CreatedTokenSchema, IdentitySchema, TokenCreateSchema, TokenSchema
from .service import TokenService

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="API tokens and identity")


def _tokens() -> TokenService:
    return TokenService(db_session(), service_context())


@blp.route("/whoami")
class WhoAmI(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, IdentitySchema)
    def get(self) -> dict[str, Any]:
        """Who the calling token is"""
        actor = current_actor()
        token = _tokens().get(actor.token_id) if actor.token_id else None
        return {
            "token_id": actor.token_id,
            "name": actor.name,
            "role": actor.role.value,
            "expires_at": token.expires_at if token else None,
        }


@blp.route("/tokens")
class Tokens(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, TokenSchema(many=True))
    def get(self) -> Any:
        """List tokens (never their secrets)"""
        return _tokens().list()

    @requires(Role.ADMIN)
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, CreatedTokenSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Create a token; the secret is returned this once"""
        return _tokens().create(args["name"], args["role"], expires_days=args["expires_days"])


@blp.route("/tokens/<int:token_id>/revoke")
class RevokeToken(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, TokenSchema)
    def post(self, token_id: int) -> Any:
        """Revoke a token"""
        return _tokens().revoke(token_id)
