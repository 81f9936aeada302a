"""Notification channels (admin): create, change, delete, test; a model's default channels.

Channel secrets and passwords are write-only: they are stored, used to sign and send, and
never returned nor written to the audit trail: a channel's URL is only ever shown masked
(:mod:`.masking`), a signing secret only as whether one is set. An admin replaces a secret
URL by sending a whole new one; a masked URL sent back is refused.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, ValidationFailed
from ..registry.models import RegisteredModel
from ..registry.service import RegistryService
from .masking import is_masked, masked_url
from .models import Channel, ChannelKind, Delivery, DeliveryAttempt, ModelDefaultChannel
from .outbox import new_event_id, queue_notification
from .render import Notification
from .signing import decode_secret, generate_secret
from .subscriptions import DEFAULT_EVENTS, DELIVERED_EVENTS, invalid_patterns
from .targets import check_webhook_target

ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class CreatedChannel:
    """A new channel, with its webhook secret shown this once (generated when not given)."""

    channel: Channel
    secret: str | None


class ChannelService:
    """Channels (admin): create, change, delete, test; model defaults."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def create(self, spec: dict[str, Any]) -> CreatedChannel:
        """Create a channel; a webhook without a secret gets a generated one, returned once."""
        if self.session.scalar(select(Channel.id).where(Channel.name == spec["name"])):
            raise Conflict(f"A channel named {spec['name']!r} exists.")
        kind = spec["kind"]
        secret = spec.get("secret")
        if kind == ChannelKind.WEBHOOK.value and not secret:
            secret = generate_secret()
        now = self.ctx.clock()
        channel = Channel(
            name=spec["name"],
            kind=kind,
            url=spec.get("url"),
            recipients=list(spec.get("recipients") or []),
            events=list(spec.get("events") or DEFAULT_EVENTS),
            models=list(spec.get("models") or []),
            secrets=[secret] if secret else [],
            created_at=now,
            created_by=self.ctx.actor.name,
            updated_at=now,
        )
        self._check(channel)
        self.session.add(channel)
        self.session.flush()
        self._audit(channel, "channel.created", {"channel": describe(channel)})
        generated = secret if kind == ChannelKind.WEBHOOK.value and not spec.get("secret") else None
        return CreatedChannel(channel, generated)

    def update(self, channel_id: int, changes: dict[str, Any]) -> CreatedChannel:
        """Change a channel. A new ``secret`` (or ``rotate_secret``) keeps the old one valid
        for 24 hours, so receivers can switch over; a generated secret is returned once."""
        channel = self.get(channel_id)
        before = describe(channel)
        generated = None
        rotate = changes.pop("rotate_secret", False)
        secret = changes.pop("secret", None)
        if rotate and not secret:
            secret = generated = generate_secret()
        if secret:
            if channel.kind != ChannelKind.WEBHOOK.value:
                raise ValidationFailed("", details={"secret": ["Only webhooks are signed."]})
            channel.secrets = [secret, *channel.secrets[:1]]
            channel.previous_secret_expires_at = self.ctx.clock() + ROTATION_OVERLAP
        url_replaced = "url" in changes and changes["url"] != channel.url
        renamed = changes.get("name", channel.name) != channel.name
        if renamed and self.session.scalar(
            select(Channel.id).where(Channel.name == changes["name"])
        ):
            raise Conflict(f"A channel named {changes['name']!r} exists.")
        for key, value in changes.items():
            setattr(channel, key, value)
        self._check(channel)
        channel.updated_at = self.ctx.clock()
        after = describe(channel)
        changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if url_replaced:
            # the masked URLs may read the same (a new Slack URL): say it was replaced
            changed["url"] = {"from": before["url"], "to": after["url"], "replaced": True}
        if secret:
            changed["secret"] = {"rotated": True}
        self._audit(channel, "channel.updated", {"changes": changed})
        return CreatedChannel(channel, generated)

    def delete(self, channel_id: int) -> None:
        """Delete a channel; its delivery history goes with it."""
        channel = self.get(channel_id)
        description = describe(channel)
        deliveries = select(Delivery.id).where(Delivery.channel_id == channel.id)
        self.session.execute(
            delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries))
        )
        self.session.execute(delete(Delivery).where(Delivery.channel_id == channel.id))
        self.session.execute(
            delete(ModelDefaultChannel).where(ModelDefaultChannel.channel_id == channel.id)
        )
        self.session.delete(channel)
        self.session.flush()
        AuditTrail(self.session, self.ctx).append(
            "channel.deleted", "channel", description["name"], {"channel": description}
        )

    def get(self, channel_id: int) -> Channel:
        """One channel, or :class:`NotFound`."""
        channel = self.session.get(Channel, channel_id)
        if channel is None:
            raise NotFound(f"No channel {channel_id}.")
        return channel

    def by_name(self, name: str) -> Channel:
        """One channel by name, or :class:`NotFound`."""
        channel = self.session.scalar(select(Channel).where(Channel.name == name))
        if channel is None:
            raise NotFound(f"No channel named {name!r}.")
        return channel

    def list(self) -> builtins.list[Channel]:
        """Every channel, by name."""
        return list(self.session.scalars(select(Channel).order_by(Channel.name)))

    def send_test(self, channel_id: int) -> Delivery:
        """Queue a ``test`` event to the channel (delivered by the outbox like any other)."""
        channel = self.get(channel_id)
        notification = Notification(
            event_id=new_event_id(),
            type="test",
            occurred_at=self.ctx.clock(),
            model=None,
            version=None,
            check=None,
            subject=None,
            severity=None,
            status=None,
            summary=(
                f"A test of channel {channel.name!r} from Assay, sent by {self.ctx.actor.name}."
            ),
        )
        delivery = queue_notification(self.session, self.ctx, channel, notification)
        self._audit(channel, "channel.tested", {"delivery_id": delivery.id})
        return delivery

    def set_model_defaults(
        self, model_name: str, names: builtins.list[str]
    ) -> builtins.list[Channel]:
        """The channels every monitor of the model notifies when it names none (audited)."""
        model: RegisteredModel = RegistryService(self.session, self.ctx).get_model(model_name)
        channels = [self.by_name(name) for name in dict.fromkeys(names)]
        self.session.execute(
            delete(ModelDefaultChannel).where(ModelDefaultChannel.model_id == model.id)
        )
        for channel in channels:
            self.session.add(ModelDefaultChannel(model_id=model.id, channel_id=channel.id))
        self.session.flush()
        AuditTrail(self.session, self.ctx).append(
            "model.default_channels_set",
            "model",
            model.name,
            {"channels": [c.name for c in channels]},
        )
        return channels

    def model_defaults(self, model_name: str) -> builtins.list[Channel]:
        """A model's default channels."""
        model = RegistryService(self.session, self.ctx).get_model(model_name)
        return list(
            self.session.scalars(
                select(Channel)
                .join(ModelDefaultChannel, ModelDefaultChannel.channel_id == Channel.id)
                .where(ModelDefaultChannel.model_id == model.id)
                .order_by(Channel.name)
            )
        )

    def _check(self, channel: Channel) -> None:
        problems: dict[str, list[str]] = {}
        if channel.kind in (ChannelKind.WEBHOOK.value, ChannelKind.SLACK.value):
            if not channel.url:
                problems["url"] = [f"A {channel.kind} channel needs a url."]
            elif is_masked(channel.url):
                problems["url"] = [
                    "This is the masked URL the API shows; send the whole URL to replace it, "
                    "or leave url out to keep it."
                ]
            else:
                try:
                    check_webhook_target(
                        channel.url, allow_private=self.ctx.settings.webhook_allow_private
                    )
                except ValueError as exc:
                    problems["url"] = [str(exc)]
        if channel.kind == ChannelKind.EMAIL.value and not channel.recipients:
            problems["recipients"] = ["An email channel needs recipients."]
        unknown = invalid_patterns(channel.events)
        if unknown or not channel.events:
            problems["events"] = [
                f"No event type is named {', '.join(map(repr, unknown))}; the types are "
                f"{', '.join(DELIVERED_EVENTS)} (or a family as 'promotion.*', or '*')."
            ]
        for secret in channel.secrets[:1]:
            try:
                decode_secret(secret)
            except ValueError as exc:
                problems["secret"] = [str(exc)]
        if problems:
            raise ValidationFailed("The channel is not valid.", details=problems)

    def _audit(self, channel: Channel, action: str, payload: dict[str, Any]) -> None:
        AuditTrail(self.session, self.ctx).append(
            action, "channel", channel.name, {"channel_id": channel.id, **payload}
        )


def describe(channel: Channel) -> dict[str, Any]:
    """A channel as audited: its URL masked, never its secrets, only whether one is set."""
    return {
        "name": channel.name,
        "kind": channel.kind,
        "url": masked_url(channel.kind, channel.url),
        "url_host": _host(channel.url),
        "recipients": list(channel.recipients or []),
        "events": list(channel.events or []),
        "models": list(channel.models or []),
        "signed": channel.has_secret,
    }


def _host(url: str | None) -> str | None:
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:
        return None
