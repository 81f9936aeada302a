"""Schemas shared by every domain: pagination arguments and the error body."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .audit.models import TIMESTAMP_FORMAT

MAX_PAGE_SIZE = 500


class Timestamp(fields.DateTime):
    """A UTC timestamp written the one way the API and the audit chain write it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(format=TIMESTAMP_FORMAT, **kwargs)  # type: ignore[arg-type]


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped."""

    class Meta:
        ordered = True


class PageArgsSchema(StrictSchema):
    """``page`` from 1 and ``limit`` up to 500."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageSchema(Schema):
    """The envelope of a list: items, the total matching, the page and its size."""

    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)


class ErrorDetailSchema(Schema):
    """The inside of an error body."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()
    request_id = fields.String(allow_none=True)


class ErrorSchema(Schema):
    """Every 4xx and 5xx: ``{"error": {code, message, details, request_id}}``."""

    error = fields.Nested(ErrorDetailSchema, required=True)
