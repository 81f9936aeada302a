"""The scheduler: APScheduler decides what is due; the store decides who runs it.

Each enabled monitor with a schedule is an APScheduler job. When it fires, the process works
out the slot (the trigger's newest fire time within the misfire grace) and claims it by
inserting the run row of ``(monitor, slot, attempt)``, which is unique: of several scheduler
processes against one PostgreSQL, exactly one runs each slot. On SQLite a file lock also
elects one leader, since SQLite serves one machine anyway. Monitors are re-read every
``ASSAY_SCHEDULER_SYNC_SECONDS``, so changes made through any API process take effect.
Periodic housekeeping runs here too: runs stuck past their deadline are failed and retried,
and manual runs queued by the API are taken.

Started by ``assay-server scheduler`` (and by ``assay-server run`` as a child process), never
by ``create_app``: each gunicorn worker would otherwise run every job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .alerts.outbox import Outbox
from .alerts.outbox import wake as outbox_wake
from .db import Database, utcnow
from .governance.rollouts_jobs import advance_due_rollouts
from .ingest import rollup
from .ingest.store import prediction_store
from .monitoring.html import build_missing_pages
from .monitoring.models import Monitor
from .monitoring.runner import SCHEDULER_ACTOR, MonitorRunner, worker_name
from .monitoring.schedules import latest_slot, trigger_for
from .settings import Settings
from .wiring import Wiring, wire

log = logging.getLogger(__name__)

REAP_EVERY_SECONDS = 30.0
#: How often the Evidently pages of new reports are built (each new report once).
PAGES_EVERY_SECONDS = 60.0
#: How often ended hours of ingest are rolled up into the audit trail (ingest/rollup.py).
ROLLUP_EVERY_SECONDS = 300.0
#: How often running rollouts are asked to advance (governance/rollouts_jobs.py).
ROLLOUTS_EVERY_SECONDS = 60.0
#: How often the day partitions ahead are created and expired predictions removed
#: (ingest/partitions.py, ingest/retention.py).
PREDICTION_UPKEEP_EVERY_SECONDS = 3600.0
_JOB_PREFIX = "monitor:"


class MonitorScheduler:
    """An APScheduler background scheduler kept in step with the monitors in the store."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        wiring: Wiring | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        wired = wiring or wire()
        self.runner = MonitorRunner(database, wired.context(SCHEDULER_ACTOR, settings, clock=clock))
        self.grace = timedelta(seconds=settings.scheduler_misfire_grace_seconds)
        self._known: dict[int, Any] = {}
        self._scheduler: Any = None
        self._stop_sync = threading.Event()
        self._sync_thread: threading.Thread | None = None
        self._outbox_thread: threading.Thread | None = None
        self.outbox = Outbox(database, settings, clock=clock, worker=worker_name())

    def start(self) -> None:
        """Start the background threads; returns at once."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max(1, self.settings.scheduler_workers)),
                "housekeeping": ThreadPoolExecutor(2),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.settings.scheduler_misfire_grace_seconds),
            },
            timezone="UTC",
        )
        now = self.clock()
        housekeeping = [
            ("reap-stuck-runs", REAP_EVERY_SECONDS, self.reap),
            ("take-queued-runs", self.settings.scheduler_sync_seconds, self.take_queued),
            ("build-evidently-pages", PAGES_EVERY_SECONDS, self.build_pages),
            ("roll-up-ingest", ROLLUP_EVERY_SECONDS, self.roll_up_ingest),
            ("advance-rollouts", ROLLOUTS_EVERY_SECONDS, self.advance_rollouts),
            ("create-partitions", PREDICTION_UPKEEP_EVERY_SECONDS, self.create_partitions),
            ("expire-predictions", PREDICTION_UPKEEP_EVERY_SECONDS, self.expire_predictions),
        ]
        for name, seconds, job in housekeeping:
            self._scheduler.add_job(
                _logged(name, job),
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                next_run_time=now,
                executor="housekeeping",
            )
        self.sync()
        self._scheduler.start()
        # Jobs are added and removed from a thread of our own: APScheduler 3 deadlocks when a
        # job changes the job store while shutdown(wait=True) waits for that job.
        self._stop_sync.clear()
        self._sync_thread = threading.Thread(
            target=self._sync_forever, name="assay-scheduler-sync", daemon=True
        )
        self._sync_thread.start()
        self._outbox_thread = threading.Thread(
            target=self._deliver_forever, name="assay-outbox", daemon=True
        )
        self._outbox_thread.start()
        log.info("scheduler started")

    def _sync_forever(self) -> None:
        while not self._stop_sync.wait(self.settings.scheduler_sync_seconds):
            _logged("sync-monitors", self.sync)()

    def _deliver_forever(self) -> None:
        """Deliver notifications every few seconds, or at once when this process queued some."""
        while not self._stop_sync.is_set():
            outbox_wake.clear()
            _logged("deliver-notifications", self.outbox.run_once)()
            outbox_wake.wait(self.settings.outbox_poll_seconds)

    def roll_up_ingest(self) -> int:
        """Put each ended hour's prediction batches in one audit event per version."""
        with self.database.unit_of_work() as session:
            return rollup.roll_up_ingest(session, self.runner.ctx, self.clock())

    def advance_rollouts(self) -> int:
        """Take the next step of each running rollout whose step's gate passes."""
        return advance_due_rollouts(self.database, self.runner.ctx)

    def create_partitions(self) -> int:
        """Create the prediction store's day partitions ahead (PostgreSQL), a day per unit of
        work (each locks the default partition until it commits); the days created."""
        created = 0
        while True:
            with self.database.unit_of_work() as session:
                store = prediction_store(session, self.settings)
                made = store.ensure_partitions(
                    self.clock(), self.settings.max_backfill_days, max_days=1
                )
            if not made:
                return created
            created += len(made)

    def expire_predictions(self) -> int:
        """Remove predictions past their model's retention; the models that lost any."""
        with self.database.unit_of_work() as session:
            store = prediction_store(session, self.settings)
            return len(store.expire(self.runner.ctx, self.clock()))

    def build_pages(self) -> int:
        """Build the Evidently pages of recent reports, so they are ready when opened."""
        return build_missing_pages(self.database, self.settings, now=self.clock())

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let running ones finish."""
        self._stop_sync.set()
        outbox_wake.set()
        for thread in (self._sync_thread, self._outbox_thread):
            if thread is not None:
                thread.join()
        self._sync_thread = self._outbox_thread = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    def sync(self) -> None:
        """Add, change and remove jobs to match the enabled monitors in the store."""
        with self.database.unit_of_work(write=False) as session:
            rows = session.execute(
                select(Monitor.id, Monitor.schedule, Monitor.created_at).where(
                    Monitor.enabled.is_(True), Monitor.schedule.is_not(None)
                )
            ).all()
        wanted = {row.id: (row.schedule, row.created_at) for row in rows if row.schedule}
        for monitor_id in set(self._known) - set(wanted):
            self._scheduler.remove_job(f"{_JOB_PREFIX}{monitor_id}")
            del self._known[monitor_id]
        for monitor_id, (schedule, created_at) in wanted.items():
            if self._known.get(monitor_id) == schedule:
                continue
            try:
                trigger = trigger_for(schedule, created_at)
            except ValueError as exc:
                log.error("monitor %s has an unusable schedule: %s", monitor_id, exc)
                continue
            self._scheduler.add_job(
                self.fire,
                trigger,
                args=[monitor_id],
                id=f"{_JOB_PREFIX}{monitor_id}",
                name=f"monitor {monitor_id}",
                replace_existing=True,
            )
            self._known[monitor_id] = schedule

    def fire(self, monitor_id: int) -> None:
        """Run the monitor's current slot here, unless another process claimed it."""
        try:
            with self.database.unit_of_work(write=False) as session:
                monitor = session.get(Monitor, monitor_id)
                if monitor is None or not monitor.enabled or monitor.schedule is None:
                    return
                trigger = trigger_for(monitor.schedule, monitor.created_at)
            slot = latest_slot(trigger, self.clock(), self.grace)
            if slot is None:
                return
            run_id = self.runner.claim(monitor_id, slot)
            if run_id is not None:
                self.runner.execute(run_id)
        except Exception:  # a job never takes the scheduler down
            log.exception("monitor %s: the scheduled run could not be started", monitor_id)

    def reap(self) -> None:
        """Fail runs past their deadline, then run the retries this process claimed."""
        for run_id in self.runner.reap():
            self.runner.execute(run_id)

    def take_queued(self) -> None:
        """Run manual runs the API queued."""
        for run_id in self.runner.queued_runs():
            if self.runner.start_queued(run_id):
                self.runner.execute(run_id)


def _logged(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("scheduler job %s failed", name)

    return run


class LeaderLock:
    """An exclusive lock on a file: one SQLite scheduler at a time (no-op without fcntl)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if free; True when this process holds it."""
        try:
            import fcntl
        except ImportError:  # Windows: a single scheduler is the operator's responsibility
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        """Let another process lead."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def run_scheduler(
    database: Database,
    settings: Settings,
    stop: threading.Event,
    *,
    standby_seconds: float = 2.0,
    wiring: Wiring | None = None,
) -> None:
    """Schedule until ``stop`` is set; on SQLite, wait to be the leader first."""
    lock = LeaderLock(settings.data_dir / "scheduler.lock") if settings.is_sqlite else None
    if lock is not None and not lock.try_acquire():
        log.info("another scheduler leads on this SQLite store; standing by")
        while not stop.wait(standby_seconds):
            if lock.try_acquire():
                break
        else:
            return
    scheduler = MonitorScheduler(database, settings, wiring=wiring)
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        if lock is not None:
            lock.release()
