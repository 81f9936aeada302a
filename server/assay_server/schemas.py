"""Schemas shared by every domain: pagination arguments and the error body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from .db import TIMESTAMP_FORMAT
from .storable import MAX_STORED_ID, UNSTORABLE_TEXT, holds_unstorable_text

MAX_PAGE_SIZE = 500
#: A character that is not white space, the same set in Python's ``re`` (and ``str.strip``)
#: and in the ECMA-262 regular expressions of the OpenAPI document: Python counts
#: U+001C-U+001F and U+0085 as white space where ECMA-262 does not, and ECMA-262 counts U+FEFF
#: where Python does not, so all of them are left out by name.
_VISIBLE = r"[^\s\x1c-\x1f\x85\ufeff]"
#: Text holding at least one visible character.
NOT_BLANK_PATTERN = r"[\s\x1c-\x1f\x85\ufeff]*" + _VISIBLE


def not_blank(error: str) -> validate.Regexp:
    """A validator refusing text that is empty or only white space, as the document says."""
    return validate.Regexp(NOT_BLANK_PATTERN, error=error)


class Timestamp(fields.DateTime):
    """A UTC timestamp written the one way the API and the audit chain write it.

    The field keeps marshmallow's default (ISO 8601) format and writes its own: apispec
    describes a custom ``format`` as ``"format": null``, which is not valid OpenAPI, and
    ``2026-11-23T10:00:00.000000Z`` is an RFC 3339 ``date-time`` as OpenAPI means it.
    """

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        return None if value is None else value.strftime(TIMESTAMP_FORMAT)


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped; text the store cannot hold (NUL,
    lone surrogates) is refused anywhere in the input, naming the field."""

    class Meta:
        ordered = True

    #: False where a service refuses such text row by row instead (keeping the other rows).
    refuses_unstorable_text = True

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **_kwargs: Any) -> Any:
        if not self.refuses_unstorable_text or not isinstance(data, Mapping):
            return data
        nested = _nested_keys(self)
        problems = {
            str(key): [UNSTORABLE_TEXT]
            for key, value in data.items()
            if (isinstance(key, str) and holds_unstorable_text(key))
            or (key not in nested and holds_unstorable_text(value))
        }
        if problems:
            raise ValidationError(problems)
        return data


def _nested_keys(schema: Schema) -> frozenset[str]:
    """Input keys whose values a nested schema loads (and checks) itself."""

    def is_nested(field: fields.Field) -> bool:
        if isinstance(field, fields.List):
            return is_nested(field.inner)
        return isinstance(field, fields.Nested)

    return frozenset(
        field.data_key or name for name, field in schema.load_fields.items() if is_nested(field)
    )


def stored_id(*, minimum: int = 1, **kwargs: Any) -> fields.Integer:
    """An integer naming a stored row (an id, a version number, a sequence number): from
    ``minimum`` to the largest id the store holds, so no larger one reaches a query."""
    return fields.Integer(validate=validate.Range(min=minimum, max=MAX_STORED_ID), **kwargs)


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
    details = fields.Dict(required=True)
    request_id = fields.String(required=True, allow_none=True)


class ErrorSchema(Schema):
    """Every 4xx and 5xx: ``{"error": {code, message, details, request_id}}``."""

    error = fields.Nested(ErrorDetailSchema, required=True)
