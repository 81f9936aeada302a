"""Signing in to the UI with a token: a server-side session whose id is all the cookie holds,
ended by signing out, by its token's revocation or expiry, and by its idle and absolute
lifetimes; both ends of it in the audit trail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from assay_server.app import create_app
from assay_server.auth.models import UiSession
from assay_server.auth.sessions import hash_session_id
from tests.api.factories import API

from .forms import FormClient, sign_in

COOKIE = "session"


def _cookie(client: Any) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def _session_in(app: Any, cookie: str) -> dict[str, Any]:
    """What the signed session cookie holds (it is signed, not encrypted: anyone can read it)."""
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie))


def _whoami(client: Any, secret: str) -> dict[str, Any]:
    return client.get(f"{API}/whoami", headers={"Authorization": f"Bearer {secret}"}).json


def _audit(client: Any, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    return client.get(f"{API}/audit", headers=headers, query_string={"action": action}).json[
        "items"
    ]


def _refused(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


# signing in ------------------------------------------------------------------------------


def test_the_model_list_needs_a_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_signing_in_with_a_token_shows_the_models(client, token_for, admin_headers):
    client.post(
        "/api/v1/models",
        json={"name": "churn", "task": "binary_classification", "tags": ["retail"]},
        headers=admin_headers,
    )
    client.post("/api/v1/models", json={"name": "old", "task": "regression"}, headers=admin_headers)
    client.post("/api/v1/models/old/archive", headers=admin_headers)
    browser = sign_in(client, token_for("viewer", "auditor"), next_path="/")
    page = browser.get("/").get_data(as_text=True)
    assert "churn" in page and "retail" in page and "auditor" in page
    assert 'href="/models/old"' not in page  # archived: listed only when asked for
    assert 'href="/models/old"' in browser.get("/?archived=1").get_data(as_text=True)


def test_a_wrong_token_shows_an_error_and_no_session(client, db):
    page = FormClient(client).post("/login", data={"token": "asy_wrong"}).get_data(as_text=True)
    assert "Invalid API token." in page
    assert client.get("/").status_code == 302
    with db.unit_of_work(write=False) as session:
        assert session.scalars(select(UiSession)).all() == []


def test_login_never_redirects_off_site(client, token_for):
    response = FormClient(client).post(
        "/login?next=https://evil.example/", data={"token": token_for("viewer")}
    )
    assert response.headers["Location"] == "/"


def test_the_session_cookie_holds_a_session_id_never_the_token(app, client, token_for, db):
    secret = token_for("admin", "root")
    browser = sign_in(client, secret)
    cookie = _cookie(browser)
    held = _session_in(app, cookie)
    assert secret not in cookie and secret not in json.dumps(held)
    session_id = held["ui_session"]
    assert set(held) <= {"ui_session", "csrf_token", "_flashes"}
    with db.unit_of_work(write=False) as session:
        [stored] = session.scalars(select(UiSession)).all()
    assert stored.session_hash == hash_session_id(session_id) != session_id
    assert stored.token_id == _whoami(client, secret)["token_id"]
    assert stored.ended_at is None


def test_a_cookie_holding_a_token_as_older_versions_wrote_it_signs_nobody_in(client, token_for):
    with client.session_transaction() as session:
        session["token"] = token_for("admin", "root")
    assert _refused(client.get("/"))
    with client.session_transaction() as session:
        assert "token" not in session  # and it is dropped from the browser


def test_the_session_cookie_never_opens_the_api(client, token_for):
    browser = sign_in(client, token_for("admin", "root"))
    assert browser.get("/").status_code == 200
    response = browser.get(f"{API}/whoami")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"
    created = browser.client.post(f"{API}/models", json={"name": "churn", "task": "regression"})
    assert created.status_code == 401


# how a session ends ----------------------------------------------------------------------


def test_signing_out_ends_the_session(client, token_for):
    browser = sign_in(client, token_for("viewer"))
    assert browser.get("/").status_code == 200
    assert browser.post("/logout").headers["Location"] == "/login"
    assert _refused(browser.get("/"))


def test_a_copy_of_the_cookie_signs_nobody_in_after_sign_out(app, client, token_for):
    browser = sign_in(client, token_for("viewer", "ann"))
    copied = _cookie(browser)
    browser.post("/logout")

    thief = app.test_client()
    thief.set_cookie(COOKIE, copied)
    bounced = thief.get("/alerts")
    assert _refused(bounced)
    login = thief.get(bounced.headers["Location"]).get_data(as_text=True)
    assert "You signed out; sign in again." in login


def test_signing_in_again_ends_the_session_before(app, client, token_for):
    browser = sign_in(client, token_for("viewer", "ann"))
    copied = _cookie(browser)
    sign_in(browser, token_for("admin", "bob"))
    assert 'id="signed-in-as">bob</strong>' in browser.get("/").get_data(as_text=True)
    thief = app.test_client()
    thief.set_cookie(COOKIE, copied)
    assert _refused(thief.get("/"))


def test_a_revoked_token_ends_the_browser_session(client, token_for, admin_headers):
    secret = token_for("viewer", "soon-revoked")
    browser = sign_in(client, secret)
    assert browser.get("/").status_code == 200
    token_id = _whoami(client, secret)["token_id"]
    client.post(f"{API}/tokens/{token_id}/revoke", headers=admin_headers)
    bounced = browser.get("/")
    assert _refused(bounced)
    assert "has been revoked" in browser.get(bounced.headers["Location"]).get_data(True)


def test_the_tokens_expiry_ends_the_session_at_once(client, token_for, clock):
    browser = sign_in(client, token_for("viewer", expires_days=0.01))  # 14.4 minutes
    clock.advance(minutes=14)
    assert browser.get("/").status_code == 200
    clock.advance(minutes=1)
    assert _refused(browser.get("/"))


def test_a_session_ends_after_an_hour_without_a_page(client, token_for, clock):
    browser = sign_in(client, token_for("viewer"))
    for _ in range(3):  # each page counts as use
        clock.advance(minutes=59)
        assert browser.get("/").status_code == 200
    clock.advance(minutes=60)
    assert _refused(browser.get("/"))


def test_a_session_ends_twelve_hours_after_sign_in_however_much_it_is_used(
    client, token_for, clock
):
    browser = sign_in(client, token_for("viewer"))
    for _ in range(23):
        clock.advance(minutes=30)
        assert browser.get("/").status_code == 200
    clock.advance(minutes=30)
    assert _refused(browser.get("/"))


def test_the_lifetimes_are_settings(settings, db, clock, token_for):
    app = create_app(
        settings.with_overrides(ui_session_idle_minutes=5, ui_session_hours=0.25),
        database=db,
        clock=clock,
    )
    idle = sign_in(app.test_client(), token_for("viewer"))
    clock.advance(minutes=5)
    assert _refused(idle.get("/"))
    busy = sign_in(app.test_client(), token_for("viewer"))
    for _ in range(3):
        clock.advance(minutes=4)
        assert busy.get("/").status_code == 200
    clock.advance(minutes=4)  # 16 minutes after sign-in
    assert _refused(busy.get("/"))


def test_an_unknown_session_id_is_refused(client):
    with client.session_transaction() as session:
        session["ui_session"] = "made-up"
    assert _refused(client.get("/"))


# the audit trail -------------------------------------------------------------------------


def test_signing_in_and_out_are_audited_as_the_tokens_holder(client, token_for, admin_headers):
    secret = token_for("contributor", "on-call")
    token_id = _whoami(client, secret)["token_id"]
    browser = sign_in(client, secret)
    browser.post("/logout")
    browser.post("/logout")  # once signed out, signing out again records nothing
    [signed_in] = _audit(client, admin_headers, "ui_session.signed_in")
    [signed_out] = _audit(client, admin_headers, "ui_session.signed_out")
    for event in (signed_in, signed_out):
        assert (event["actor_name"], event["actor_token_id"]) == ("on-call", token_id)
        assert event["target_type"] == "ui_session" and event["request_id"]
    assert signed_in["target_id"] == signed_out["target_id"]
    assert signed_in["payload"]["expires_at"].startswith("2026-11-23T21:00:00")
    assert signed_in["payload"]["idle_minutes"] == 60
    assert client.get(f"{API}/audit/verify", headers=admin_headers).json["ok"]


# the cookie ------------------------------------------------------------------------------


def _set_cookie(response: Any) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    return header


@pytest.mark.parametrize(("public_url", "secure"), [("", False), ("https://assay.example", True)])
def test_the_cookie_is_http_only_same_site_lax_and_secure_behind_https(
    settings, db, clock, token_for, public_url, secure
):
    app = create_app(settings.with_overrides(public_url=public_url), database=db, clock=clock)
    browser = FormClient(app.test_client())
    response = browser.post("/login", data={"token": token_for("viewer")})
    assert response.status_code == 302
    attributes = {part.strip().split("=")[0].lower() for part in _set_cookie(response).split(";")}
    assert {"httponly", "samesite"} <= attributes
    assert "SameSite=Lax" in _set_cookie(response)
    assert ("secure" in attributes) is secure
