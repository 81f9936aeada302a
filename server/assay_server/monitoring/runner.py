"""Running a monitor: claim the run, read its window, compute the checks, store the reports.

A run spans three short units of work so that SQLite's write lock is never held while a window
is read or computed: the claim (or start), the read-and-compute on a read session, and the
store of reports with the run's outcome and its audit event. A run that raises is recorded as
failed with its error; one that dies silently is found past its deadline by :meth:`reap`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import Database
from ..errors import AssayError, NotFound
from ..registry.models import ModelVersion
from ..roles import Actor
from ..settings import Settings
from .drafts import ReportDraft
from .models import MonitorRun, Report, RunStatus
from .run_inputs import compute_run, no_version, plain, version_watched
from .service import MonitorService
from .windows import Window

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = Actor.cli("scheduler")
_ERROR_CHARS = 2000
FAILED_ON_THE_SERVER = (
    "The checks failed on the server; its log has the details (monitor run {run_id})."
)


def worker_name() -> str:
    """Who claims runs: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class MonitorRunner:
    """Claims, executes and reaps monitor runs against one store.

    ``ctx`` is the scheduler's context (its actor, settings, clock and the wired events): a
    run's outcome is published as ``monitor.run_succeeded`` / ``_failed`` / ``_skipped`` in
    the unit of work that stores it, so subscribers (alerts) change in the same transaction.
    """

    def __init__(self, database: Database, ctx: ServiceContext) -> None:
        self.database = database
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.clock: Callable[[], datetime] = ctx.clock

    def _ctx(self, actor: Actor | None = None) -> ServiceContext:
        return self.ctx if actor is None else self.ctx.acting_as(actor)

    def claim(self, monitor_id: int, slot: datetime, *, attempt: int = 1) -> int | None:
        """Insert the run of ``slot``; None when another process already has it."""
        now = self.clock()
        try:
            with self.database.unit_of_work() as session:
                run = MonitorRun(
                    monitor_id=monitor_id,
                    trigger="schedule",
                    scheduled_for=slot,
                    attempt=attempt,
                    status=RunStatus.RUNNING.value,
                    claimed_by=worker_name(),
                    requested_by=self.ctx.actor.name,
                    created_at=now,
                    started_at=now,
                    deadline_at=now + timedelta(seconds=self.settings.run_deadline_seconds),
                    sampled=False,
                    statuses={},
                )
                session.add(run)
                session.flush()
                return run.id
        except IntegrityError:
            return None

    def start_queued(self, run_id: int) -> bool:
        """Take a queued (manual) run; False when another process took it first."""
        now = self.clock()
        with self.database.unit_of_work() as session:
            run = session.scalar(
                select(MonitorRun).where(MonitorRun.id == run_id).with_for_update(skip_locked=True)
            )
            if run is None or run.status != RunStatus.QUEUED.value:
                return False
            run.status = RunStatus.RUNNING.value
            run.claimed_by = worker_name()
            run.started_at = now
            run.deadline_at = now + timedelta(seconds=self.settings.run_deadline_seconds)
            return True

    def request(self, model_name: str, monitor_id: int, *, actor: Actor, wait: bool) -> int:
        """Ask for a run now (audited): started here when ``wait``, else queued for a
        scheduler process."""
        now = self.clock()
        with self.database.unit_of_work() as session:
            monitor = MonitorService(session, self._ctx(actor)).get(model_name, monitor_id)
            run = MonitorRun(
                monitor_id=monitor.id,
                trigger="manual",
                scheduled_for=None,
                attempt=1,
                status=(RunStatus.RUNNING if wait else RunStatus.QUEUED).value,
                claimed_by=worker_name() if wait else None,
                requested_by=actor.name,
                created_at=now,
                started_at=now if wait else None,
                deadline_at=now + timedelta(seconds=self.settings.run_deadline_seconds)
                if wait
                else None,
                sampled=False,
                statuses={},
            )
            session.add(run)
            session.flush()
            AuditTrail(session, self._ctx(actor)).append(
                "monitor.run_requested",
                "monitor",
                monitor.audit_id,
                {"monitor_id": monitor.id, "run_id": run.id, "wait": wait},
            )
            return run.id

    def run_now(self, model_name: str, monitor_id: int, *, actor: Actor, wait: bool) -> MonitorRun:
        """Ask for a run now (audited) and, with ``wait``, compute it here; the run as stored
        after. Each step is a unit of work of its own (see the module's docstring)."""
        run_id = self.request(model_name, monitor_id, actor=actor, wait=wait)
        if wait:
            self.execute(run_id)
        return self.load(run_id)

    def load(self, run_id: int) -> MonitorRun:
        """A run as stored now, detached, with its version loaded."""
        with self.database.unit_of_work(write=False) as session:
            run = session.scalar(
                select(MonitorRun)
                .options(joinedload(MonitorRun.version))
                .where(MonitorRun.id == run_id)
            )
            if run is None:
                raise NotFound(f"No monitor run {run_id}.")
            return run

    def queued_runs(self) -> list[int]:
        """Manual runs waiting for a scheduler, oldest first."""
        with self.database.unit_of_work(write=False) as session:
            return list(
                session.scalars(
                    select(MonitorRun.id)
                    .where(MonitorRun.status == RunStatus.QUEUED.value)
                    .order_by(MonitorRun.id)
                )
            )

    def execute(self, run_id: int) -> str:
        """Compute a started run and store its reports; returns the run's final status."""
        try:
            with self.database.unit_of_work(write=False) as session:
                run = session.get(MonitorRun, run_id)
                if run is None:
                    raise NotFound(f"No monitor run {run_id}.")
                monitor = run.monitor
                version = version_watched(session, monitor)
                if version is None:
                    return self._finish(run_id, None, None, [], skipped=no_version(monitor))
                known_profile = version.reference_profile_sha256
                window, drafts = compute_run(session, self.settings, monitor, version, run)
                new_profile = version.reference_profile_sha256
            if new_profile != known_profile:
                self._record_profile(version.id, new_profile)
            return self._finish(run_id, version.id, window, drafts)
        except AssayError as exc:  # ours: its message is written for people
            log.warning("monitor run %s failed: %s", run_id, exc.message)
            return self._fail(run_id, exc.message[:_ERROR_CHARS])
        except Exception:
            # what an unexpected exception says stays in the log: it may quote stored data
            log.exception("monitor run %s failed", run_id)
            return self._fail(run_id, FAILED_ON_THE_SERVER.format(run_id=run_id))

    def reap(self) -> list[int]:
        """Fail runs stuck past their deadline and claim a retry of each scheduled one."""
        now = self.clock()
        retried = []
        with self.database.unit_of_work() as session:
            stuck = list(
                session.scalars(
                    select(MonitorRun)
                    .where(
                        MonitorRun.status == RunStatus.RUNNING.value, MonitorRun.deadline_at < now
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            for run in stuck:
                run.status = RunStatus.FAILED.value
                _finished(run, now)
                run.error = (
                    f"Still running at its deadline ({self.settings.run_deadline_seconds:g} s "
                    f"after it started, claimed by {run.claimed_by}); marked failed."
                )
                self._audit_outcome(session, run, [])
            targets = [(r.monitor_id, r.scheduled_for, r.attempt) for r in stuck if r.scheduled_for]
        for monitor_id, slot, attempt in targets:
            run_id = self.claim(monitor_id, slot, attempt=attempt + 1)
            if run_id is not None:
                retried.append(run_id)
        return retried

    def _finish(
        self,
        run_id: int,
        version_id: int | None,
        window: Window | None,
        drafts: list[ReportDraft],
        *,
        skipped: str | None = None,
    ) -> str:
        now = self.clock()
        with self.database.unit_of_work() as session:
            run = session.get(MonitorRun, run_id)
            if run is None:
                raise NotFound(f"No monitor run {run_id}.")
            if run.status != RunStatus.RUNNING.value:  # reaped meanwhile: keep that verdict
                return run.status
            monitor = run.monitor
            run.version_id = version_id
            _finished(run, now)
            if skipped is not None:
                run.status = RunStatus.SKIPPED.value
                run.error = skipped
                self._audit_outcome(session, run, [])
                return run.status
            if window is None or version_id is None:
                raise ValueError("a run that was not skipped has a version and a window")
            run.window_start, run.window_end = window.start, window.end
            run.rows_total, run.rows_used = window.rows_total, len(window.data)
            run.sampled = window.sampled
            run.statuses = {draft.kind: draft.status for draft in drafts}
            run.status = RunStatus.SUCCEEDED.value
            reports = [
                Report(
                    run_id=run.id,
                    monitor_id=monitor.id,
                    model_id=monitor.model_id,
                    version_id=version_id,
                    kind=draft.kind,
                    status=draft.status,
                    window_start=window.start,
                    window_end=window.end,
                    rows_total=window.rows_total,
                    rows_used=len(window.data) if draft.rows_used is None else draft.rows_used,
                    sampled=window.sampled if draft.sampled is None else draft.sampled,
                    sample_seed=window.seed,
                    summary=plain(draft.summary),
                    detail=plain(draft.detail),
                    findings=plain(draft.findings),
                    created_at=now,
                )
                for draft in drafts
            ]
            session.add_all(reports)
            session.flush()
            self._audit_outcome(session, run, reports)
            return run.status

    def _record_profile(self, version_id: int, sha256: str | None) -> None:
        with self.database.unit_of_work() as session:
            version = session.get(ModelVersion, version_id)
            if version is not None and version.reference_profile_sha256 is None:
                version.reference_profile_sha256 = sha256

    def _fail(self, run_id: int, error: str) -> str:
        with self.database.unit_of_work() as session:
            run = session.get(MonitorRun, run_id)
            if run is None:
                return RunStatus.FAILED.value
            run.status = RunStatus.FAILED.value
            _finished(run, self.clock())
            run.error = error
            self._audit_outcome(session, run, [])
            return run.status

    def _audit_outcome(self, session: Session, run: MonitorRun, reports: list[Report]) -> None:
        """Audit and publish a run's outcome (``monitor.run_<status>``)."""
        monitor = run.monitor
        AuditTrail(session, self._ctx()).append(
            f"monitor.run_{run.status}",
            "monitor",
            monitor.audit_id,
            {
                "monitor_id": monitor.id,
                "run_id": run.id,
                "trigger": run.trigger,
                "scheduled_for": run.scheduled_for.isoformat() if run.scheduled_for else None,
                "attempt": run.attempt,
                "rows_used": run.rows_used,
                "reports": {r.kind: {"id": r.id, "status": r.status} for r in reports},
                "error": run.error,
            },
        )
        self.ctx.events.publish(
            session,
            self.ctx,
            f"monitor.run_{run.status}",
            {
                "run_id": run.id,
                "monitor_id": monitor.id,
                "model_id": monitor.model_id,
                "version_id": run.version_id,
                "report_ids": [report.id for report in reports],
                "statuses": {report.kind: report.status for report in reports},
                "error": run.error,
            },
        )


def _finished(run: MonitorRun, now: datetime) -> None:
    """Mark ``run`` finished now, keeping how long it ran (``/metrics`` sums it in SQL)."""
    run.finished_at = now
    if run.started_at is not None:
        run.duration_seconds = (now - run.started_at).total_seconds()
