"""Tokens through the SDK: who am I, create, list without secrets, revoke."""

from __future__ import annotations

from typing import Any

import pytest

import assay


def test_whoami_describes_the_calling_token(admin_client: assay.Client) -> None:
    identity = admin_client.whoami()

    assert isinstance(identity, assay.Identity)
    assert identity.role == "admin"
    assert identity.name


def test_a_created_token_shows_its_secret_once_and_works(
    admin_client: assay.Client, live_server: Any
) -> None:
    created = admin_client.create_token("ci-bot", "contributor", expires_days=30)

    assert isinstance(created, assay.CreatedToken)
    assert created.token.startswith("asy_")
    assert created.token not in repr(created)
    assert created.expires_at is not None and created.expires_at > created.created_at  # type: ignore[operator]
    with assay.Client(live_server.url, created.token) as bot:
        assert bot.whoami() == assay.Identity(
            created.id, "ci-bot", "contributor", created.expires_at
        )


def test_listed_tokens_never_carry_their_secret(admin_client: assay.Client) -> None:
    created = admin_client.create_token("reader", "viewer")

    listed = {token.id: token for token in admin_client.list_tokens()}

    assert listed[created.id].name == "reader"
    assert not isinstance(listed[created.id], assay.CreatedToken)
    assert created.token not in repr(listed)


def test_a_revoked_token_is_refused_with_authentication_error(
    admin_client: assay.Client, live_server: Any
) -> None:
    created = admin_client.create_token("short-lived", "viewer")

    revoked = admin_client.revoke_token(created.id)

    assert revoked.revoked
    with pytest.raises(assay.AuthenticationError):
        assay.Client(live_server.url, created.token).whoami()
