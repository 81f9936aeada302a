"""Running explanations: each step in a unit of work of its own, the computation in none.

A worker may take seconds, and a transaction held meanwhile would hold SQLite's write lock
(and a PostgreSQL connection) as long. So a request is planned in a short read, computed by a
worker outside any transaction, and recorded in a short write; a request too large to answer
at once, and every global explanation, is recorded as queued and handed to ``submit`` once
that write has committed, so the job's thread finds its row. A job is claimed, computed a
batch of rows at a time, and finished the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..context import ServiceContext
from ..db import Database
from ..errors import AssayError
from ..roles import Actor, Role
from .messages import RowExplanation
from .models import Explanation, ExplanationStatus
from .schemas import ExplainRequest, GlobalRequest
from .service import ExplanationService, Job
from .work import ExplanationFailed, chunks, run_in_pool
from .workers import WorkerPool

log = logging.getLogger(__name__)


class ExplanationRunner:
    """Answers explanation requests and runs their jobs against one store and worker pool.

    ``ctx`` is the caller's (a request's, or the job runner's own: a job then acts for
    whoever asked); ``pool`` gives the worker pool, started on first use; ``submit`` hands a
    queued explanation's id to whatever runs jobs (:class:`~.jobs.ExplanationJobs`).
    """

    def __init__(
        self,
        database: Database,
        ctx: ServiceContext,
        pool: Callable[[], WorkerPool],
        *,
        submit: Callable[[int], None],
    ) -> None:
        self.database = database
        self.ctx = ctx
        self.settings = ctx.settings
        self.pool = pool
        self.submit = submit

    def explain(self, model_name: str, version: int, request: ExplainRequest) -> Explanation:
        """Explain rows now, answer them from a stored result, or queue a job for them (more
        than ASSAY_MAX_SYNC_EXPLAIN_ROWS); the explanation as recorded (detached)."""
        with self.database.unit_of_work(write=False) as session:
            plan = ExplanationService(session, self.ctx).plan(model_name, version, request)
        results = None
        if plan.computes_now:
            timeout = self.settings.explain_timeout_seconds
            results = run_in_pool(self.pool, plan.work, plan.rows, timeout)
        with self.database.unit_of_work() as session:
            explanation = ExplanationService(session, self.ctx).record(plan, results)
        if explanation.status == ExplanationStatus.QUEUED:
            self.submit(explanation.id)
        return explanation

    def request_global(self, model_name: str, version: int, request: GlobalRequest) -> Explanation:
        """Queue a global explanation over a sample of the reference set; the explanation as
        recorded (detached, status ``queued``)."""
        with self.database.unit_of_work() as session:
            service = ExplanationService(session, self.ctx)
            explanation = service.request_global(model_name, version, request)
        self.submit(explanation.id)
        return explanation

    def run_job(self, explanation_id: int) -> None:
        """Claim a queued explanation, compute it and store its outcome, acting for whoever
        asked; what goes wrong is stored on the explanation (or logged), never raised."""
        try:
            with self.database.unit_of_work() as session:
                record = session.get(Explanation, explanation_id)
                if record is None:
                    return
                ctx = self._acting_for(record)
                job = ExplanationService(session, ctx).claim(explanation_id)
            if job is None:
                return
            outcome = self._compute(explanation_id, job)
            with self.database.unit_of_work() as session:
                ExplanationService(session, ctx).finish(explanation_id, outcome)
        except Exception:
            log.exception("explanation job %s failed", explanation_id)

    def _compute(self, explanation_id: int, job: Job) -> list[RowExplanation] | AssayError:
        """A job's results, batch by batch (each with its own timeout and CPU budget), or the
        error that stopped it."""
        results: list[RowExplanation] = []
        try:
            for batch in chunks(job.rows, self.settings.max_sync_explain_rows):
                timeout = self.settings.explain_timeout_seconds
                results.extend(run_in_pool(self.pool, job.work, batch, timeout))
        except AssayError as exc:
            return exc
        except Exception:
            log.exception("explanation job %s failed", explanation_id)
            return ExplanationFailed("The explanation job failed on the server.")
        return results

    def _acting_for(self, record: Explanation) -> ServiceContext:
        # The job acts for whoever asked; the audit trail names them.
        actor = Actor(
            name=record.created_by, role=Role.CONTRIBUTOR, token_id=record.created_by_token_id
        )
        return self.ctx.acting_as(actor)
