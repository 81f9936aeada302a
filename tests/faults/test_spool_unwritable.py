"""A spool the disk refuses, while the server is down: ``log()`` never raises, the logger keeps
what memory allows, and every row it cannot keep is counted in ``stats.dropped``, so that
rows stored plus rows dropped is exactly the rows logged.

The rows are logged a batch at a time, each once the logger's batcher has taken the last out
of its queue: a burst that fills that queue counts a few rows too many as dropped (``log()``
checks the queue's length, then appends, and the batcher may take rows out in between), which
is a race of the logger's own and not the disk's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from assay import PredictionLogger
from assay_server.db import Database
from assay_server.settings import Settings
from tests.faults.conftest import features, register_churn
from tests.sdk.logger_support import wait_for
from tests.sdk.test_logger_live import RestartableServer

LOGGED = 5000
MAX_QUEUE = 1000
BATCH = 100


@pytest.mark.commits
def test_a_spool_directory_that_cannot_be_made_loses_only_rows_counted_as_dropped(
    session_settings: Settings,
    migrated_database: Database,
    db: Database,
    token_factory: Callable[..., str],
    tmp_path: Path,
    loggers: Callable[..., PredictionLogger],
) -> None:
    server = RestartableServer(session_settings, migrated_database)
    server.start()
    token = token_factory("admin")
    register_churn(server.url, token)
    server.stop()
    # where the spool directory should be made there is a file: every write is refused
    blocked = tmp_path / "spool"
    blocked.write_text("not a directory")
    logger = loggers(server.url, token, blocked, batch_size=BATCH, max_queue=MAX_QUEUE)

    ids: list[str] = []
    while len(ids) < LOGGED:
        ids += [logger.log(features(i), i % 2) for i in range(len(ids), len(ids) + BATCH)]
        assert wait_for(lambda: not logger._worker.queue), logger.stats  # taken: see above
    assert wait_for(lambda: logger.stats.queued + logger.stats.dropped == LOGGED), logger.stats
    assert logger.stats.dropped >= LOGGED - MAX_QUEUE - BATCH  # memory is bounded
    server.start()
    try:
        assert logger.flush(timeout=60), logger.stats
    finally:
        server.stop()

    stats = logger.stats
    with db.engine.connect() as connection:
        stored = set(connection.execute(text("SELECT prediction_id FROM predictions")).scalars())
    assert stored <= set(ids)
    assert len(stored) + stats.dropped == LOGGED
    assert stats.sent == len(stored) > 0
    assert (stats.spooled, stats.spool_batches, stats.rejected) == (0, 0, 0)


_FULL_DISK = """
import json, resource, signal, sys, time
import assay

# No write may grow a file: what a full disk does to the spool (EFBIG instead of ENOSPC)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

url, spool, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
with assay.Client(url, "asy_unused") as client:
    logger = client.prediction_logger(
        "churn", 1, spool_dir=spool, batch_size=50, flush_interval=0.02, max_queue=500
    )
logger.initial_backoff = logger.max_backoff = 0.02


def taken():
    # a batch at a time, each once the batcher has taken the last (see the module's docstring)
    deadline = time.monotonic() + 20
    while logger._worker.queue and time.monotonic() < deadline:
        time.sleep(0.002)


raised = 0
for i in range(rows):
    try:
        logger.log({"age": i, "plan": "pro"}, 0)
    except Exception:
        raised += 1
    if i % 50 == 49:
        taken()
logger.close(timeout=0.5)
stats = logger.stats
print(json.dumps({"raised": raised, "dropped": stats.dropped, "spooled": stats.spooled,
                  "sent": stats.sent, "spool_batches": stats.spool_batches}))
"""


def test_a_full_disk_under_the_spool_loses_only_rows_counted_as_dropped(
    closed_port_url: str, sdk_env: dict[str, str], tmp_path: Path
) -> None:
    rows = 2000
    child = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, closed_port_url, str(tmp_path), str(rows)],
        capture_output=True,
        text=True,
        env={**sdk_env, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    outcome: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])

    # no server and no disk: every row is lost, and every row is counted
    assert outcome == {"raised": 0, "dropped": rows, "spooled": 0, "sent": 0, "spool_batches": 0}
    spool = tmp_path / "churn-1"
    left = sorted(p.name for p in spool.iterdir()) if spool.exists() else []
    assert [name for name in left if name != ".replay.lock"] == []  # no half-written batch
