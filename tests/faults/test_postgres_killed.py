"""PostgreSQL's connections killed again and again while a live server ingests from an SDK
prediction logger: the requests in flight get 503 with Retry-After, the server's pool
reconnects by itself, the logger retries, and every prediction is stored exactly once."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from assay import PredictionLogger
from assay_server.app import create_app
from assay_server.db import Database
from assay_server.http_errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from assay_server.settings import Settings
from tests.conftest import POSTGRES_URL_VAR
from tests.faults.conftest import (
    Feeder,
    migrate_with_admin_token,
    register_churn,
    stored_predictions,
)
from tests.faults.serving import AnswerLog, Answers

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_URL_VAR),
    reason="pg_terminate_backend is PostgreSQL's; SQLite has no connections to kill",
)

KILL = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class Killer:
    """Terminates every other connection to its database, every few milliseconds, from a
    thread of its own, until stopped."""

    def __init__(self, database_url: str) -> None:
        plain = make_url(database_url).set(drivername="postgresql")
        self._connection = psycopg.connect(plain.render_as_string(hide_password=False))
        self._connection.autocommit = True
        self.rounds = 0
        self.terminated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults-killer", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.015):
            self.terminated += len(self._connection.execute(KILL).fetchall())
            self.rounds += 1

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._connection.close()


@pytest.fixture
def live_store(fresh_database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Answers]]:
    """A server in this process on this test's own store: its URL, an admin token, and the
    answers it gives."""
    token = migrate_with_admin_token(fresh_database_url, tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data", database_url=fresh_database_url)
    database = Database.from_settings(settings)
    answers = Answers()
    server = make_server(
        "127.0.0.1", 0, AnswerLog(create_app(settings, database=database), answers), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, name="faults-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", token, answers
    finally:
        server.shutdown()
        thread.join(timeout=10)
        database.dispose()


def test_connections_killed_during_ingest_cost_503s_and_lose_or_double_nothing(
    live_store: tuple[str, str, Answers],
    fresh_database_url: str,
    tmp_path: Path,
    loggers: Callable[..., PredictionLogger],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, token, answers = live_store
    register_churn(url, token)
    logger = loggers(url, token, tmp_path / "spool")

    def ingest_503s() -> int:
        return sum(a.path.endswith("/predictions") for a in answers.with_status(503))

    caplog.set_level(logging.INFO)
    with Feeder(logger) as feeder, Killer(fresh_database_url) as killer:
        # kill for a while, and until at least one request was killed in flight
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (ingest_503s() and killer.rounds >= 20):
            threading.Event().wait(0.02)
    killed_503s = ingest_503s()

    assert logger.flush(timeout=60), logger.stats
    assert requests.get(f"{url}/api/v1/ready", timeout=10).status_code == 200

    ids = feeder.ids
    assert killer.terminated > 0 and killed_503s > 0, (killer.terminated, list(answers))
    assert len(set(ids)) == len(ids)
    assert stored_predictions(fresh_database_url) == (len(ids), len(ids))
    stats = logger.stats
    # A commit can succeed and its answer still be lost with the connection: then the retry
    # is counted as duplicates. Either way each row is counted once as stored.
    assert stats.sent <= len(ids) <= stats.sent + stats.duplicates
    assert (stats.rejected, stats.dropped, stats.spool_batches) == (0, 0, 0)
    assert stats.retries >= killed_503s

    ingest = [a for a in answers if a.path.endswith("/predictions")]
    assert {a.status for a in ingest} <= {200, 503}, [a for a in ingest if a.status != 200]
    unavailable = answers.with_status(503)
    assert all(a.retry_after == str(RETRY_AFTER_SECONDS) for a in unavailable)
    assert all((a.code, a.message) == ("unavailable", DATABASE_UNAVAILABLE) for a in unavailable)
    assert not [a for a in answers if a.status >= 500 and a.status != 503]
    for leak in ("terminating", "administrator", "server closed", "psycopg", "SELECT", "INSERT"):
        assert not [a for a in unavailable if leak in a.body]

    # logged once each, in one line, and nothing else went wrong on the server
    server_records = [r for r in caplog.records if r.name.startswith("assay_server")]
    warnings = [r for r in server_records if r.levelno == logging.WARNING]
    assert len(warnings) == len(unavailable)
    assert all("database unavailable" in r.getMessage() and not r.exc_info for r in warnings)
    assert not [r for r in server_records if r.levelno >= logging.ERROR]
