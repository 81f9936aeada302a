"""`assay-server run --workers 4`: each gunicorn worker has its own database connections.

The master migrates, makes the first admin token and loads the bundled policies before it
forks; a pooled connection left open then would be shared by every worker (500s, hangs,
"can't change 'autocommit' now" on PostgreSQL).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import POSTGRES_URL_VAR, create_postgres_database

WORKERS = 4
CONCURRENT = 64
ROUNDS = 6
_TOKEN = re.compile(r"\basy_[A-Za-z0-9]+")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own: the server under test migrates it from empty."""
    base = os.environ.get(POSTGRES_URL_VAR)
    if not base:
        yield f"sqlite:///{tmp_path / 'workers.db'}"
        return
    url, drop = create_postgres_database(base)
    try:
        yield url
    finally:
        drop()


def _start(database_url: str, data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_DATABASE_URL=database_url, ASSAY_DATA_DIR=str(data_dir))
    command = [sys.executable, "-m", "assay_server.cli", "run", "--port", str(port)]
    # to a file, not a pipe: an unread pipe fills with the access log and blocks the workers
    with log.open("wb") as output:
        return subprocess.Popen(
            [*command, "--workers", str(WORKERS), "--threads", "4", "--no-scheduler"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _admin_token(process: subprocess.Popen[bytes], url: str, log: Path) -> str:
    """Read the first-start token from the output, then wait until the server answers."""
    deadline = time.monotonic() + 90
    token = None
    while token is None and time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the server exited:\n" + log.read_text())
        found = _TOKEN.search(log.read_text())
        token = found.group(0) if found else time.sleep(0.2)
    assert token, "no admin token printed:\n" + log.read_text()
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/ready", timeout=2).status_code == 200:
                return token
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def _request(url: str, token: str, index: int) -> int | str:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if index % 4 == 0:
            response = requests.post(
                f"{url}/api/v1/models",
                json={"name": f"model-{index}", "task": "regression"},
                headers=headers,
                timeout=30,
            )
        else:
            response = requests.get(f"{url}/api/v1/models?limit=5", headers=headers, timeout=30)
    except requests.RequestException as exc:
        return type(exc).__name__
    return response.status_code


@pytest.mark.slow
def test_four_workers_answer_64_concurrent_requests_six_times_without_an_error(
    fresh_database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = _start(fresh_database_url, tmp_path / "data", port, log)
    try:
        token = _admin_token(server, url, log)
        outcomes: Counter[int | str] = Counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            for round_number in range(ROUNDS):
                first = round_number * CONCURRENT
                indexes = range(first, first + CONCURRENT)
                outcomes.update(pool.map(lambda i: _request(url, token, i), indexes))
        listed = requests.get(
            f"{url}/api/v1/models?limit=1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
        output = log.read_text()
    created = CONCURRENT * ROUNDS // 4
    assert outcomes == Counter({200: CONCURRENT * ROUNDS - created, 201: created}), (
        outcomes,
        output[-4000:],
    )
    assert listed.json()["total"] == created
