"""Fixtures for the rollout tests: the comparison every step gate reads, faked through its
seam; settings whose webhooks reach loopback; the fixtures of the governance, monitoring and
alerts tests."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.governance import rollouts_gate
from assay_server.settings import Settings
from tests.alerts.conftest import outbox, webhook  # noqa: F401  (fixtures)
from tests.governance.conftest import api, store  # noqa: F401  (fixtures)
from tests.monitoring.conftest import monitored  # noqa: F401  (a fixture)
from tests.web.conftest import signed_in  # noqa: F401  (a fixture)

from .release import FakeComparison


@pytest.fixture
def comparison(monkeypatch: pytest.MonkeyPatch) -> FakeComparison:
    """The comparison every step gate reads in this test (through the seam)."""
    fake = FakeComparison()
    monkeypatch.setattr(rollouts_gate, "live_comparison", fake)
    return fake


@pytest.fixture
def settings(session_settings: Settings, tmp_path: Any) -> Settings:
    """Per-test settings whose webhooks may reach loopback receivers."""
    return session_settings.with_overrides(
        data_dir=tmp_path / "data", secret_key="test-secret", webhook_allow_private=True
    )
