"""The admin pages: tokens (a secret shown once, revoking) and channels (create, test, rotate,
events, each model's defaults), all through the API's services and so audited; admins only."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from assay_server.alerts.signing import generate_secret
from assay_server.idempotency import IdempotencyKey
from tests.api.factories import API, create_model

from .html_tables import table_rows

SECRET_INPUT = re.compile(r'<input id="shown-secret" class="secret" readonly value="([^"]+)">')


def _api(client: Any, headers: dict[str, str], path: str, **query: Any) -> Any:
    response = client.get(f"{API}{path}", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _flashes(page: str) -> list[str]:
    found = re.findall(r'<p class="flash flash-(\w+)" role="status">([^<]*)</p>', page)
    return [(category, html.unescape(text)) for category, text in found]


def _shown_secret(page: str) -> str | None:
    match = SECRET_INPUT.search(page)
    return match.group(1) if match else None


def _audited(client: Any, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    return _api(client, headers, "/audit", action=action)["items"]


@pytest.fixture
def admin(signed_in: Any) -> Any:
    return signed_in("admin", "root")


@pytest.fixture
def api_headers(headers_for: Any) -> dict[str, str]:
    return headers_for("admin", "api-admin")


@pytest.mark.parametrize("role", ["viewer", "contributor", "approver"])
def test_only_admins_see_or_use_the_admin_pages(signed_in, role):
    person = signed_in(role, f"a-{role}")
    for path in ("/admin/tokens", "/admin/channels"):
        response = person.get(path)
        assert response.status_code == 403
        assert "needs the admin role" in response.get_data(as_text=True)
    for path in ("/admin/tokens", "/admin/channels", "/admin/channels/defaults"):
        assert person.post(path, data={"name": "x", "role": "admin"}).status_code == 403


# tokens -----------------------------------------------------------------------------------


def test_a_new_tokens_secret_is_shown_once_and_works(admin, client, api_headers):
    created = admin.post("/admin/tokens", data={"name": "ci bot", "role": "contributor"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    secret = _shown_secret(page)
    assert secret and secret.startswith("asy_")
    assert ("ok", "Token 'ci bot' (contributor) created; copy its secret now.") in _flashes(page)
    whoami = _api(client, {"Authorization": f"Bearer {secret}"}, "/whoami")
    assert (whoami["name"], whoami["role"]) == ("ci bot", "contributor")

    again = admin.get("/admin/tokens").get_data(as_text=True)
    assert secret not in again and _shown_secret(again) is None
    [row] = [row for row in table_rows(again, "tokens") if row.cells[1] == "ci bot"]
    assert row.cells[2:5] == ["contributor", f"{secret[:8]}…{secret[-4:]}", "active"]
    [event] = _audited(client, api_headers, "token.created")[-1:]
    assert (event["actor_name"], event["payload"]["name"]) == ("root", "ci bot")
    assert secret not in str(event)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "<b>", "role": "viewer"}, "name: 1–100 characters"),
        ({"name": "ok", "role": "overlord"}, "role: Must be one of"),
        ({"name": "ok", "role": "viewer", "expires_days": "0"}, "expires_days:"),
    ],
)
def test_a_refused_token_form_says_why_and_makes_nothing(admin, client, api_headers, form, message):
    before = len(_api(client, api_headers, "/tokens"))
    response = admin.post("/admin/tokens", data=form)
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    [(category, text)] = _flashes(page)
    assert category == "error" and message in text
    assert len(_api(client, api_headers, "/tokens")) == before


def test_revoking_a_token_stops_it_at_once(admin, client, api_headers, token_for):
    secret = token_for("viewer", "leaver")
    [token] = [t for t in _api(client, api_headers, "/tokens") if t["name"] == "leaver"]
    response = admin.post(f"/admin/tokens/{token['id']}/revoke")
    assert response.status_code == 302
    page = admin.get("/admin/tokens").get_data(as_text=True)
    assert ("ok", "Token 'leaver' revoked.") in _flashes(page)
    row = next(row for row in table_rows(page, "tokens") if row.id == f"token-{token['id']}")
    assert row.cells[4] == "revoked by root"
    assert "Revoke token" not in str(row.cells)
    refused = client.get(f"{API}/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    assert _audited(client, api_headers, "token.revoked")[-1]["actor_name"] == "root"
    missing = admin.post("/admin/tokens/999999/revoke")
    assert ("error", "No token with id 999999.") in _flashes(
        admin.get(missing.headers["Location"]).get_data(as_text=True)
    )


# channels ---------------------------------------------------------------------------------


def _create_webhook(admin: Any, name: str = "ops", **fields: str) -> Any:
    form = {"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/assay", **fields}
    return admin.post("/admin/channels", data=form)


def _channel(client: Any, headers: dict[str, str], name: str) -> dict[str, Any]:
    [channel] = [c for c in _api(client, headers, "/channels") if c["name"] == name]
    return channel


def test_a_webhook_made_without_a_secret_shows_the_generated_one_once(admin, client, api_headers):
    created = _create_webhook(admin, events="alert.*, promotion.*")
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = _shown_secret(created.get_data(as_text=True))
    assert secret
    channel = _channel(client, api_headers, "ops")
    assert (channel["signed"], channel["events"]) == (True, ["alert.*", "promotion.*"])
    page = admin.get("/admin/channels").get_data(as_text=True)
    assert secret not in page
    [row] = table_rows(page, "channels")
    assert row.cells[:3] == ["ops", "webhook signed", "http://127.0.0.1:9/assay"]
    [event] = _audited(client, api_headers, "channel.created")
    assert event["actor_name"] == "root" and secret not in str(event)


def test_a_channel_with_its_own_secret_or_of_another_kind_redirects_with_a_flash(
    admin, client, api_headers
):
    given = _create_webhook(admin, "signed", secret=generate_secret())
    assert given.status_code == 302
    page = admin.get(given.headers["Location"]).get_data(as_text=True)
    assert ("ok", "Channel 'signed' created.") in _flashes(page)
    mail = {"name": "mail", "kind": "email", "recipients": "a@example.com\nb@example.com"}
    assert admin.post("/admin/channels", data=mail).status_code == 302
    assert _channel(client, api_headers, "mail")["recipients"] == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "s", "kind": "slack"}, "url: A slack channel needs a url."),
        ({"name": "m", "kind": "email"}, "recipients: An email channel needs recipients."),
        ({"name": "w", "kind": "webhook", "url": "ftp://x"}, "url:"),
        (
            {"name": "w", "kind": "webhook", "url": "http://127.0.0.1:9/", "events": "nope"},
            "events:",
        ),
    ],
)
def test_a_refused_channel_form_says_why_and_makes_nothing(
    admin, client, api_headers, form, message
):
    response = admin.post("/admin/channels", data=form)
    assert response.status_code == 302
    [(category, text)] = _flashes(admin.get(response.headers["Location"]).get_data(as_text=True))
    assert category == "error" and message in text
    assert _api(client, api_headers, "/channels") == []


def test_testing_a_channel_queues_a_delivery(admin, client, api_headers):
    _create_webhook(admin)
    channel = _channel(client, api_headers, "ops")
    response = admin.post(f"/admin/channels/{channel['id']}/test")
    assert response.status_code == 302
    [delivery] = _api(client, api_headers, "/deliveries", channel="ops")
    assert delivery["event_type"] == "test"
    page = admin.get("/admin/channels").get_data(as_text=True)
    assert ("ok", f"Test queued as delivery #{delivery['id']}; see Deliveries.") in _flashes(page)
    assert _audited(client, api_headers, "channel.tested")[-1]["actor_name"] == "root"


def test_rotating_a_secret_shows_the_new_one_once(admin, client, api_headers):
    first = _shown_secret(_create_webhook(admin).get_data(as_text=True))
    channel = _channel(client, api_headers, "ops")
    rotated = admin.post(f"/admin/channels/{channel['id']}/rotate")
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    second = _shown_secret(rotated.get_data(as_text=True))
    assert second and second != first
    [event] = _audited(client, api_headers, "channel.updated")
    assert event["payload"]["changes"]["secret"] == {"rotated": True}
    assert second not in str(event)
    assert second not in admin.get("/admin/channels").get_data(as_text=True)


def test_editing_a_channels_events_checks_them_as_the_api_does(admin, client, api_headers):
    _create_webhook(admin)
    channel = _channel(client, api_headers, "ops")
    saved = admin.post(
        f"/admin/channels/{channel['id']}/events", data={"events": "stage.changed *"}
    )
    assert saved.status_code == 302
    assert _channel(client, api_headers, "ops")["events"] == ["stage.changed", "*"]
    assert ("ok", "Events of 'ops' saved.") in _flashes(admin.get("/admin/channels").text)
    admin.post(f"/admin/channels/{channel['id']}/events", data={"events": "no.such"})
    [(category, text)] = _flashes(admin.get("/admin/channels").get_data(as_text=True))
    assert category == "error" and "No event type is named 'no.such'" in text
    assert _channel(client, api_headers, "ops")["events"] == ["stage.changed", "*"]


def test_a_models_default_channels_are_set_from_its_row(admin, client, api_headers):
    create_model(client, api_headers, "churn")
    _create_webhook(admin, "ops")
    _create_webhook(admin, "oncall")
    form = {"model": "churn", "channels": ["ops", "oncall"]}
    assert admin.post("/admin/channels/defaults", data=form).status_code == 302
    defaults = _api(client, api_headers, "/models/churn/default-channels")
    assert [channel["name"] for channel in defaults] == ["oncall", "ops"]
    page = admin.get("/admin/channels").get_data(as_text=True)
    assert ("ok", "Default channels of 'churn': ops, oncall.") in _flashes(page)
    assert page.count('name="channels" value="ops" checked') == 1
    assert _audited(client, api_headers, "model.default_channels_set")[-1]["actor_name"] == "root"

    admin.post("/admin/channels/defaults", data={"model": "churn"})
    assert _api(client, api_headers, "/models/churn/default-channels") == []
    assert ("ok", "Default channels of 'churn': none.") in _flashes(
        admin.get("/admin/channels").text
    )
    admin.post("/admin/channels/defaults", data={"model": "nope", "channels": ["ops"]})
    [(category, text)] = _flashes(admin.get("/admin/channels").get_data(as_text=True))
    assert category == "error" and "nope" in text


def test_a_secret_shown_once_is_never_kept_on_an_idempotency_key(client, db, api_headers):
    """A script may post these forms with a bearer token and an Idempotency-Key: the key
    keeps the status, never the page with the secret."""
    headers = {**api_headers, "Idempotency-Key": "make-ci-token"}
    created = client.post("/admin/tokens", data={"name": "ci", "role": "viewer"}, headers=headers)
    assert created.status_code == 200
    secret = _shown_secret(created.get_data(as_text=True))
    assert secret
    with db.unit_of_work(write=False) as session:
        [kept] = session.scalars(select(IdempotencyKey))
        assert (kept.status_code, kept.response_body) == (200, None)
    replay = client.post("/admin/tokens", data={"name": "ci", "role": "viewer"}, headers=headers)
    assert replay.status_code == 409  # the request succeeded; its secret is not to be had again
    assert "its response was not kept" in replay.get_data(as_text=True)
    assert secret not in replay.get_data(as_text=True)
    assert [t["name"] for t in _api(client, api_headers, "/tokens")].count("ci") == 1


def test_no_page_showing_a_channels_secret_is_kept_on_an_idempotency_key(client, db, api_headers):
    created = client.post(
        "/admin/channels",
        data={"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/assay"},
        headers={**api_headers, "Idempotency-Key": "make-ops-channel"},
    )
    channel = _channel(client, api_headers, "ops")
    rotated = client.post(
        f"/admin/channels/{channel['id']}/rotate",
        headers={**api_headers, "Idempotency-Key": "rotate-ops-secret"},
    )
    secrets = [_shown_secret(page.get_data(as_text=True)) for page in (created, rotated)]
    assert all(secrets) and secrets[0] != secrets[1]
    with db.unit_of_work(write=False) as session:
        kept = {
            key.key: (key.status_code, key.response_body)
            for key in session.scalars(select(IdempotencyKey))
        }
    assert kept == {"make-ops-channel": (200, None), "rotate-ops-secret": (200, None)}
