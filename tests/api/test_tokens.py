"""API tokens: shown once, stored hashed, expiring, revocable, audited."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.commits  # reads the stored rows on a connection of its own


def _create(client, headers, **body):
    return client.post(
        "/api/v1/tokens", json={"name": "ci", "role": "viewer", **body}, headers=headers
    )


def test_a_new_token_is_shown_once_and_listed_without_its_secret(client, admin_headers):
    created = _create(client, admin_headers)
    assert created.status_code == 201
    secret = created.json["token"]
    assert re.fullmatch(r"asy_[0-9A-Za-z]{43}", secret)
    assert created.json["display"] == f"{secret[:8]}…{secret[-4:]}"
    listing = client.get("/api/v1/tokens", headers=admin_headers)
    assert secret not in listing.get_data(as_text=True)
    assert all("token" not in row for row in listing.json)


def test_only_the_sha256_of_a_token_is_stored(client, admin_headers, db):
    secret = _create(client, admin_headers).json["token"]
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM tokens")).mappings().all()
        events = connection.execute(text("SELECT payload FROM audit_events")).all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert secret not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert all(secret not in str(event) for event in events)


def test_a_token_works_until_it_expires(client, token_for, clock):
    headers = {"Authorization": f"Bearer {token_for('viewer', 'short', expires_days=1)}"}
    assert client.get("/api/v1/whoami", headers=headers).status_code == 200
    clock.advance(days=1, seconds=1)
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json["error"]["message"]


def test_a_revoked_token_is_refused_and_the_revocation_audited(client, admin_headers):
    created = _create(client, admin_headers, name="leaked").json
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/whoami", headers=headers).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=admin_headers)
    assert revoked.json["status"] == "revoked"
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json["error"]["message"]
    events = client.get("/api/v1/audit?action=token.revoked", headers=admin_headers).json
    assert [e["target_id"] for e in events["items"]] == [str(created["id"])]
    assert events["items"][0]["actor_name"] == "root"


def test_revoking_twice_writes_one_event(client, admin_headers):
    token_id = _create(client, admin_headers).json["id"]
    for _ in range(2):
        assert (
            client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin_headers).status_code
            == 200
        )
    events = client.get("/api/v1/audit?action=token.revoked", headers=admin_headers).json
    assert events["total"] == 1


def test_whoami_names_the_calling_token(client, token_for):
    secret = token_for("approver", "risk-officer")
    body = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json
    assert body["name"] == "risk-officer"
    assert body["role"] == "approver"
    assert body["expires_at"] is None


def test_token_creation_rejects_unknown_roles_and_bad_lifetimes(client, admin_headers):
    for body, field in [
        ({"role": "superuser"}, "role"),
        ({"expires_days": 0}, "expires_days"),
        ({"expires_days": "soon"}, "expires_days"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
    ]:
        response = _create(client, admin_headers, **body)
        assert response.status_code == 422, body
        assert field in response.json["error"]["details"]


def test_unknown_token_id_is_not_found(client, admin_headers):
    response = client.post("/api/v1/tokens/999999/revoke", headers=admin_headers)
    assert response.status_code == 404


def test_a_token_name_with_a_trailing_newline_is_refused(client, admin_headers):
    response = _create(client, admin_headers, name="ci-bot\n")
    assert response.status_code == 422
    assert "name" in response.json["error"]["details"]
