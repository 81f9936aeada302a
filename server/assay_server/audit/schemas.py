"""Audit event shapes."""

from __future__ import annotations

from marshmallow import fields, validate

from ..schemas import StrictSchema, Timestamp, stored_id


class AuditListArgsSchema(StrictSchema):
    """Filters, and the cursor: events after ``after_seq``."""

    target_type = fields.String(validate=validate.Length(max=32))
    target_id = fields.String(validate=validate.Length(max=200))
    actor = fields.String(validate=validate.Length(max=100))
    action = fields.String(validate=validate.Length(max=64))
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)
    after_seq = stored_id(minimum=0, load_default=0)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AuditEventSchema(StrictSchema):
    """One event, exactly as the chain hashes it."""

    seq = fields.Integer()
    timestamp = Timestamp()
    actor_token_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String()
    request_id = fields.String(allow_none=True)
    payload = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AuditPageSchema(StrictSchema):
    """A page of events."""

    items = fields.List(fields.Nested(AuditEventSchema))
    total = fields.Integer()
    next_cursor = fields.Integer(allow_none=True)


class AuditVerificationSchema(StrictSchema):
    """The server's own recomputation of the chain."""

    ok = fields.Boolean()
    checked = fields.Integer()
    first_broken_seq = fields.Integer(allow_none=True)
    head_seq = fields.Integer(allow_none=True)
    message = fields.String()
    checkpoints = fields.Integer()
    signed_seq = fields.Integer(allow_none=True)


class CheckpointListArgsSchema(StrictSchema):
    """The cursor: checkpoints after ``after_seq``."""

    after_seq = stored_id(minimum=0, load_default=0)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class CheckpointSchema(StrictSchema):
    """A signed checkpoint, exactly as it was signed (``assay.auditsigning.checkpoint_bytes``)."""

    seq = fields.Integer()
    hash = fields.String()
    timestamp = fields.String()
    key_id = fields.String()
    signature = fields.String()


class CheckpointPageSchema(StrictSchema):
    """A page of checkpoints."""

    items = fields.List(fields.Nested(CheckpointSchema))
    total = fields.Integer()
    next_cursor = fields.Integer(allow_none=True)


class PublicKeySchema(StrictSchema):
    """The public half of the key checkpoints are signed with."""

    key_id = fields.String()
    algorithm = fields.String()
    public_key = fields.String(metadata={"description": "PEM (SubjectPublicKeyInfo)"})
