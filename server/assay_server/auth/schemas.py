"""Token and identity shapes."""

from __future__ import annotations

from marshmallow import fields, post_dump, pre_dump, validate

from ..db import utcnow
from ..roles import ROLE_NAMES
from ..schemas import StrictSchema, Timestamp
from .models import Token
from .service import IssuedToken

TOKEN_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,99}\Z",
    error="1–100 characters: letters, digits, space and . _ @ : -, starting with a letter or "
    "digit.",
)


class TokenCreateSchema(StrictSchema):
    """A new token: a name people recognise, a role, an optional lifetime in days."""

    name = fields.String(required=True, validate=TOKEN_NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLE_NAMES))
    expires_days = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False, max=3650),
    )


class TokenSchema(StrictSchema):
    """A token as listed: never the secret, only its first and last characters."""

    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    display = fields.Function(lambda t: f"{t.display_prefix}…{t.last_four}")
    created_at = Timestamp()
    created_by = fields.String()
    expires_at = Timestamp(allow_none=True)
    revoked_at = Timestamp(allow_none=True)
    status = fields.Method("get_status")

    def get_status(self, token: Token) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if token.revoked_at is not None:
            return "revoked"
        return "active" if token.is_active(utcnow()) else "expired"


class CreatedTokenSchema(TokenSchema):
    """A token just made (an ``IssuedToken``): the secret is in ``token``, shown this once."""

    token = fields.String(dump_only=True)

    @pre_dump
    def _the_row(self, issued: IssuedToken, **_kwargs: object) -> Token:
        return issued.token

    @post_dump(pass_original=True)
    def _with_its_secret(
        self, data: dict[str, object], issued: IssuedToken, **_kwargs: object
    ) -> dict[str, object]:
        data["token"] = issued.secret
        return data


class IdentitySchema(StrictSchema):
    """Who the calling token is."""

    token_id = fields.Integer(allow_none=True)
    name = fields.String()
    role = fields.String()
    expires_at = Timestamp(allow_none=True)
