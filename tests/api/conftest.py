"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from tests.api.factories import create_model


@pytest.fixture
def churn(client, contributor_headers):
    """A binary classifier named ``churn`` with no versions yet."""
    return create_model(client, contributor_headers, "churn")
