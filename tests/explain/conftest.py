"""Fixtures of the explanation tests: one worker pool for the session, apps that use it,
and helpers that train, register and explain small models through the API."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import skops.io

from assay_server.app import create_app
from assay_server.explain import routes as explain_routes
from assay_server.explain.workers import PoolLimits, WorkerPool, shutdown_all_pools
from tests.api.factories import API, create_model, parquet_bytes, register_version


@pytest.fixture(scope="session", autouse=True)
def _stop_every_pool_at_the_end() -> Iterator[None]:
    """The live server starts its own pool on its first explanation: stop it with the rest."""
    yield
    shutdown_all_pools()


@pytest.fixture
def sdk_client(live_server: Any, admin_token: str) -> Iterator[Any]:
    """An SDK client of the live server, as an admin, polling jobs quickly."""
    import assay

    with assay.Client(live_server.url, admin_token) as client:
        client.poll_interval = 0.05
        yield client


@pytest.fixture(scope="session")
def explain_pool() -> Iterator[WorkerPool]:
    """Two workers shared by the session's tests (the first pool of a process waits for the
    launcher's imports: about four seconds)."""
    pool = WorkerPool(PoolLimits(size=2, memory_mb=4096, cache_size=8))
    yield pool
    pool.shutdown()
    shutdown_all_pools()


@pytest.fixture
def settings(settings):
    """Small limits so jobs and chunks show up with a handful of rows."""
    return settings.with_overrides(max_sync_explain_rows=3, explain_timeout_seconds=60.0)


@pytest.fixture
def make_app(settings, db, clock, explain_pool) -> Iterator[Callable[..., Any]]:
    """Build apps on the test's store sharing the session's pool; stop their jobs after."""
    made: list[Any] = []

    def make(pool: WorkerPool | None = None, **overrides: Any) -> Any:
        application = create_app(settings.with_overrides(**overrides), database=db, clock=clock)
        application.config["TESTING"] = True
        application.extensions["assay_explain_pool"] = pool or explain_pool
        made.append(application)
        return application

    yield make
    for application in made:
        jobs = application.extensions.get("assay_explain_jobs")
        if jobs is not None:
            jobs.drain(120)
        if application.extensions.get("assay_explain_pool") is explain_pool:
            application.extensions.pop("assay_explain_pool")
        explain_routes.shutdown(application)


@pytest.fixture
def app(app: Any, explain_pool: WorkerPool) -> Iterator[Any]:
    """The session's app (on this test's store, settings and clock) on the shared worker
    pool: building an app of its own per test cost 160 ms each."""
    app.extensions["assay_explain_pool"] = explain_pool
    yield app
    jobs = app.extensions.get("assay_explain_jobs")
    if jobs is not None:
        jobs.drain(120)
    app.extensions.pop("assay_explain_pool", None)  # the root fixture stops what is left


def register(
    client: Any,
    headers: dict[str, str],
    name: str,
    task: str,
    estimator: Any,
    reference: pd.DataFrame,
    target: str,
    *,
    artifact: tuple[bytes, str] | None = None,
) -> dict[str, Any]:
    """Create a model and register version 1 with a skops artifact and reference data."""
    create_model(client, headers, name, task=task)
    response = register_version(
        client,
        headers,
        name,
        metadata={"target": target},
        artifact=artifact or (skops.io.dumps(estimator), "model.skops"),
        reference=(parquet_bytes(reference), "reference.parquet"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def explain(
    client: Any, headers: dict[str, str], name: str, rows: list[dict[str, Any]], **params: Any
) -> Any:
    """POST rows to version 1's explanations."""
    return client.post(
        f"{API}/models/{name}/versions/1/explanations",
        json={"rows": rows, **params},
        headers=headers,
    )


def pickle_bytes(obj: Any) -> bytes:
    """``obj`` pickled as joblib writes it."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()
