"""Explanation jobs: explanations too large to answer at once, and global explanations.

A job is an :class:`~.models.Explanation` row in status ``queued``. Once the write that queued
it has committed, :meth:`ExplanationJobs.submit` hands its id to a small thread pool in the
web process, whose thread runs it with :meth:`ExplanationRunner.run_job
<assay_server.explain.runner.ExplanationRunner.run_job>`: claim the row, send batches of rows
to the worker pool *outside* any transaction, store the result. Jobs left ``queued`` or
``running`` by a stopped server are not resumed (see docs/explanations.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ..context import ServiceContext
from ..db import Database
from .runner import ExplanationRunner
from .workers import WorkerPool


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
        self.runner = ExplanationRunner(database, ctx, pool, submit=self.submit)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="assay-explain-job")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, explanation_id: int) -> None:
        """Run a queued explanation soon (after the write that queued it committed)."""
        future = self._executor.submit(self.runner.run_job, explanation_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
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
