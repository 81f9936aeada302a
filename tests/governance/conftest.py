"""Fixtures for governance: versions to judge, actors to act as, policies to apply.

``admin_client`` and ``client_as`` (SDK clients of the live server) are shared with the SDK
tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.orm import Session

from assay_server.context import ServiceContext
from assay_server.db import Database
from assay_server.governance.policies import PolicyFile
from assay_server.governance.service import PolicyService
from assay_server.registry.service import RegistryService, VersionSpec
from assay_server.roles import Actor, Role
from assay_server.wiring import wire
from tests.api.factories import CHURN_FEATURES
from tests.monitoring.conftest import monitored  # noqa: F401  (a fixture)
from tests.sdk.conftest import admin_client, client_as  # noqa: F401

API = "/api/v1"


class Store:
    """Run service calls as someone, in a unit of work of their own."""

    def __init__(self, db: Database, settings: Any, clock: Any) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    def ctx(self, name: str = "operator", role: str = "admin") -> ServiceContext:
        return wire().context(Actor(name=name, role=Role(role)), self.settings, clock=self.clock)

    @contextmanager
    def session(
        self, name: str = "operator", role: str = "admin"
    ) -> Iterator[tuple[Session, ServiceContext]]:
        with self.db.unit_of_work() as session:
            yield session, self.ctx(name, role)

    def model(self, name: str = "churn", **fields: Any) -> None:
        with self.session() as (session, ctx):
            RegistryService(session, ctx).create_model(
                name=name, task="binary_classification", **fields
            )

    def version(self, model: str = "churn", by: str = "developer", **spec: Any) -> int:
        spec.setdefault("features", CHURN_FEATURES)
        spec.setdefault("target", "churned")
        with self.session(by, "contributor") as (session, ctx):
            return (
                RegistryService(session, ctx).register_version(model, VersionSpec(**spec)).version
            )

    def apply(self, *sources: str) -> None:
        with self.session() as (session, ctx):
            PolicyService(session, ctx).apply(
                [PolicyFile(f"p{i}.yaml", text) for i, text in enumerate(sources)]
            )


@pytest.fixture
def store(db: Database, settings: Any, clock: Any) -> Store:
    """Service calls on the test store, as any actor."""
    return Store(db, settings, clock)


GOOD_LINEAGE = {"dataset_uri": "s3://data/churn.parquet", "dataset_hash": "sha256:aaa"}


@pytest.fixture
def api(client: Any, headers_for: Callable[..., dict[str, str]]) -> Any:
    """The Flask test client with a token per person: ``api.as_("alice", "approver")``."""

    class Api:
        def __init__(self) -> None:
            self.client = client
            self._headers: dict[str, dict[str, str]] = {}

        def as_(self, name: str, role: str) -> dict[str, str]:
            if name not in self._headers:
                self._headers[name] = headers_for(role, name)
            return self._headers[name]

        def post(self, path: str, who: tuple[str, str], json: Any = None) -> Any:
            return client.post(API + path, json=json or {}, headers=self.as_(*who))

        def get(self, path: str, who: tuple[str, str] = ("reader", "viewer"), **kw: Any) -> Any:
            return client.get(API + path, headers=self.as_(*who), **kw)

    return Api()
