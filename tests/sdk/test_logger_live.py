"""PredictionLogger against the real server on loopback: outages, killed processes, errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text
from werkzeug.serving import make_server

import assay
import assay.logger
from assay import DeliveryError, PredictionLogger
from assay._spool import Spool
from assay_server.app import create_app
from assay_server.db import Database
from assay_server.settings import Settings
from tests.sdk.logger_support import decoded, spooled_ids

FEATURES = {"age": "numerical", "plan": "categorical"}


@pytest.fixture
def churn_v1(admin_client: assay.Client, churn_model: assay.Model) -> assay.ModelVersion:
    """Version 1 of ``churn``, with features age (numerical) and plan (categorical)."""
    return admin_client.register_version("churn", features=FEATURES, target="churned")


def _stored(db: Database) -> tuple[int, int]:
    with db.engine.connect() as connection:
        count, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT prediction_id) FROM predictions")
        ).one()
    return int(count), int(distinct)


def _features(i: int) -> dict[str, Any]:
    return {"age": 20 + i % 50, "plan": ("basic", "pro", "team")[i % 3]}


class RestartableServer:
    """The Assay app on a fixed loopback port that a test can stop and start again."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._app = create_app(settings, database=database)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None


@pytest.fixture
def restartable_server(
    session_settings: Settings, migrated_database: Database, db: Database
) -> Iterator[RestartableServer]:
    """A second server on the session's store, on a port of its own, started."""
    server = RestartableServer(session_settings, migrated_database)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def loggers() -> Iterator[list[PredictionLogger]]:
    """Loggers to close after the test."""
    made: list[PredictionLogger] = []
    yield made
    for logger in made:
        logger.close(timeout=0)


def _logger(
    url: str, token: str, spool: Path, made: list[PredictionLogger], version: int = 1, **options
) -> PredictionLogger:
    with assay.Client(url, token) as client:
        logger = client.prediction_logger("churn", version, spool_dir=spool, **options)
    logger.initial_backoff = 0.02
    logger.max_backoff = 0.5
    made.append(logger)
    return logger


def test_logged_predictions_are_stored_once_and_resending_them_counts_duplicates(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    logger = _logger(live_server.url, admin_token, tmp_path, loggers)
    ids = [logger.log(_features(i), i % 2, score=0.5, sensitive={"sex": "F"}) for i in range(1200)]
    assert logger.flush(timeout=60)

    for i, pid in enumerate(ids[:300]):
        logger.log(_features(i), i % 2, prediction_id=pid)
    assert logger.flush(timeout=60)

    assert _stored(db) == (1200, 1200)
    stats = logger.stats
    assert (stats["sent"], stats["duplicates"], stats["rejected"]) == (1200, 300, 0)


def test_fifty_thousand_predictions_survive_a_server_outage_exactly_once(
    restartable_server: RestartableServer,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    logger = _logger(restartable_server.url, admin_token, tmp_path, loggers, flush_interval=0.1)
    ids = [logger.log(_features(i), i % 2) for i in range(20_000)]
    restartable_server.stop()  # while batches are on their way
    ids += [logger.log(_features(i), i % 2) for i in range(20_000, 35_000)]
    assert not logger.flush(timeout=1)
    restartable_server.start()
    ids += [logger.log(_features(i), i % 2) for i in range(35_000, 50_000)]

    assert logger.flush(timeout=180)

    assert len(set(ids)) == 50_000
    assert _stored(db) == (50_000, 50_000)
    stats = logger.stats
    assert stats["spooled"] > 0 and stats["retries"] > 0
    assert stats["sent"] == 50_000
    assert (stats["rejected"], stats["dropped"], stats["spool_batches"]) == (0, 0, 0)


_SERVING_PROCESS = """
import json, sys, threading
import assay

url, token, spool = sys.argv[1:4]
with assay.Client(url, token) as client:
    logger = client.prediction_logger("churn", 1, spool_dir=spool, batch_size=100,
                                      flush_interval=0.05)
logger.initial_backoff = logger.max_backoff = 3600  # keep the batches in the spool
ids = [logger.log({"age": i, "plan": "pro"}, 0) for i in range(2000)]
while logger.stats["spooled"] < 2000:
    threading.Event().wait(0.01)
print(json.dumps(ids), flush=True)
threading.Event().wait(3600)
"""


def test_a_killed_serving_processs_spool_is_delivered_by_the_next_process_without_doubles(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    closed_port_url: str,
    db: Database,
    tmp_path: Path,
    sdk_env: dict[str, str],
    loggers: list[PredictionLogger],
) -> None:
    serving = subprocess.Popen(
        [sys.executable, "-c", _SERVING_PROCESS, closed_port_url, admin_token, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=sdk_env,
    )
    try:
        ids = json.loads(serving.stdout.readline())
    finally:
        os.kill(serving.pid, signal.SIGKILL)
        serving.wait(timeout=30)
    assert serving.returncode == -signal.SIGKILL
    spool_dir = tmp_path / "churn-1"
    assert sorted(spooled_ids(spool_dir)) == sorted(ids)
    # The first batch had reached the server before the kill; only its deletion was lost.
    spool = Spool(spool_dir, 1 << 30)
    first = spool.read(spool.pending()[0][0])
    requests.post(
        f"{live_server.url}/api/v1/models/churn/versions/1/predictions",
        data=first.body,
        headers=_headers(admin_token, first.body),
        timeout=30,
    ).raise_for_status()

    successor = _logger(live_server.url, admin_token, tmp_path, loggers)

    assert successor.flush(timeout=60)
    assert _stored(db) == (2000, 2000)
    stats = successor.stats
    assert (stats["sent"], stats["duplicates"]) == (1900, 100)
    assert spooled_ids(spool_dir) == []


def test_invalid_rows_are_rejected_with_row_errors_and_not_retried(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    seen: list[DeliveryError] = []
    logger = _logger(live_server.url, admin_token, tmp_path, loggers, on_error=seen.append)

    good = logger.log({"age": 30, "plan": "pro"}, 1)
    wrong_kind = logger.log({"age": "old", "plan": "pro"}, 1)
    not_finite = logger.log({"age": float("nan"), "plan": "pro"}, 1)

    assert logger.flush(timeout=30)
    stats = logger.stats
    assert (stats["sent"], stats["rejected"], stats["retries"]) == (1, 2, 0)
    assert {e["prediction_id"] for e in seen[0].errors} == {wrong_kind, not_finite}
    assert all(e["field"] == "features.age" for e in seen[0].errors)
    assert _stored(db) == (1, 1)
    assert good


def test_a_row_the_store_cannot_hold_never_blocks_the_rows_behind_it(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    # The report: on PostgreSQL a NUL in prediction_id was a 500, the logger retried it
    # oldest-first for ever, and 0 of 500 valid rows behind it arrived.
    logger = _logger(live_server.url, admin_token, tmp_path, loggers, batch_size=50)
    logger.log({"age": 30, "plan": "pro"}, 1, prediction_id="poison\x00id")
    logger.log({"age": 30, "plan": "bad\x00plan"}, 1)
    valid = [logger.log(_features(i), i % 2) for i in range(500)]

    assert logger.flush(timeout=60)

    stats = logger.stats
    assert (stats["sent"], stats["rejected"], stats["spool_batches"]) == (500, 2, 0)
    assert _stored(db) == (500, 500)
    assert len(set(valid)) == 500


def test_a_batch_for_an_unknown_version_is_rejected_not_retried(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    seen: list[DeliveryError] = []
    logger = _logger(
        live_server.url, admin_token, tmp_path, loggers, version=9, on_error=seen.append
    )

    logger.log({"age": 30, "plan": "pro"}, 1)

    assert logger.flush(timeout=30)
    assert (logger.stats["rejected"], logger.stats["retries"]) == (1, 0)
    assert seen[0].status == 404


def test_labels_are_joined_by_prediction_id_across_versions(
    live_server: Any,
    admin_client: assay.Client,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    admin_client.register_version("churn", features=FEATURES, target="churned")
    v1 = _logger(live_server.url, admin_token, tmp_path, loggers, version=1)
    v2 = _logger(live_server.url, admin_token, tmp_path, loggers, version=2)
    first = v1.log({"age": 30, "plan": "pro"}, 1)
    second = v2.log({"age": 40, "plan": "team"}, 0)
    assert v1.flush(timeout=30) and v2.flush(timeout=30)

    v1.log_labels({first: 1, second: 1, "never-logged": 0})

    assert v1.flush(timeout=30)
    # the server keeps the label of a prediction it does not know yet, waiting for it
    stats = v1.stats
    assert (stats["labels_sent"], stats["labels_pending"], stats["labels_unknown"]) == (2, 1, 0)
    with db.engine.connect() as connection:
        labels = dict(
            connection.execute(text("SELECT prediction_id, label FROM predictions")).all()
        )
    assert {pid: json.loads(v) if isinstance(v, str) else v for pid, v in labels.items()} == {
        first: 1,
        second: 1,
    }


def test_module_level_init_and_log_prediction_deliver_through_one_logger(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loggers: list[PredictionLogger],
) -> None:
    monkeypatch.setattr(assay.logger, "_default_logger", None)
    monkeypatch.setenv("ASSAY_MODEL", "churn")
    monkeypatch.setenv("ASSAY_VERSION", "1")

    logger = assay.init(live_server.url, admin_token, spool_dir=tmp_path)
    loggers.append(logger)
    pid = assay.log_prediction({"age": 33, "plan": "basic"}, 1, score=0.7)
    assay.log_label(pid, 1)

    assert logger.flush(timeout=30)
    assert (logger.stats["sent"], logger.stats["labels_sent"]) == (1, 1)
    assert _stored(db) == (1, 1)


def _headers(token: str, body: bytes) -> dict[str, str]:
    """A POST of a spooled body, as the logger sends it."""
    gzipped = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **gzipped}


@pytest.mark.parametrize("compress", [True, False])
def test_the_body_on_disk_is_what_the_server_takes(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    closed_port_url: str,
    tmp_path: Path,
    loggers: list[PredictionLogger],
    compress: bool,
) -> None:
    logger = _logger(closed_port_url, admin_token, tmp_path, loggers)
    logger.compress = compress
    logger.log({"age": 30, "plan": "pro"}, 1, probabilities={"0": 0.2, "1": 0.8}, label=1)
    logger.close(timeout=5)
    spool = Spool(logger.spool_dir, 1 << 30)
    (path, _), *_ = spool.pending()

    answer = requests.post(
        f"{live_server.url}/api/v1/models/churn/versions/1/predictions?strict=true",
        data=path.read_bytes(),
        headers=_headers(admin_token, path.read_bytes()),
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    assert path.name.endswith(".json.gz" if compress else ".json")
    assert decoded(path.read_bytes())["columns"]["label"] == [1]
