"""Alert, channel and delivery endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import requires
from ..request_scope import db_session, service_context
from ..roles import Role
from .models import Alert, Channel, Delivery
from .schemas import (
    AlertListArgsSchema,
    AlertSchema,
    BulkAlertsSchema,
    BulkResultSchema,
    ChannelCreateSchema,
    ChannelSchema,
    ChannelUpdateSchema,
    CommentSchema,
    CreatedChannelSchema,
    DeliveryListArgsSchema,
    DeliverySchema,
    ModelChannelsSchema,
    SilenceSchema,
)
from .service import (
    AlertFilters,
    AlertService,
    BulkOutcome,
    ChannelService,
    CreatedChannel,
    DeliveryService,
)

blp = Blueprint(
    "alerts",
    __name__,
    url_prefix="/api/v1",
    description="Alerts from monitoring reports, notification channels, the delivery log",
)


def _alerts() -> AlertService:
    return AlertService(db_session(), service_context())


def _channels() -> ChannelService:
    return ChannelService(db_session(), service_context())


def _deliveries() -> DeliveryService:
    return DeliveryService(db_session(), service_context())


class _ShownOnce:
    """A channel with the secret this answer shows once."""

    def __init__(self, created: CreatedChannel) -> None:
        self._channel = created.channel
        self.secret = created.secret

    def __getattr__(self, name: str) -> object:
        return getattr(self._channel, name)


def _shown_once(created: CreatedChannel) -> _ShownOnce:
    return _ShownOnce(created)


@blp.route("/alerts")
class Alerts(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(AlertListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, AlertSchema(many=True))
    @blp.alt_response(404, response="not_found")  # a model filter naming no model
    def get(self, args: dict[str, Any]) -> list[Alert]:
        """List alerts, newest first (filter by model, status, severity, time)"""
        limit = args.pop("limit")
        return _alerts().list(AlertFilters(**args), limit=limit)


@blp.route("/alerts/bulk")
class AlertsBulk(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(BulkAlertsSchema)
    @blp.response(200, BulkResultSchema)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Acknowledge or resolve several alerts; each change audited, each refusal reported"""
        outcomes: list[BulkOutcome] = _alerts().bulk(args["ids"], args["action"], args["comment"])
        changed = sum(outcome.ok for outcome in outcomes)
        return {"changed": changed, "refused": len(outcomes) - changed, "results": outcomes}


@blp.route("/alerts/<int:alert_id>")
class AlertItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, AlertSchema)
    def get(self, alert_id: int) -> Alert:
        """Get an alert"""
        return _alerts().get(alert_id)


@blp.route("/alerts/<int:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(CommentSchema)
    @blp.response(200, AlertSchema)
    def post(self, args: dict[str, Any], alert_id: int) -> Alert:
        """Acknowledge an alert: no repeat notifications (audited)"""
        return _alerts().acknowledge(alert_id, args["comment"])


@blp.route("/alerts/<int:alert_id>/resolve")
class AlertResolve(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(CommentSchema)
    @blp.response(200, AlertSchema)
    def post(self, args: dict[str, Any], alert_id: int) -> Alert:
        """Resolve an alert by hand (audited)"""
        return _alerts().resolve(alert_id, args["comment"])


@blp.route("/alerts/<int:alert_id>/silence")
class AlertSilence(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(SilenceSchema)
    @blp.response(200, AlertSchema)
    def post(self, args: dict[str, Any], alert_id: int) -> Alert:
        """Silence an alert until a time (audited)"""
        return _alerts().silence(alert_id, args["until"], args["comment"])


@blp.route("/channels")
class Channels(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ChannelSchema(many=True))
    def get(self) -> list[Channel]:
        """List notification channels (secrets are never shown)"""
        return _channels().list()

    @requires(Role.ADMIN)
    @blp.arguments(ChannelCreateSchema)
    @blp.response(201, CreatedChannelSchema)
    def post(self, args: dict[str, Any]) -> _ShownOnce:
        """Create a channel; a generated webhook secret is returned this once (audited)"""
        return _shown_once(_channels().create(args))


@blp.route("/channels/<int:channel_id>")
class ChannelItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ChannelSchema)
    def get(self, channel_id: int) -> Channel:
        """Get a channel"""
        return _channels().get(channel_id)

    @requires(Role.ADMIN)
    @blp.arguments(ChannelUpdateSchema)
    @blp.response(200, CreatedChannelSchema)
    def patch(self, args: dict[str, Any], channel_id: int) -> _ShownOnce:
        """Change a channel or rotate its secret (audited, secrets never)"""
        return _shown_once(_channels().update(channel_id, args))

    @requires(Role.ADMIN)
    @blp.response(204)
    def delete(self, channel_id: int) -> None:
        """Delete a channel (audited)"""
        _channels().delete(channel_id)


@blp.route("/channels/<int:channel_id>/test")
class ChannelTest(MethodView):
    @requires(Role.ADMIN)
    @blp.response(202, DeliverySchema)
    def post(self, channel_id: int) -> Delivery:
        """Queue a test event to the channel; follow it in the delivery log"""
        return _channels().send_test(channel_id)


@blp.route("/models/<string:name>/default-channels")
class ModelDefaultChannels(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ChannelSchema(many=True))
    def get(self, name: str) -> list[Channel]:
        """The channels a model's monitors notify when they name none"""
        return _channels().model_defaults(name)

    @requires(Role.ADMIN)
    @blp.arguments(ModelChannelsSchema)
    @blp.response(200, ChannelSchema(many=True))
    def put(self, args: dict[str, Any], name: str) -> list[Channel]:
        """Set a model's default channels (audited)"""
        return _channels().set_model_defaults(name, args["channels"])


@blp.route("/deliveries")
class Deliveries(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(DeliveryListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, DeliverySchema(many=True))
    def get(self, args: dict[str, Any]) -> list[Delivery]:
        """The delivery log, newest first, with every attempt"""
        return _deliveries().list(**args)


@blp.route("/deliveries/<int:delivery_id>")
class DeliveryItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, DeliverySchema)
    def get(self, delivery_id: int) -> Delivery:
        """One delivery with its attempts"""
        return _deliveries().get(delivery_id)


@blp.route("/deliveries/<int:delivery_id>/redeliver")
class DeliveryRedeliver(MethodView):
    @requires(Role.ADMIN)
    @blp.response(202, DeliverySchema)
    def post(self, delivery_id: int) -> Delivery:
        """Send a delivered or failed notification again, with the same event id (audited)"""
        return _deliveries().redeliver(delivery_id)
