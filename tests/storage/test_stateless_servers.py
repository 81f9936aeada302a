"""Two API servers and a scheduler, each with its own empty data directory, on one
PostgreSQL database and one S3 bucket: whatever one of them stored, the others serve.

A version registered through A is downloaded and explained through B; its monitor runs on
the scheduler; the report and Evidently's page are read through A. No process can read
another's data directory, so nothing here works unless every blob lives in the bucket.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import assay
from tests.conftest import POSTGRES_URL_VAR, create_postgres_database
from tests.faults.conftest import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.commits,
    pytest.mark.skipif(
        not os.environ.get(POSTGRES_URL_VAR),
        reason="servers on several hosts share PostgreSQL; SQLite is one host's file",
    ),
]
FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area"]
_TOKEN = re.compile(r"\basy_[0-9A-Za-z]{43}\b")


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own, dropped after it."""
    url, drop = create_postgres_database(os.environ[POSTGRES_URL_VAR])
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def start(
    fresh_database_url: str, bucket: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start an ``assay-server`` command with a data directory of its own; all stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(name: str, *command: str) -> tuple[subprocess.Popen[bytes], Path]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env.update(
            ASSAY_DATABASE_URL=fresh_database_url,
            ASSAY_DATA_DIR=str(tmp_path / name / "data"),
            ASSAY_STORAGE_URL=f"s3://{bucket}/assay",
            ASSAY_SCHEDULER_SYNC_SECONDS="1",
            ASSAY_EXPLAIN_WORKERS="1",
        )
        log = tmp_path / f"{name}.log"
        with log.open("wb") as output:  # a file, not a pipe: a full pipe blocks the server
            process = subprocess.Popen(
                [sys.executable, "-m", "assay_server.cli", *command],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process, log

    yield launch
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _api_server(start: Callable[..., tuple[subprocess.Popen[bytes], Path]], name: str) -> str:
    port = free_port()
    process, log = start(name, "run", "--no-scheduler", "--port", str(port), "--workers", "1")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server {name} exited:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/api/v1/ready", timeout=2).status_code == 200:
                return url
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server {name} never became ready:\n{log.read_text()}")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load_breast_cancer(as_frame=True).frame
    data["malignant"] = 1 - data["target"]
    return data.iloc[:400].reset_index(drop=True), data.iloc[400:].reset_index(drop=True)


def test_two_api_servers_and_a_scheduler_share_only_the_database_and_the_bucket(
    start: Callable[..., tuple[subprocess.Popen[bytes], Path]], tmp_path: Path
) -> None:
    url_a = _api_server(start, "a")  # migrates the new database, prints the first token
    token_match = _TOKEN.search((tmp_path / "a.log").read_text())
    assert token_match, (tmp_path / "a.log").read_text()
    token = token_match.group(0)
    url_b = _api_server(start, "b")
    scheduler, scheduler_log = start("scheduler", "scheduler")

    train, holdout = _frames()
    model = LogisticRegression(max_iter=2000).fit(train[FEATURES], train["malignant"])
    reference = train[[*FEATURES, "malignant"]]
    with assay.Client(url_a, token) as a, assay.Client(url_b, token) as b:
        a.create_model("triage", "binary_classification", owner="onco")
        registered = a.register_version(
            "triage", model, reference_data=reference, target="malignant"
        )

        artifact = b.download_artifact("triage", 1)
        assert isinstance(artifact, bytes)
        assert registered.artifact is not None
        assert len(artifact) == registered.artifact.size_bytes
        downloaded = tmp_path / "reference.parquet"
        b.download_reference("triage", 1, downloaded)
        assert len(pd.read_parquet(downloaded)) == len(train)
        one_case = {name: float(holdout[name][0]) for name in FEATURES}
        explanation = b.explain("triage", 1, one_case)
        assert {w.feature for w in explanation.weights} <= set(FEATURES)

        scores = model.predict_proba(holdout[FEATURES])[:, 1]
        with b.prediction_logger("triage", 1) as logger:
            for i, row in holdout.iterrows():
                logger.log(
                    {name: float(row[name]) for name in FEATURES},
                    prediction=int(scores[i] >= 0.5),
                    score=float(scores[i]),
                    prediction_id=f"case-{i}",
                )
        assert logger.stats.dropped == 0

        monitor = a.create_monitor(
            "triage", checks=["drift", "data_quality"], window={"hours": 2}, schedule=None
        )
        queued = a.run_monitor("triage", monitor.id, wait=False)  # the scheduler runs it
        run = queued
        deadline = time.monotonic() + 180
        while not run.finished and time.monotonic() < deadline:
            assert scheduler.poll() is None, scheduler_log.read_text()
            time.sleep(0.5)
            run = a.get_monitor_run(queued.id)
        assert run.status == "succeeded", (run, scheduler_log.read_text()[-4000:])

        reports = {r.kind: r for r in a.list_reports("triage")}
        assert set(reports) == {"drift", "data_quality"}
        assert a.get_report(reports["drift"].id).summary
        assert "drift report" in a.report_html(reports["drift"].id, timeout=180).lower()

    for name in ("a", "b", "scheduler"):  # every blob went to the bucket, none stayed behind
        data_dir = tmp_path / name / "data"
        kept = [
            p
            for area in ("artifacts", "reference", "profiles", "reports")
            for p in (data_dir / area).rglob("*")
            if p.is_file()
        ]
        assert kept == [], name
