"""Fixtures of the fault tests: stores of their own, a server process that can be SIGKILLed
and started again, prediction loggers tuned to retry quickly, and exact counts of what was
stored.

Each test that breaks something breaks its own: its own database (so that killing its
connections touches nobody else's), its own ports, spool and data directories.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

import assay
from assay import PredictionLogger
from assay_server.auth.service import TokenService
from assay_server.db import Database
from assay_server.migrate import upgrade
from assay_server.models import import_all_models
from assay_server.roles import Actor
from assay_server.settings import Settings
from assay_server.wiring import wire
from tests.conftest import POSTGRES_URL_VAR, create_postgres_database
from tests.monitoring.conftest import monitored  # noqa: F401  (a fixture)
from tests.sdk.conftest import closed_port_url, sdk_env  # noqa: F401  (fixtures)
from tests.sdk.logger_support import wait_for

FEATURES = {"age": "numerical", "plan": "categorical"}
_TOKEN = re.compile(r"\basy_[A-Za-z0-9]+")
#: Where ``python -m tests.faults.serving`` runs from.
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def features(i: int) -> dict[str, Any]:
    """The features of prediction ``i``."""
    return {"age": 20 + i % 50, "plan": ("basic", "pro", "team")[i % 3]}


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own, dropped after it."""
    base = os.environ.get(POSTGRES_URL_VAR)
    if not base:
        yield f"sqlite:///{tmp_path / 'faults.db'}"
        return
    url, drop = create_postgres_database(base)
    try:
        yield url
    finally:
        drop()


def migrate_with_admin_token(database_url: str, data_dir: Path) -> str:
    """Migrate the store at ``database_url`` and return a new admin token for it."""
    import_all_models()
    settings = Settings(data_dir=data_dir, database_url=database_url)
    database = Database.from_settings(settings)
    try:
        upgrade(database.engine)
        ctx = wire().context(Actor.cli("cli:faults"), settings)
        with database.unit_of_work() as session:
            return TokenService(session, ctx).create("faults-admin", "admin").secret
    finally:
        database.dispose()


def stored_predictions(database_url: str) -> tuple[int, int]:
    """``(rows, distinct prediction ids)`` in the store's predictions table."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            count, distinct = connection.execute(
                text("SELECT count(*), count(DISTINCT prediction_id) FROM predictions")
            ).one()
    finally:
        engine.dispose()
    return int(count), int(distinct)


def register_churn(url: str, token: str) -> None:
    """Model ``churn`` with version 1 (features age and plan) on the server at ``url``."""
    with assay.Client(url, token) as client:
        client.create_model("churn", "binary_classification", owner="faults")
        client.register_version("churn", features=FEATURES, target="churned")


@pytest.fixture
def loggers() -> Iterator[Callable[..., PredictionLogger]]:
    """Make prediction loggers of ``churn`` v1 that retry within a fraction of a second
    (the server's ``Retry-After`` of 1 s is capped by ``max_backoff``); closed after the test."""
    made: list[PredictionLogger] = []

    def make(url: str, token: str, spool_dir: Path, **options: Any) -> PredictionLogger:
        options.setdefault("batch_size", 100)
        options.setdefault("flush_interval", 0.05)
        with assay.Client(url, token) as client:
            logger = client.prediction_logger("churn", 1, spool_dir=spool_dir, **options)
        logger.initial_backoff = 0.02
        logger.max_backoff = 0.2
        logger.request_timeout = (2.0, 30.0)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.close(timeout=0)


class Feeder:
    """Logs predictions from a thread of its own, at a steady pace, until stopped: the
    serving traffic a fault lands in the middle of."""

    def __init__(self, logger: PredictionLogger, rows_per_tick: int = 20) -> None:
        self.logger = logger
        self.rows_per_tick = rows_per_tick
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults-feeder", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            first = len(self.ids)
            rows = range(first, first + self.rows_per_tick)
            self.ids.extend(self.logger.log(features(i), i % 2) for i in rows)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def logged(self) -> int:
        """How many predictions it has logged so far."""
        return len(self.ids)


class ServerProcess:
    """``assay-server run --no-scheduler`` (gunicorn) as a process group of its own, its
    output in a file; :meth:`kill` SIGKILLs the master and its workers at once, as a crash of
    the machine or container would."""

    def __init__(self, database_url: str, data_dir: Path, log: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        """Start the server and wait until it is ready."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env.update(ASSAY_DATABASE_URL=self.database_url, ASSAY_DATA_DIR=str(self.data_dir))
        command = [sys.executable, "-m", "assay_server.cli", "run", "--port", str(self.port)]
        # to a file, not a pipe: an unread pipe fills with the access log and blocks the server
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [*command, "--workers", "1", "--threads", "4", "--no-scheduler"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def first_token(self) -> str:
        """The admin token the first start printed."""
        found = _TOKEN.search(self.log.read_text())
        assert found, "no admin token printed:\n" + self.log.read_text()
        return found.group(0)

    def _wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError("the server exited:\n" + self.log.read_text()[-4000:])
            try:
                return requests.get(f"{self.url}/api/v1/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_for(ready, timeout), "not ready:\n" + self.log.read_text()[-4000:]

    def kill(self) -> None:
        """SIGKILL the master and every worker, and wait until the port is free."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        assert wait_for(lambda: not _accepts(self.port), timeout=30), "a worker outlived the kill"


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def server_process(fresh_database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """``assay-server run`` on this test's own empty store (not started)."""
    server = ServerProcess(fresh_database_url, tmp_path / "data", tmp_path / "server.log")
    yield server
    server.kill()
