"""Two server processes writing to one SQLite file: a request that waits for the write lock
past the busy timeout is a 503 with Retry-After, never a "database is locked" 500, and the
prediction loggers' retries store every prediction exactly once.

The servers run with a busy timeout of a few milliseconds (the default is 30 s), so that the
lock is really contended and the 503 path really taken.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from assay import PredictionLogger
from assay_server.http_errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from tests.conftest import POSTGRES_URL_VAR
from tests.faults.conftest import (
    REPO_ROOT,
    features,
    free_port,
    migrate_with_admin_token,
    register_churn,
    stored_predictions,
)
from tests.faults.serving import Answer, read_answers
from tests.sdk.logger_support import wait_for

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(POSTGRES_URL_VAR)),
    reason="SQLite's file lock; the PostgreSQL suite kills connections instead",
)

BUSY_TIMEOUT_MS = 2
LOGGERS_PER_SERVER = 2
ROWS_PER_ROUND = 600


class LightServers:
    """``python -m tests.faults.serving``: a serving process per port, forked from one that
    built the app, in a process group of their own; their output in one file."""

    def __init__(self, database_url: str, data_dir: Path, output: Path, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.output = output
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        command = [sys.executable, "-m", "tests.faults.serving", database_url, str(data_dir)]
        with output.open("ab") as sink:  # appended to by every process, line by line
            self.process = subprocess.Popen(
                [*command, *map(str, self.ports), "--busy-timeout-ms", str(BUSY_TIMEOUT_MS)],
                cwd=REPO_ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("the servers exited:\n" + self.output.read_text()[-4000:])
        try:
            return all(
                requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200
                for url in self.urls
            )
        except requests.RequestException:
            return False

    def answers(self) -> list[Answer]:
        return read_answers(self.output.read_text().splitlines())

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, LightServers]]:
    """Two serving processes on one migrated SQLite file: its URL, an admin token, them."""
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    token = migrate_with_admin_token(database_url, tmp_path / "data")
    servers = LightServers(database_url, tmp_path / "data", tmp_path / "servers.out", 2)
    try:
        assert wait_for(servers.ready, timeout=90)
        yield database_url, token, servers
    finally:
        servers.stop()


def test_two_processes_on_one_sqlite_file_answer_2xx_or_503_and_store_every_row_once(
    two_servers: tuple[str, str, LightServers],
    tmp_path: Path,
    loggers: Callable[..., PredictionLogger],
) -> None:
    database_url, token, servers = two_servers
    register_churn(servers.urls[0], token)
    writers = [
        loggers(url, token, tmp_path / f"spool-{n}-{i}")
        for n, url in enumerate(servers.urls)
        for i in range(LOGGERS_PER_SERVER)
    ]

    def ingest_answers() -> list[Answer]:
        return [a for a in servers.answers() if a.path.endswith("/predictions")]

    ids: list[str] = []
    for _round in range(10):  # until the lock was contended past the timeout at least once
        for writer in writers:
            ids += [writer.log(features(i), i % 2) for i in range(ROWS_PER_ROUND)]
        for writer in writers:
            assert writer.flush(timeout=60), writer.stats
        if any(a.status == 503 for a in ingest_answers()):
            break

    answers = ingest_answers()
    assert len({a.pid for a in answers}) == 2  # both processes wrote
    assert len(set(ids)) == len(ids)
    assert stored_predictions(database_url) == (len(ids), len(ids))
    assert sum(writer.stats.sent for writer in writers) == len(ids)
    assert all(
        (w.stats.duplicates, w.stats.rejected, w.stats.dropped) == (0, 0, 0) for w in writers
    )

    assert {a.status for a in answers} <= {200, 503}, [a for a in answers if a.status != 200]
    locked = [a for a in answers if a.status == 503]
    assert locked, "the write lock was never held past the busy timeout"
    assert all(a.retry_after == str(RETRY_AFTER_SECONDS) for a in locked)
    assert all((a.code, a.message) == ("unavailable", DATABASE_UNAVAILABLE) for a in locked)
    assert not [a for a in locked if "locked" in a.body]
    output = servers.output.read_text()
    assert "Traceback" not in output and "unhandled error" not in output
