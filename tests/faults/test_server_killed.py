"""The server (``assay-server run``: gunicorn, master and worker) SIGKILLed in the middle of
ingest and started again: the SDK's prediction logger spools and retries through the outage,
and every prediction is stored exactly once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assay import PredictionLogger
from tests.faults.conftest import (
    Feeder,
    ServerProcess,
    register_churn,
    stored_predictions,
)
from tests.sdk.logger_support import wait_for


@pytest.mark.slow
def test_a_server_killed_mid_ingest_and_restarted_stores_every_prediction_once(
    server_process: ServerProcess,
    fresh_database_url: str,
    tmp_path: Path,
    loggers: Callable[..., PredictionLogger],
) -> None:
    server_process.start()  # migrates the empty store and prints the first admin token
    token = server_process.first_token()
    register_churn(server_process.url, token)
    # batches of up to 500 rows: what piles up in the spool while the server is down goes
    # back in few requests
    logger = loggers(server_process.url, token, tmp_path / "spool", batch_size=500)
    logger.flush_interval = 0.2

    with Feeder(logger, rows_per_tick=5) as feeder:
        assert wait_for(lambda: logger.stats.sent >= 500, timeout=30), logger.stats
        server_process.kill()
        logged_at_kill = feeder.logged()
        assert wait_for(lambda: logger.stats.retries > 0, timeout=30), logger.stats
        assert wait_for(lambda: feeder.logged() >= logged_at_kill + 500, timeout=30)
    server_process.start()
    with Feeder(logger, rows_per_tick=5) as more:
        assert wait_for(lambda: more.logged() >= 500, timeout=30)

    assert logger.flush(timeout=60), logger.stats
    ids = feeder.ids + more.ids
    assert len(set(ids)) == len(ids)
    assert stored_predictions(fresh_database_url) == (len(ids), len(ids))
    stats = logger.stats
    # a batch stored just before the kill, whose answer never came, is sent again: duplicates
    assert stats.sent <= len(ids) <= stats.sent + stats.duplicates
    assert stats.spooled > 0
    assert (stats.rejected, stats.dropped, stats.spool_batches) == (0, 0, 0)
