"""The first hour, as one story: ``docs/examples/credit_risk.py`` runs end to end against
``assay-server run`` on PostgreSQL, from a directory of its own, and every step it promises
prints.

The SQLite run of the suite has the first-day scenario against default settings
(``tests/test_first_day.py``); this one runs in the PostgreSQL run, on a database of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import POSTGRES_URL_VAR, create_postgres_database
from tests.faults.conftest import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "credit_risk.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.commits,
    pytest.mark.skipif(
        not os.environ.get(POSTGRES_URL_VAR),
        reason="runs in the PostgreSQL run; the SQLite run has the first-day scenario",
    ),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``assay-server run`` on a PostgreSQL database of its own: its URL and admin token."""
    database_url, drop = create_postgres_database(os.environ[POSTGRES_URL_VAR])
    home = tmp_path / "server-home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_DATABASE_URL=database_url, ASSAY_WEBHOOK_ALLOW_PRIVATE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "run", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        token = None
        deadline = time.monotonic() + 120
        while token is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            token = next(iter(re.findall(r"\basy_[0-9A-Za-z]{43}\b", line)), None)
        assert token, "".join(lines)
        threading.Thread(target=lines.extend, args=(process.stdout,), daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        yield url, token
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        drop()


def test_the_credit_risk_story_runs_end_to_end(server: tuple[str, str], tmp_path: Path) -> None:
    url, token = server
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_URL=url, ASSAY_TOKEN=token)
    story = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert story.returncode == 0, story.stdout[-3000:] + story.stderr[-3000:]
    out = story.stdout
    for promised in (
        "promotion to production requested: blocked",
        "high-risk/demographic-parity: missing_evidence",
        "re-evaluated: pending_approval, 2 approvals required",
        "dana may not approve her own request: Separation of duties",
        "alex and sam approved: approved",
        "assay gate check exits 0",
        "incident received and its signature verified: drift",
        "explained one declined applicant",
        "audit trail verified on this machine",
    ):
        assert promised in out, out
    assert "drift warning" in out or "drift alert" in out, out
