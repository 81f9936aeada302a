"""The scheduler: each due slot runs once, crashes are recorded, stuck runs are retried."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay_server.db import Database, utcnow
from assay_server.monitoring import evaluate
from assay_server.monitoring.models import MonitorRun
from assay_server.monitoring.runner import FAILED_ON_THE_SERVER, SCHEDULER_ACTOR, MonitorRunner
from assay_server.monitoring.schedules import latest_slot, trigger_for
from assay_server.monitoring.service import MonitorService
from assay_server.registry.service import RegistryService
from assay_server.roles import Actor
from assay_server.scheduler import LeaderLock, MonitorScheduler
from assay_server.settings import Settings
from assay_server.wiring import wire

from .conftest import FEATURES

pytestmark = pytest.mark.commits  # scheduler threads and processes read the store


def _monitor(db: Database, settings: Settings, clock: Any, schedule: dict[str, Any]) -> int:
    ctx = wire().context(Actor.cli("cli:test"), settings, clock=clock)
    with db.unit_of_work() as session:
        registry = RegistryService(session, ctx)
        registry.create_model(name="churn", task="binary_classification")
        registry.register_version("churn", spec_features(FEATURES))
    with db.unit_of_work() as session:
        monitor = MonitorService(session, ctx).create(
            "churn", {"checks": ["drift", "data_quality"], "schedule": schedule}
        )
        return monitor.id


def spec_features(features: list[dict[str, str]]) -> Any:
    from assay_server.registry.service import VersionSpec

    return VersionSpec(features=features)


def _runs(db: Database) -> list[MonitorRun]:
    with db.unit_of_work(write=False) as session:
        return list(session.scalars(select(MonitorRun).order_by(MonitorRun.id)))


def test_slots_count_from_the_monitors_creation_and_coalesce_within_the_grace() -> None:
    anchor = datetime(2026, 11, 23, 9, 0, 0, 400_000, tzinfo=timezone.utc)
    trigger = trigger_for({"interval_seconds": 60}, anchor)
    now = anchor + timedelta(minutes=10, seconds=30)
    assert latest_slot(trigger, now, timedelta(minutes=5)) == anchor.replace(
        microsecond=0
    ) + timedelta(minutes=10)
    assert latest_slot(trigger, now, timedelta(seconds=10)) is None
    cron = trigger_for({"cron": "0 * * * *"}, anchor)
    assert latest_slot(cron, now, timedelta(hours=2)) == datetime(
        2026, 11, 23, 9, 0, tzinfo=timezone.utc
    )
    assert latest_slot(cron, now, timedelta(minutes=5)) is None
    with pytest.raises(ValueError):
        trigger_for({"cron": "61 * * * *"}, anchor)


def test_two_schedulers_that_fire_the_same_slot_run_it_once(
    db: Database, settings: Settings, clock: Any
) -> None:
    monitor_id = _monitor(db, settings, clock, {"interval_seconds": 60})
    first = MonitorScheduler(db, settings, clock=clock)
    second = MonitorScheduler(db, settings, clock=clock)
    clock.advance(minutes=3, seconds=1)
    first.fire(monitor_id)
    second.fire(monitor_id)
    clock.advance(minutes=1)
    second.fire(monitor_id)
    first.fire(monitor_id)
    runs = _runs(db)
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert runs[1].scheduled_for - runs[0].scheduled_for == timedelta(minutes=1)
    assert runs[0].statuses == {"drift": "insufficient_data", "data_quality": "insufficient_data"}


def test_a_run_that_crashes_is_recorded_as_failed_and_the_next_slot_still_runs(
    db: Database,
    settings: Settings,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor_id = _monitor(db, settings, clock, {"interval_seconds": 60})
    scheduler = MonitorScheduler(db, settings, clock=clock)

    def explode(inputs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setitem(evaluate.CHECK_FUNCTIONS, "drift", explode)
    clock.advance(minutes=1, seconds=1)
    with caplog.at_level(logging.ERROR, logger="assay_server.monitoring.runner"):
        scheduler.fire(monitor_id)
    monkeypatch.undo()
    clock.advance(minutes=1)
    scheduler.fire(monitor_id)
    failed, succeeded = _runs(db)
    assert failed.status == "failed"
    # the run says where to look, never what the exception said (it may quote stored data)
    assert failed.error == FAILED_ON_THE_SERVER.format(run_id=failed.id)
    assert "the disk is on fire" in caplog.text
    assert succeeded.status == "succeeded"


def test_a_run_stuck_past_its_deadline_is_failed_and_retried(
    db: Database, settings: Settings, clock: Any
) -> None:
    monitor_id = _monitor(db, settings, clock, {"interval_seconds": 3600})
    runner = MonitorRunner(db, wire().context(SCHEDULER_ACTOR, settings, clock=clock))
    slot = clock() + timedelta(hours=1)
    claimed = runner.claim(monitor_id, slot)
    assert claimed is not None
    assert runner.claim(monitor_id, slot) is None  # the claim is unique
    clock.advance(seconds=settings.run_deadline_seconds + 1)
    scheduler = MonitorScheduler(db, settings, clock=clock)
    scheduler.reap()
    stuck, retry = _runs(db)
    assert (stuck.status, stuck.attempt) == ("failed", 1)
    assert "deadline" in stuck.error
    assert (retry.status, retry.attempt, retry.scheduled_for) == ("succeeded", 2, slot)


def test_the_sync_follows_monitors_enabled_changed_and_removed(
    db: Database, settings: Settings, clock: Any
) -> None:
    monitor_id = _monitor(db, settings, clock, {"interval_seconds": 60})
    scheduler = MonitorScheduler(db, settings, clock=clock)
    scheduler.start()
    try:
        jobs = {job.id for job in scheduler._scheduler.get_jobs()}
        assert f"monitor:{monitor_id}" in jobs
        ctx = wire().context(Actor.cli("cli:test"), settings, clock=clock)
        with db.unit_of_work() as session:
            MonitorService(session, ctx).update("churn", monitor_id, {"enabled": False})
        scheduler.sync()
        jobs = {job.id for job in scheduler._scheduler.get_jobs()}
        assert f"monitor:{monitor_id}" not in jobs
    finally:
        scheduler.shutdown()


def test_only_one_process_leads_on_sqlite(tmp_path: Path) -> None:
    first, second = LeaderLock(tmp_path / "lock"), LeaderLock(tmp_path / "lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


#: one-second slots the test waits for: enough for both processes to claim some
SLOTS_WANTED = 8


@pytest.mark.slow
def test_two_scheduler_processes_run_each_one_second_slot_exactly_once(
    db: Database, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    monitor_id = _monitor(db, settings, utcnow, {"interval_seconds": 1})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(
        ASSAY_DATABASE_URL=database_url,
        ASSAY_DATA_DIR=str(tmp_path / "shared"),
        ASSAY_SCHEDULER_SYNC_SECONDS="1",
    )
    command = [sys.executable, "-m", "assay_server.cli", "scheduler"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    ours = {str(p.pid) for p in processes}
    wanted_claimers = ours if database_url.startswith("postgresql") else set()

    def enough() -> bool:
        runs = [r for r in _runs(db) if r.monitor_id == monitor_id]
        claimers = {r.claimed_by.rsplit(":", 1)[-1] for r in runs}
        return len({r.scheduled_for for r in runs}) >= SLOTS_WANTED and wanted_claimers <= claimers

    try:
        deadline = time.monotonic() + 60
        while not enough() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60)[0].decode() for process in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    runs = [r for r in _runs(db) if r.monitor_id == monitor_id]
    per_slot = Counter(r.scheduled_for for r in runs)
    assert per_slot and max(per_slot.values()) == 1, per_slot.most_common(3)
    assert {r.status for r in runs} == {"succeeded"}, [r.error for r in runs]
    first, last = min(per_slot), max(per_slot)
    slots = int((last - first).total_seconds()) + 1
    assert slots >= SLOTS_WANTED, outputs
    # a busy 2-core machine may coalesce a slot now and then, never run one twice
    assert len(per_slot) >= 0.8 * slots, (len(per_slot), slots)
    claimers = {r.claimed_by.rsplit(":", 1)[-1] for r in runs}
    assert claimers <= ours, "only the two scheduler processes of this test claim runs"
    if database_url.startswith("postgresql"):
        assert claimers == ours, "both processes should have claimed runs"
