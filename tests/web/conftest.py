"""Fixtures of the UI tests: the monitored model, a webhook receiver, the outbox run by hand,
the scenario built from them (with its deliveries failed, for the tests that look at them),
and test clients signed in through the login form per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assay_server.alerts.outbox import Outbox
from assay_server.alerts.signing import generate_secret
from assay_server.settings import Settings
from tests.alerts.receivers import WebhookReceiver
from tests.monitoring.conftest import Monitored, monitored  # noqa: F401  (a fixture)

from .forms import FormClient, sign_in
from .scenario import Scenario, fail_every_delivery, monitor_and_alert


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback."""
    with WebhookReceiver(generate_secret()) as hook:
        yield hook


@pytest.fixture
def outbox(db: Any, settings: Settings, clock: Any) -> Outbox:
    """The delivery job, run by hand with the test clock."""
    return Outbox(db, settings, clock=clock, worker="web-test")


@pytest.fixture
def scenario(monitored: Monitored, receiver: WebhookReceiver) -> Scenario:  # noqa: F811
    """``churn`` with a report of each kind and open alerts, their deliveries not yet tried."""
    return monitor_and_alert(monitored, receiver)


@pytest.fixture
def failed_deliveries(
    scenario: Scenario,
    monitored: Monitored,  # noqa: F811
    receiver: WebhookReceiver,
    outbox: Outbox,
) -> Scenario:
    """The scenario after the outbox ran every delivery past its last retry against a
    receiver answering 500 (every attempt over HTTP: about 0.3 s, so only the tests that look
    at deliveries ask for it)."""
    return fail_every_delivery(scenario, monitored, receiver, outbox)


@pytest.fixture
def signed_in(app: Any, token_for: Callable[..., str]) -> Callable[..., Any]:
    """A fresh test client signed in through the login form: ``signed_in("viewer", "ann")``;
    its ``post`` sends the CSRF token of its pages."""

    def signed_in_as(role: str, name: str | None = None) -> FormClient:
        return sign_in(app.test_client(), token_for(role, name))

    return signed_in_as
