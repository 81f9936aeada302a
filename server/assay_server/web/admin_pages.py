"""Admin pages: tokens (create, revoke) and channels (create, test, rotate the secret, edit
the events, each model's default channels).

Every change goes through the service the API calls, so it is checked and audited the same
way. A secret (a new token, a channel's generated or rotated signing secret) is never kept
to be shown later: the answer to the form's POST shows it this once, with
``Cache-Control: no-store``, and no redirect carries it (a flash would put it in the cookie).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.wrappers import Response

from ..access import browser_page, requires
from ..alerts.channel_queries import default_channel_names
from ..alerts.channels import ChannelService
from ..alerts.models import CHANNEL_KINDS, ChannelKind
from ..alerts.schemas import ChannelCreateSchema, ChannelUpdateSchema, ModelChannelsSchema
from ..alerts.subscriptions import DEFAULT_EVENTS, DELIVERED_EVENTS
from ..auth.schemas import TokenCreateSchema
from ..auth.service import IssuedToken, TokenService
from ..errors import AssayError, ValidationFailed
from ..registry.service import RegistryService
from ..request_scope import db_session, service_context
from ..roles import ROLE_NAMES, Role
from .blueprint import bp, error_message

_SEPARATORS = re.compile(r"[\s,]+")
MAX_MODELS = 500


@dataclass(frozen=True)
class ShownOnce:
    """A secret this answer shows, and what it is for."""

    label: str
    secret: str


def _listed(name: str) -> list[str]:
    """A form field of names separated by commas, spaces or lines."""
    return [item for item in _SEPARATORS.split(request.form.get(name, "")) if item]


def _loaded(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields validated as the API validates its body."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed("", details=exc.normalized_messages()) from exc
    return loaded


def _attempt(apply: Callable[[], Any]) -> Any | None:
    """Apply a change; a refusal is rolled back and flashed, and None returned."""
    try:
        return apply()
    except AssayError as exc:
        db_session().rollback()
        flash(_explained(exc), "error")
        return None


def _explained(exc: AssayError) -> str:
    """The error's message and, for a form, what is wrong with each field."""
    if not exc.message or not exc.details:
        return error_message(exc)
    fields = error_message(AssayError("", details=exc.details))
    return f"{exc.message} {fields}"


def _shown_once_page(page: str) -> Response:
    """A page holding a secret: never cached. Its endpoint is one of the request scope's
    ``SECRET_RESPONSE_ENDPOINTS``, so an ``Idempotency-Key`` (a caller scripting these forms
    with a bearer token may send one) keeps only its status: the secret is never stored."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- tokens ---------------------------------------------------------------------------------


def _tokens_page(shown: ShownOnce | None = None) -> Response:
    ctx = service_context()
    page = render_template(
        "admin_tokens.html",
        tokens=TokenService(db_session(), ctx).list(),
        now=ctx.clock(),
        roles=ROLE_NAMES,
        shown=shown,
    )
    return _shown_once_page(page) if shown else make_response(page)


@bp.get("/admin/tokens")
@requires(Role.ADMIN)
@browser_page
def admin_tokens_page() -> Response:
    """Every token (never a secret), with forms to create and revoke."""
    return _tokens_page()


@bp.post("/admin/tokens")
@requires(Role.ADMIN)
@browser_page
def create_token() -> Response:
    """Issue a token (audited); its secret is on this answer only."""

    def issue() -> IssuedToken:
        args = _loaded(
            TokenCreateSchema(),
            {
                "name": request.form.get("name", "").strip(),
                "role": request.form.get("role", ""),
                "expires_days": request.form.get("expires_days", "").strip() or None,
            },
        )
        return TokenService(db_session(), service_context()).create(
            args["name"], args["role"], expires_days=args["expires_days"]
        )

    issued = _attempt(issue)
    if issued is None:
        return redirect(url_for("web.admin_tokens_page"))
    name, role = issued.token.name, issued.token.role
    flash(f"Token {name!r} ({role}) created; copy its secret now.", "ok")
    return _tokens_page(ShownOnce(f"the secret of the token {name!r}", issued.secret))


@bp.post("/admin/tokens/<int:token_id>/revoke")
@requires(Role.ADMIN)
@browser_page
def revoke_token(token_id: int) -> Response:
    """Revoke a token (audited); a revoked token stops working at once."""

    def revoke() -> str:
        return TokenService(db_session(), service_context()).revoke(token_id).name

    name = _attempt(revoke)
    if name is not None:
        flash(f"Token {name!r} revoked.", "ok")
    return redirect(url_for("web.admin_tokens_page"))


# -- channels -------------------------------------------------------------------------------


def _channels_page(shown: ShownOnce | None = None) -> Response:
    session, ctx = db_session(), service_context()
    models = RegistryService(session, ctx).list_models(limit=MAX_MODELS).items
    defaults = default_channel_names(session)
    page = render_template(
        "admin_channels.html",
        channels=ChannelService(session, ctx).list(),
        models=[(model.name, defaults.get(model.id, [])) for model in models],
        kinds=CHANNEL_KINDS,
        webhook=ChannelKind.WEBHOOK.value,
        default_events=DEFAULT_EVENTS,
        event_types=DELIVERED_EVENTS,
        shown=shown,
    )
    return _shown_once_page(page) if shown else make_response(page)


def _back_to_channels() -> Response:
    return redirect(url_for("web.admin_channels_page"))


@bp.get("/admin/channels")
@requires(Role.ADMIN)
@browser_page
def admin_channels_page() -> Response:
    """Channels with forms to create, test, rotate and edit, and each model's defaults."""
    return _channels_page()


@bp.post("/admin/channels")
@requires(Role.ADMIN)
@browser_page
def create_channel() -> Response:
    """Create a channel (audited); a generated webhook secret is on this answer only."""

    def create() -> ShownOnce | str:
        fields: dict[str, Any] = {
            "name": request.form.get("name", "").strip(),
            "kind": request.form.get("kind", ""),
            "url": request.form.get("url", "").strip() or None,
            "recipients": _listed("recipients"),
            "events": _listed("events") or list(DEFAULT_EVENTS),
            "models": _listed("models"),
        }
        if secret := request.form.get("secret", "").strip():
            fields["secret"] = secret
        created = ChannelService(db_session(), service_context()).create(
            _loaded(ChannelCreateSchema(), fields)
        )
        name = created.channel.name
        return (
            ShownOnce(f"the signing secret of {name!r}", created.secret) if created.secret else name
        )

    outcome = _attempt(create)
    if outcome is None:
        return _back_to_channels()
    if isinstance(outcome, ShownOnce):
        flash(f"Channel created; copy {outcome.label} now.", "ok")
        return _channels_page(outcome)
    flash(f"Channel {outcome!r} created.", "ok")
    return _back_to_channels()


@bp.post("/admin/channels/<int:channel_id>/test")
@requires(Role.ADMIN)
@browser_page
def test_channel(channel_id: int) -> Response:
    """Queue a test notification (audited); the delivery log shows how it went."""

    def send() -> int:
        return ChannelService(db_session(), service_context()).send_test(channel_id).id

    delivery_id = _attempt(send)
    if delivery_id is not None:
        flash(f"Test queued as delivery #{delivery_id}; see Deliveries.", "ok")
    return _back_to_channels()


@bp.post("/admin/channels/<int:channel_id>/rotate")
@requires(Role.ADMIN)
@browser_page
def rotate_channel_secret(channel_id: int) -> Response:
    """A new signing secret (the old one stays valid 24 hours), on this answer only."""

    def rotate() -> ShownOnce:
        updated = ChannelService(db_session(), service_context()).update(
            channel_id, {"rotate_secret": True}
        )
        assert updated.secret is not None  # a rotation without a secret given generates one
        return ShownOnce(f"the new signing secret of {updated.channel.name!r}", updated.secret)

    shown = _attempt(rotate)
    if shown is None:
        return _back_to_channels()
    flash("Secret rotated; the previous one stays valid for 24 hours.", "ok")
    return _channels_page(shown)


@bp.post("/admin/channels/<int:channel_id>/events")
@requires(Role.ADMIN)
@browser_page
def set_channel_events(channel_id: int) -> Response:
    """Change the event types a channel subscribes to (audited)."""

    def change() -> str:
        events = _loaded(ChannelUpdateSchema(), {"events": _listed("events")})
        service = ChannelService(db_session(), service_context())
        return service.update(channel_id, events).channel.name

    name = _attempt(change)
    if name is not None:
        flash(f"Events of {name!r} saved.", "ok")
    return _back_to_channels()


@bp.post("/admin/channels/defaults")
@requires(Role.ADMIN)
@browser_page
def set_default_channels() -> Response:
    """Set the channels a model's monitors notify when they name none (audited)."""
    model = request.form.get("model", "")

    def change() -> list[str]:
        names = _loaded(ModelChannelsSchema(), {"channels": request.form.getlist("channels")})
        service = ChannelService(db_session(), service_context())
        return [channel.name for channel in service.set_model_defaults(model, names["channels"])]

    names = _attempt(change)
    if names is not None:
        flash(f"Default channels of {model!r}: {', '.join(names) or 'none'}.", "ok")
    return _back_to_channels()
