"""Token and identity shapes."""

from __future__ import annotations

from marshmallow import fields, validate

from ..db import utcnow
from ..roles import ROLE_NAMES
from ..schemas import StrictSchema, Timestamp

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

    def get_status(self, token: object) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if token.revoked_at is not None:  # type: ignore[attr-defined]
            return "revoked"
        return "active" if token.is_active(utcnow()) else "expired"  # type: ignore[attr-defined]


class CreatedTokenSchema(TokenSchema):
    """A token just made: the secret is in ``token``, shown this once."""

    token = fields.String()


class IdentitySchema(StrictSchema):
    """Who the calling token is."""

    token_id = fields.Integer(allow_none=True)
    name = fields.String()
    role = fields.String()
    expires_at = Timestamp(allow_none=True)
