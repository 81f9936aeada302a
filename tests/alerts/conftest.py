"""Alerts fixtures: a monitored model (from the monitoring tests), receivers on loopback,
settings that let webhooks reach loopback, and the outbox run by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assay_server.alerts.outbox import Outbox
from assay_server.alerts.signing import generate_secret
from assay_server.settings import Settings
from tests.api.factories import API
from tests.monitoring.conftest import Monitored, monitored  # noqa: F401  (a fixture)

from .receivers import WebhookReceiver


@pytest.fixture
def settings(session_settings: Settings, tmp_path: Any) -> Settings:
    """Per-test settings whose webhooks may reach loopback receivers."""
    return session_settings.with_overrides(
        data_dir=tmp_path / "data", secret_key="test-secret", webhook_allow_private=True
    )


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A receiver that verifies Standard Webhooks signatures."""
    with WebhookReceiver(generate_secret()) as receiver:
        yield receiver


@pytest.fixture
def outbox(db: Any, settings: Settings, clock: Any) -> Outbox:
    """The delivery job, run by hand with the test clock."""
    return Outbox(db, settings, clock=clock, worker="test")


def add_webhook_channel(model: Monitored, receiver: WebhookReceiver, name: str = "ops") -> int:
    """Create a webhook channel to ``receiver`` with its secret; return its id."""
    body = {"name": name, "kind": "webhook", "url": receiver.url, "secret": receiver.secret}
    response = model.client.post(f"{API}/channels", json=body, headers=model.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["id"]
