"""The first hour, as one story: ``assay-server demo`` on a PostgreSQL database of its own
runs ``docs/examples/credit_risk.py`` (the demo's story is that very file) against the server
it started, prints every step the story promises, and leaves a store whose model, reports,
incident, approvals and audit trail the UI then shows.

The SQLite run of the suite has the first-day scenario against default settings
(``tests/test_first_day.py``); this one runs in the PostgreSQL run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from assay_server.demo import credit_risk
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

PROMISED = (
    "promotion to production requested: blocked",
    "high-risk/demographic-parity: missing_evidence",
    "re-evaluated: pending_approval, 2 approvals required",
    "dana may not approve her own request: Separation of duties",
    "alex and sam approved: approved",
    "assay gate check exits 0",
    "incident received and its signature verified: drift",
    "explained one declined applicant",
    "retrained as v2 for alert #",
    "v2 in v1's shadow on 3,000 labelled requests",
    "v2 to production, as a phased rollout: approved",
    "rollout started: v2 takes 20% of the traffic",
    "assay gate check --rollout exits 0",
    "rollout completed: production is now {2: 1.0}",
    "audit trail verified on this machine",
    "The demo is ready",
)


def test_the_demo_runs_the_documented_story_and_leaves_it_to_see(tmp_path: Path) -> None:
    assert Path(credit_risk.__file__).resolve() == EXAMPLE  # one story, not a copy
    database_url, drop = create_postgres_database(os.environ[POSTGRES_URL_VAR])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_DATABASE_URL=database_url)
    demo = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lines.extend, args=(demo.stdout,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and demo.poll() is None:
            if any("The demo is ready" in line for line in lines):
                break
            time.sleep(0.5)
        out = "".join(lines)
        for promised in PROMISED:
            assert promised in out, out[-4000:]
        token = next(line.strip() for line in lines if line.strip().startswith("asy_"))
        api = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token}"}
        model = requests.get(f"{api}/models/credit-risk", headers=headers, timeout=10).json()
        assert model["name"] == "credit-risk"
        reports = requests.get(f"{api}/models/credit-risk/reports", headers=headers, timeout=10)
        assert {r["kind"] for r in _items(reports.json())} >= {"drift", "bias", "performance"}
        alerts = requests.get(f"{api}/alerts", params={"model": "credit-risk"}, headers=headers)
        assert _items(alerts.json()), "the incident is there to see"
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=60)
        drop()


def _items(body: object) -> list[dict]:
    """A listing's items (some listings answer a plain list, paged ones an object)."""
    return body if isinstance(body, list) else body["items"]  # type: ignore[index,return-value]
