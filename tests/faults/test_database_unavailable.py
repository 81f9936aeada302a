"""A store that cannot serve now is a 503 with Retry-After in the one error shape, logged once;
a mistake in a statement stays a 500. The driver's words reach the log, never the client."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.errors
import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from assay_server.auth import authorization
from assay_server.db import Database
from assay_server.http_errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from assay_server.settings import Settings
from tests.api.test_errors import assert_error_shape
from tests.conftest import POSTGRES_URL_VAR
from tests.faults.conftest import free_port

#: What SQLAlchemy would quote from the failed statement: never shown, never logged.
STATEMENT = "UPDATE tokens SET note = 'hunter2' WHERE id = %(id)s"
PARAMETERS = {"id": 7, "secret": "hunter2"}


def _wrapped(kind: type[sa_exc.DBAPIError], driver: BaseException, **options: Any) -> Exception:
    return kind(STATEMENT, PARAMETERS, driver, **options)


OUTAGES: dict[str, Callable[[], BaseException]] = {
    # psycopg reading from a socket the server closed
    "server closed the connection": lambda: _wrapped(
        sa_exc.OperationalError,
        psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly"
        ),
        connection_invalidated=True,
    ),
    # pg_terminate_backend(), or a server shutting down: SQLSTATE 57P01
    "terminated by the administrator": lambda: _wrapped(
        sa_exc.OperationalError,
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        connection_invalidated=True,
    ),
    "an interface error on a dropped connection": lambda: _wrapped(
        sa_exc.InterfaceError,
        psycopg.InterfaceError("the connection is lost"),
        connection_invalidated=True,
    ),
    # through the driver's own cursor (the window's labels are read that way)
    "psycopg unwrapped: connection refused": lambda: psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: refused'
    ),
    "no connection slot left": lambda: _wrapped(
        sa_exc.OperationalError,
        psycopg.errors.TooManyConnections("sorry, too many clients already"),
    ),
    "SQLite locked past the busy timeout": lambda: _wrapped(
        sa_exc.OperationalError, sqlite3.OperationalError("database is locked")
    ),
    "no pooled connection free": lambda: sa_exc.TimeoutError(
        "QueuePool limit of size 10 overflow 20 reached, connection timed out, timeout 30.00"
    ),
}

MISTAKES: dict[str, Callable[[], BaseException]] = {
    "SQLite: no such table": lambda: _wrapped(
        sa_exc.OperationalError, sqlite3.OperationalError("no such table: tokens")
    ),
    "PostgreSQL: a statement over a limit": lambda: _wrapped(
        sa_exc.OperationalError, psycopg.errors.ProgramLimitExceeded("index row size too big")
    ),
    "a broken constraint": lambda: _wrapped(
        sa_exc.IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed: tokens.name")
    ),
}


def _auth_lookup_raises(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The first thing every authenticated request asks the store fails with ``error``."""

    def authenticate(*args: Any) -> Any:
        raise error

    monkeypatch.setattr(authorization, "authenticate", authenticate)


def _assay_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("assay_server")]


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_an_outage_of_the_store_is_a_503_with_retry_after_logged_once(
    outage: str, client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _auth_lookup_raises(monkeypatch, OUTAGES[outage]())

    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/models", headers={"Authorization": "Bearer asy_x"})

    error = assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert error["message"] == DATABASE_UNAVAILABLE
    body = response.get_data(as_text=True)
    for word in ("hunter2", "UPDATE", "psycopg", "sqlite", "connection", "locked", "QueuePool"):
        assert word not in body
    [record] = _assay_records(caplog)  # once, in one line, for the operator
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert error["request_id"] in record.getMessage()
    assert "hunter2" not in record.getMessage() and "UPDATE" not in record.getMessage()


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_in_a_statement_stays_a_500(
    mistake: str, client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _auth_lookup_raises(monkeypatch, MISTAKES[mistake]())

    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/models", headers={"Authorization": "Bearer asy_x"})

    assert_error_shape(response, 500, "internal_error")
    assert "Retry-After" not in response.headers
    assert "hunter2" not in response.get_data(as_text=True)
    assert [r.levelno for r in _assay_records(caplog)] == [logging.ERROR]


class DroppedCommits(Database):
    """The store, except that every write session's commit meets a dropped connection."""

    def session(self, *, write: bool) -> Session:
        session = super().session(write=write)
        if write:
            event.listen(session, "before_commit", self._drop)
        return session

    @staticmethod
    def _drop(session: Session) -> None:
        raise OUTAGES["server closed the connection"]()


def test_a_commit_the_store_drops_is_a_503_and_nothing_is_stored(
    app: Any,
    db: Database,
    contributor_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"name": "churn", "task": "regression"}
    app.extensions["assay_db"] = DroppedCommits(db.engine, db.read_sessions, db.write_sessions)
    with caplog.at_level(logging.INFO):
        response = app.test_client().post("/api/v1/models", json=body, headers=contributor_headers)
    app.extensions["assay_db"] = db

    assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert [r.levelno for r in _assay_records(caplog)] == [logging.WARNING]
    listed = app.test_client().get("/api/v1/models", headers=contributor_headers).json
    assert listed["total"] == 0
    retried = app.test_client().post("/api/v1/models", json=body, headers=contributor_headers)
    assert retried.status_code == 201, retried.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(lambda: f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x", id="pg"),
        pytest.param(lambda: "sqlite:////nonexistent/assay/store.db", id="sqlite"),
    ],
)
def test_a_store_that_cannot_be_reached_is_a_503_and_not_ready(
    url: Callable[[], str], app: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Database.from_settings(settings.with_overrides(database_url=url()))
    app.extensions["assay_db"] = unreachable  # the app fixture puts its own store back
    try:
        with caplog.at_level(logging.INFO):
            response = app.test_client().get(
                "/api/v1/models", headers={"Authorization": "Bearer asy_x"}
            )
            ready = app.test_client().get("/api/v1/ready")
    finally:
        unreachable.dispose()

    assert_error_shape(response, 503, "unavailable")
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "refused" not in response.get_data(as_text=True)
    assert_error_shape(ready, 503, "unavailable")
    assert ready.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


@pytest.mark.commits
@pytest.mark.skipif(
    bool(os.environ.get(POSTGRES_URL_VAR)),
    reason="SQLite's write lock; PostgreSQL's dropped connections are in test_postgres_killed",
)
def test_sqlite_locked_past_the_busy_timeout_is_a_503_and_the_retry_succeeds(
    app: Any,
    settings: Settings,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    impatient = Database.from_settings(settings.with_overrides(sqlite_busy_timeout_ms=50))
    app.extensions["assay_db"] = impatient
    holder = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=5)
    holder.isolation_level = None
    body = {"name": "churn", "task": "regression"}
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than 50 ms
        with caplog.at_level(logging.INFO):
            locked = app.test_client().post("/api/v1/models", json=body, headers=admin_headers)
        holder.execute("ROLLBACK")
        retried = app.test_client().post("/api/v1/models", json=body, headers=admin_headers)
    finally:
        holder.close()
        impatient.dispose()

    assert_error_shape(locked, 503, "unavailable")
    assert locked.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "locked" not in locked.get_data(as_text=True)
    [record] = _assay_records(caplog)
    assert "database is locked" in record.getMessage()
    assert retried.status_code == 201, retried.get_data(as_text=True)
