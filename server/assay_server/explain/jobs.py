"""Explanation jobs: explanations too large to answer at once, and global explanations.

A job is an :class:`~.models.Explanation` row in status ``queued``. The request that queued it
commits first; then :meth:`ExplanationJobs.submit` hands its id to a small thread pool in the
web process, which claims the row, sends batches of rows to the worker pool (each batch with
its own timeout and CPU budget) *outside* any transaction, and stores the result. Jobs left
``queued`` or ``running`` by a stopped server are not resumed yet (see docs/explanations.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from ..context import ServiceContext
from ..db import Database
from ..errors import AssayError
from ..roles import Actor, Role
from .models import Explanation
from .service import ExplanationFailed, ExplanationService, chunks, run_in_pool
from .workers import WorkerPool

log = logging.getLogger(__name__)


class ExplanationJobs:
    """Runs queued explanations in background threads of this process."""

    def __init__(
        self,
        database: Database,
        ctx: ServiceContext,
        pool: Callable[[], WorkerPool],
        threads: int = 2,
    ) -> None:
        """``ctx``: the app's context (settings, clock, wiring); a job acts for whoever asked."""
        self.database = database
        self.ctx = ctx
        self.settings = ctx.settings
        self.pool = pool
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="assay-explain-job")
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, explanation_id: int) -> None:
        """Run a queued explanation soon (after the request that queued it committed)."""
        future = self._executor.submit(self.run, explanation_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted job has finished; False if ``timeout`` passed first."""
        with self._lock:
            pending = set(self._futures)
        _done, not_done = wait(pending, timeout=timeout)
        return not not_done

    def shutdown(self) -> None:
        """Stop taking jobs and wait for the running ones."""
        self._executor.shutdown(wait=True)

    def run(self, explanation_id: int) -> None:
        """Claim, compute (outside any transaction), store."""
        try:
            with self.database.unit_of_work() as session:
                record = session.get(Explanation, explanation_id)
                if record is None:
                    return
                ctx = self._context_of(record)
                claimed = ExplanationService(session, ctx, self.pool).claim(explanation_id)
            if claimed is None:
                return
            work, rows = claimed
            results: list[dict[str, Any]] = []
            error: AssayError | None = None
            try:
                for batch in chunks(rows, self.settings.max_sync_explain_rows):
                    results.extend(
                        run_in_pool(self.pool(), work, batch, self.settings.explain_timeout_seconds)
                    )
            except AssayError as exc:
                error = exc
            except Exception:
                log.exception("explanation job %s failed", explanation_id)
                error = ExplanationFailed("The explanation job failed on the server.")
            with self.database.unit_of_work() as session:
                ExplanationService(session, ctx, self.pool).finish(
                    explanation_id, None if error else results, error
                )
        except Exception:
            log.exception("explanation job %s failed", explanation_id)

    def _context_of(self, record: Explanation) -> ServiceContext:
        # The job acts for whoever asked; the audit trail names them.
        actor = Actor(
            name=record.created_by, role=Role.CONTRIBUTOR, token_id=record.created_by_token_id
        )
        return self.ctx.acting_as(actor)
