"""Request and response shapes of alerts, channels and deliveries (secrets are write-only)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from ..schemas import StrictSchema, Timestamp, stored_id
from .models import ALERT_STATUSES, BULK_ACTIONS, CHANNEL_KINDS, DELIVERY_STATUSES, SEVERITIES

CHANNEL_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z",
    error="A channel name is 1–100 characters: letters, digits, '.', '_' and '-'.",
)
COMMENT = validate.Length(max=5000)
EMAIL = fields.Email(validate=validate.Length(max=320))


class AlertListArgsSchema(StrictSchema):
    """Filter alerts; ``status=open`` means firing, acknowledged or silenced."""

    model = fields.String(validate=validate.Length(min=1, max=100))
    status = fields.String(validate=validate.OneOf([*ALERT_STATUSES, "open"]))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AlertSchema(StrictSchema):
    """An alert."""

    id = fields.Integer()
    monitor_id = fields.Integer()
    model = fields.String(attribute="model_name")
    version = fields.Integer(attribute="version_number")
    check = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"enum": list(ALERT_STATUSES)})
    severity = fields.String(metadata={"enum": list(SEVERITIES)})
    summary = fields.String()
    figures = fields.Dict()
    findings = fields.List(
        fields.Dict(),
        metadata={
            "description": "Every failing finding of the incident, worst first: subject, "
            "status, severity, metric, value, threshold"
        },
    )
    report_id = fields.Integer(allow_none=True)
    count = fields.Integer()
    first_seen = Timestamp()
    last_seen = Timestamp()
    last_notified_at = Timestamp(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = Timestamp(allow_none=True)
    acknowledge_comment = fields.String(allow_none=True)
    silenced_until = Timestamp(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = Timestamp(allow_none=True)
    resolve_comment = fields.String(allow_none=True)


class CommentSchema(StrictSchema):
    """Why."""

    comment = fields.String(load_default="", validate=COMMENT)


class SilenceSchema(CommentSchema):
    """Until when no notification is sent."""

    until = fields.AwareDateTime(required=True, default_timezone=None)


class BulkAlertsSchema(CommentSchema):
    """Acknowledge or resolve several alerts at once."""

    ids = fields.List(
        stored_id(),
        required=True,
        validate=validate.Length(min=1, max=500),
    )
    action = fields.String(required=True, validate=validate.OneOf(BULK_ACTIONS))


class BulkErrorSchema(StrictSchema):
    """Why one alert was not changed."""

    code = fields.String(metadata={"example": "conflict"})
    message = fields.String()


class BulkOutcomeSchema(StrictSchema):
    """One alert of a bulk change: the alert as changed, or the error."""

    id = fields.Integer()
    ok = fields.Boolean()
    alert = fields.Nested(AlertSchema, allow_none=True)
    error = fields.Nested(BulkErrorSchema, allow_none=True)


class BulkResultSchema(StrictSchema):
    """What a bulk change did, per alert, in the order asked."""

    changed = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Nested(BulkOutcomeSchema))


EVENT_PATTERNS = fields.List(
    fields.String(validate=validate.Length(min=1, max=40)),
    validate=validate.Length(min=1, max=20),
    metadata={
        "description": "Event types it receives: exact (stage.changed), a family (promotion.*) "
        'or *; default ["alert.*"]'
    },
)
MODEL_FILTER = fields.List(
    fields.String(validate=validate.Length(min=1, max=128)),
    validate=validate.Length(max=100),
    metadata={"description": "Only these models' lifecycle events (empty: every model)"},
)


class ChannelCreateSchema(StrictSchema):
    """A new channel; ``secret`` (webhooks) is write-only and generated when left out."""

    name = fields.String(required=True, validate=CHANNEL_NAME)
    kind = fields.String(required=True, validate=validate.OneOf(CHANNEL_KINDS))
    url = fields.Url(
        allow_none=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
    )
    secret = fields.String(load_only=True, validate=validate.Length(min=10, max=200))
    recipients = fields.List(EMAIL, validate=validate.Length(max=50))
    events = EVENT_PATTERNS
    models = MODEL_FILTER

    @validates_schema
    def _secret_for_webhooks(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("secret") and data.get("kind") != "webhook":
            raise ValidationError("Only webhook channels are signed.", "secret")


class ChannelUpdateSchema(StrictSchema):
    """Changes; a new ``secret`` or ``rotate_secret: true`` keeps the old secret for 24 h; a
    new ``url`` replaces the old one (send it whole: the masked URL read back is refused)."""

    name = fields.String(validate=CHANNEL_NAME)
    url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000)
    )
    secret = fields.String(load_only=True, validate=validate.Length(min=10, max=200))
    rotate_secret = fields.Boolean(load_only=True)
    recipients = fields.List(EMAIL, validate=validate.Length(max=50))
    events = EVENT_PATTERNS
    models = MODEL_FILTER


class ChannelSchema(StrictSchema):
    """A channel, without its secrets: the URL is masked (a Slack path, a password, query
    values), for every role; an admin replaces it by sending a whole new one."""

    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    url = fields.String(
        attribute="masked_url",
        allow_none=True,
        metadata={"example": "https://hooks.slack.com/services/T…/…"},
    )
    recipients = fields.List(fields.String())
    events = fields.List(fields.String())
    models = fields.List(fields.String())
    signed = fields.Boolean(attribute="has_secret")
    created_by = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()


class CreatedChannelSchema(ChannelSchema):
    """A channel as created or rotated: a generated secret appears here once."""

    secret = fields.String(allow_none=True, dump_only=True)


class ModelChannelsSchema(StrictSchema):
    """A model's default channels, by name."""

    channels = fields.List(fields.String(validate=CHANNEL_NAME), required=True)


class DeliveryListArgsSchema(StrictSchema):
    """Filter deliveries."""

    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    channel = fields.String(validate=CHANNEL_NAME)
    alert_id = stored_id()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class DeliveryAttemptSchema(StrictSchema):
    """One attempt."""

    attempted_at = Timestamp()
    ok = fields.Boolean()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Float()


class DeliverySchema(StrictSchema):
    """A notification to one channel and every attempt at it."""

    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String(attribute="channel_name")
    alert_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.Integer()
    next_attempt_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    delivered_at = Timestamp(allow_none=True)
    last_error = fields.String(allow_none=True)
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema), data_key="attempt_log")
    payload = fields.Dict()
