"""Labels and their predictions, in whichever order they travel, end up joined (live server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import assay
from assay import PredictionLogger
from assay_server.db import Database

FEATURES = {"age": "numerical", "plan": "categorical"}


@pytest.fixture
def churn_v1(admin_client: assay.Client, churn_model: assay.Model) -> assay.ModelVersion:
    """Version 1 of ``churn`` (binary: classes 0 and 1), features age and plan."""
    return admin_client.register_version("churn", features=FEATURES, target="churned")


@pytest.fixture
def loggers() -> Iterator[list[PredictionLogger]]:
    """Loggers to close after the test."""
    made: list[PredictionLogger] = []
    yield made
    for logger in made:
        logger.close(timeout=0)


def _logger(live_server: Any, token: str, spool: Path, made: list[PredictionLogger], **options):
    with assay.Client(live_server.url, token) as client:
        logger = client.prediction_logger("churn", 1, spool_dir=spool, **options)
    made.append(logger)
    return logger


def _labels(db: Database) -> dict[str, Any]:
    """Every stored prediction's label, by id."""
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT prediction_id, label FROM predictions")).all()
    return {pid: json.loads(v) if isinstance(v, str) else v for pid, v in rows}


def _pending(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM pending_labels")).scalar_one())


def test_a_label_logged_right_after_its_prediction_travels_behind_it(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
) -> None:
    # small batches: many are cut while the serving loop keeps logging pairs
    logger = _logger(live_server, admin_token, tmp_path, loggers, batch_size=50)
    expected = {}
    for i in range(3000):
        pid = logger.log({"age": 20 + i % 50, "plan": "pro"}, i % 2, score=0.5)
        logger.log_label(pid, (i + 1) % 2)
        expected[pid] = (i + 1) % 2
    assert logger.flush(timeout=60)

    stats = logger.stats
    assert (stats.sent, stats.labels_sent) == (3000, 3000)
    # every label found its prediction stored: none waited on the server, none was unknown
    assert (stats.labels_pending, stats.labels_unknown, stats.labels_rejected) == (0, 0, 0)
    assert _labels(db) == expected
    assert _pending(db) == 0


@pytest.mark.parametrize("labels_first", [True, False], ids=["labels-first", "predictions-first"])
def test_labels_and_predictions_from_separate_loggers_join_in_either_order(
    live_server: Any,
    admin_token: str,
    churn_v1: assay.ModelVersion,
    db: Database,
    tmp_path: Path,
    loggers: list[PredictionLogger],
    labels_first: bool,
) -> None:
    n = 1200
    ids = [f"order-{i}" for i in range(n)]
    truth = {pid: i % 2 for i, pid in enumerate(ids)}
    ground_truth = _logger(live_server, admin_token, tmp_path / "labels", loggers)
    serving = _logger(live_server, admin_token, tmp_path / "serving", loggers)

    def send_labels() -> None:
        ground_truth.log_labels(truth)
        assert ground_truth.flush(timeout=60)

    def send_predictions() -> None:
        for i, pid in enumerate(ids):
            serving.log({"age": 30 + i % 40, "plan": "basic"}, 1, score=0.7, prediction_id=pid)
        assert serving.flush(timeout=60)

    for step in (
        (send_labels, send_predictions) if labels_first else (send_predictions, send_labels)
    ):
        step()

    if labels_first:
        assert (ground_truth.stats.labels_sent, ground_truth.stats.labels_pending) == (0, n)
    else:
        assert (ground_truth.stats.labels_sent, ground_truth.stats.labels_pending) == (n, 0)
    assert ground_truth.stats.labels_unknown == 0
    assert serving.stats.sent == n
    assert _labels(db) == truth
    assert _pending(db) == 0
