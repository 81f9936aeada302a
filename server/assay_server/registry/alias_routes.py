"""Alias endpoints: set, move and remove a model's aliases, read them now or at an instant,
their history, and the version an alias names."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypedDict

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate

from ..access import requires
from ..request_scope import db_session, service_context
from ..roles import Role
from ..schemas import StrictSchema, Timestamp, stored_id
from .aliases import ALIAS_PATTERN, ALIAS_RULE, AliasHolding, AliasService
from .models import AliasHistory, ModelVersion
from .schemas import VersionSchema

blp = Blueprint(
    "aliases",
    __name__,
    url_prefix="/api/v1",
    description="Model aliases (champion, challenger): named pointers to versions, with history",
)

#: The alias in a path, with the pattern it must match (a 404 for no such alias otherwise).
_ALIAS_PARAMETER: list[dict[str, Any]] = [
    {
        "in": "path",
        "name": "alias",
        "description": ALIAS_RULE,
        # OpenAPI reads ECMA 262 patterns: its "$" is our "\\Z"
        "schema": {"type": "string", "pattern": ALIAS_PATTERN.replace("\\Z", "$")},
    }
]


class AliasSetSchema(StrictSchema):
    """Point an alias at a version, saying why if you like."""

    version = stored_id(required=True)
    comment = fields.String(load_default=None, validate=validate.Length(max=5000))


class AliasSetArgs(TypedDict):
    """What :class:`AliasSetSchema` loads."""

    version: int
    comment: str | None


class AliasRemoveArgsSchema(StrictSchema):
    """Why the alias goes (optional)."""

    comment = fields.String(load_default=None, validate=validate.Length(max=5000))


class AliasRemoveArgs(TypedDict):
    """What :class:`AliasRemoveArgsSchema` loads."""

    comment: str | None


class AliasListArgsSchema(StrictSchema):
    """``at``: where each alias pointed at that instant (default: now)."""

    at = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc)


class AliasListArgs(TypedDict):
    """What :class:`AliasListArgsSchema` loads."""

    at: datetime | None


class AliasHistoryArgsSchema(StrictSchema):
    """``alias``: only that alias's stays."""

    alias = fields.String(load_default=None, validate=validate.Regexp(ALIAS_PATTERN))


class AliasHistoryArgs(TypedDict):
    """What :class:`AliasHistoryArgsSchema` loads."""

    alias: str | None


class AliasSchema(StrictSchema):
    """An alias and the version it names, since when, set by whom."""

    alias = fields.String()
    version = fields.Integer()
    since = Timestamp()
    set_by = fields.String()


class AliasStaySchema(StrictSchema):
    """An alias's stay on one version: from ``entered_at`` until ``left_at`` (null: still)."""

    alias = fields.String()
    version = fields.Integer(attribute="version.version")
    entered_at = Timestamp()
    entered_by = fields.String()
    left_at = Timestamp(allow_none=True)
    left_by = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)


def _aliases() -> AliasService:
    return AliasService(db_session(), service_context())


@blp.route("/models/<string:name>/aliases")
class Aliases(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(AliasListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, AliasSchema(many=True))
    def get(self, args: AliasListArgs, name: str) -> list[AliasHolding]:
        """A model's aliases and the versions they name; ``?at=`` answers "which then\""""
        return _aliases().list_aliases(name, at=args["at"])


@blp.route("/models/<string:name>/aliases/<string:alias>", parameters=_ALIAS_PARAMETER)
class Alias(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(AliasSetSchema)
    @blp.response(200, AliasSchema)
    def put(self, args: AliasSetArgs, name: str, alias: str) -> AliasHolding:
        """Set or move an alias to a version (audited; refused if a policy governs it)"""
        return _aliases().set_alias(name, alias, args["version"], comment=args["comment"])

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(AliasRemoveArgsSchema, location="query", unknown=RAISE)
    @blp.response(204)
    def delete(self, args: AliasRemoveArgs, name: str, alias: str) -> None:
        """Remove an alias (audited; refused if a policy governs it)"""
        _aliases().remove_alias(name, alias, comment=args["comment"])


@blp.route("/models/<string:name>/alias-history")
class AliasHistoryView(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(AliasHistoryArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, AliasStaySchema(many=True))
    def get(self, args: AliasHistoryArgs, name: str) -> list[AliasHistory]:
        """Which version each alias named, from when to when, set and left by whom"""
        return _aliases().alias_history(name, alias=args["alias"])


@blp.route("/models/<string:name>/versions/by-alias/<string:alias>", parameters=_ALIAS_PARAMETER)
class VersionByAlias(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, VersionSchema)
    def get(self, name: str, alias: str) -> ModelVersion:
        """Get the version an alias names"""
        return _aliases().version_by_alias(name, alias)
