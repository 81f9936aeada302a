"""The plain HTML pages: sign in with a token, see the models."""

from __future__ import annotations


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
    signed_in = client.post("/login?next=/", data={"token": token_for("viewer", "auditor")})
    assert signed_in.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "churn" in page and "retail" in page and "auditor" in page
    assert "old" not in page
    assert "old" in client.get("/?archived=1").get_data(as_text=True)


def test_a_wrong_token_shows_an_error_and_no_session(client):
    page = client.post("/login", data={"token": "asy_wrong"}).get_data(as_text=True)
    assert "Invalid API token." in page
    assert client.get("/").status_code == 302


def test_login_never_redirects_off_site(client, token_for):
    response = client.post("/login?next=https://evil.example/", data={"token": token_for("viewer")})
    assert response.headers["Location"] == "/"


def test_signing_out_forgets_the_token(client, token_for):
    client.post("/login", data={"token": token_for("viewer")})
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_a_revoked_token_ends_the_browser_session(client, token_for, admin_headers):
    secret = token_for("viewer", "soon-revoked")
    client.post("/login", data={"token": secret})
    token_id = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json[
        "token_id"
    ]
    client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin_headers)
    assert client.get("/").status_code == 302
