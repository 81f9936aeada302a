"""The batcher alone: batch sizes that follow the rate, and what it does when behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from assay._batcher import Batcher
from assay._batches import Batch
from assay._delivery_stats import StatsKeeper
from tests.sdk.logger_support import ManualClock

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

ROW = ("id", 1.5, {"age": 30.0, "plan": "pro"}, 1, 0.5, None, None, None)


@dataclass
class Settings:
    batch_size: int = 10
    max_batch_size: int = 100
    flush_interval: float = 60.0
    max_queue: int = 100_000
    compress: bool | None = True


def _batcher(settings: Settings, clock: ManualClock, sent: list[Batch], **options: Any) -> Batcher:
    stats = StatsKeeper(owner="churn v3", kept_errors=5, on_error=None, clock=clock)
    names = iter(range(1_000_000))
    return Batcher(
        settings,
        name=lambda kind, rows, gzipped: f"{next(names):020d}.{kind}.{rows}",
        dispatch=sent.append,
        stats=stats,
        clock=clock,
        **options,
    )


def _offer(batcher: Batcher, clock: ManualClock, per_second: int, seconds: float) -> None:
    """Rows at ``per_second``, the batcher cutting every 0.1 s as a woken batcher would."""
    for _ in range(round(seconds * 10)):
        batcher.queue.extend([ROW] * (per_second // 10))
        clock.advance(0.1)
        batcher.cut(force=False)


def test_batches_grow_with_the_rate_up_to_max_batch_size_and_shrink_back() -> None:
    clock, sent = ManualClock(), []
    batcher = _batcher(Settings(), clock, sent)

    _offer(batcher, clock, per_second=200, seconds=1)  # 0.2 s of rows: 40
    assert batcher.cut_at == 40 and sent[-1].rows == 40
    _offer(batcher, clock, per_second=5_000, seconds=1)  # 1,000 rows in 0.2 s: capped
    assert batcher.cut_at == 100 and {batch.rows for batch in sent[-10:]} == {100}
    _offer(batcher, clock, per_second=20, seconds=1)  # slow again: batch_size
    assert batcher.cut_at == 10
    assert sum(batch.rows for batch in sent) + len(batcher.queue) == 200 + 5_000 + 20


def test_a_413_lowers_the_ceiling_at_once() -> None:
    clock, sent = ManualClock(), []
    settings = Settings()
    batcher = _batcher(settings, clock, sent)
    _offer(batcher, clock, per_second=5_000, seconds=1)
    assert batcher.cut_at == 100

    settings.batch_size = settings.max_batch_size = 25  # what the sender does on a 413
    _offer(batcher, clock, per_second=5_000, seconds=0.1)

    assert sent[-1].rows == 25


def test_a_batcher_that_falls_behind_stops_gzipping_until_it_catches_up() -> None:
    clock, sent = ManualClock(), []
    batcher = _batcher(Settings(max_queue=400), clock, sent)

    batcher.queue.extend([ROW] * 300)  # 300 of 400: behind
    batcher.cut(force=True)

    gzipped = [batch.gzipped for batch in sent]
    assert gzipped[0] is False  # the backlog went plain
    assert gzipped[-1] is True  # caught up: the last batch is gzipped again
    assert sum(batch.rows for batch in sent) == 300


def test_to_a_loopback_server_batches_are_gzipped_only_while_memory_fills() -> None:
    clock, sent = ManualClock(), []
    filling = False
    batcher = _batcher(
        Settings(compress=None),
        clock,
        sent,
        server_on_this_host=True,
        memory_filling=lambda: filling,
    )

    batcher.queue.extend([ROW] * 10)
    batcher.cut(force=True)
    filling = True
    batcher.queue.extend([ROW] * 10)
    batcher.cut(force=True)

    assert [batch.gzipped for batch in sent] == [False, True]


def test_a_forced_cut_takes_the_rows_queued_when_it_began_not_those_logged_meanwhile() -> None:
    clock, sent = ManualClock(), []
    batcher = _batcher(Settings(batch_size=50), clock, sent)
    late = 0

    def log_while_dispatching(batch: Batch) -> None:
        nonlocal late
        sent.append(batch)
        if late < 1000:  # a serving thread keeps logging while each batch is written
            batcher.queue.extend([ROW] * 7)
            late += 7

    batcher._dispatch = log_while_dispatching  # type: ignore[method-assign]
    batcher.queue.extend([ROW] * 120)
    batcher.cut(force=True)

    assert [batch.rows for batch in sent] == [50, 50, 20]
    assert len(batcher.queue) == 3 * 7  # logged during the cut: they wait for the next one
