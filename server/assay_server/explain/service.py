"""Explanation rules: plan a request, record its answer or its job, reuse stored results.

The service never loads a model and never waits for a worker: it checks a request, decides
whether a stored answer, a computation now or a job answers it
(:meth:`ExplanationService.plan`), and records what came of it. ``runner.py`` runs the
computations between those steps, outside any transaction. Every request is audited; results
are stored and reused for the same (version, rows, parameters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import AssayError, NotFound
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from .messages import (
    GlobalParams,
    GlobalResult,
    LimeParams,
    LocalResult,
    Row,
    RowExplanation,
    aggregate_global,
)
from .models import Explanation, ExplanationStatus
from .permissions import LoadPermissionService, features_of
from .rows import check_rows, input_hash
from .schemas import ExplainRequest, GlobalRequest
from .work import LoadableVersion, WorkRequest

LOCAL, GLOBAL = "local", "global"


@dataclass(frozen=True)
class ExplainPlan:
    """A checked explanation request: what to send a worker, or the stored answer's id."""

    version_id: int
    work: WorkRequest
    rows: list[Row]
    params: LimeParams
    digest: str
    stored_id: int | None
    sync: bool

    @property
    def computes_now(self) -> bool:
        """Whether a worker answers it within the request (no stored answer, not a job)."""
        return self.stored_id is None and self.sync


@dataclass(frozen=True)
class Job:
    """A claimed job: what to send the workers, and the rows to send them in batches."""

    work: WorkRequest
    rows: list[Row]


class ExplanationService:
    """Plan and record explanations, keep and reuse their results."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.registry = RegistryService(session, ctx)
        self.loading = LoadPermissionService(session, ctx)

    # local explanations -----------------------------------------------------------------

    def plan(self, model_name: str, version: int, request: ExplainRequest) -> ExplainPlan:
        """Check the request and decide: a stored answer, a computation now, or a job."""
        row = self.registry.get_version(model_name, version)
        loadable = self.loading.loadable(row)
        rows = request["rows"]
        check_rows(rows, loadable.features)
        params: LimeParams = {
            "num_features": request["num_features"],
            "num_samples": request["num_samples"],
            "seed": request["seed"],
            "label": request["label"],
        }
        digest = input_hash(rows, params)
        stored = self.session.scalar(
            select(Explanation.id)
            .where(
                Explanation.version_id == row.id,
                Explanation.kind == LOCAL,
                Explanation.input_hash == digest,
                Explanation.status == ExplanationStatus.DONE,
            )
            .order_by(Explanation.id.desc())
            .limit(1)
        )
        return ExplainPlan(
            version_id=row.id,
            work=self._work(loadable, params),
            rows=rows,
            params=params,
            digest=digest,
            stored_id=stored,
            sync=len(rows) <= self.ctx.settings.max_sync_explain_rows,
        )

    def record(self, plan: ExplainPlan, results: list[RowExplanation] | None) -> Explanation:
        """Store and audit what :meth:`plan` decided: the stored answer again, the ``results``
        a worker computed for it, or a queued job (no results)."""
        row = self.session.get(ModelVersion, plan.version_id)
        if row is None:
            raise NotFound("The version is gone.")
        if plan.stored_id is not None:
            stored = self.get(plan.stored_id)
            self._audit_request(row, stored, cached=True)
            stored.cached = True
            return stored
        record = self._new(row, LOCAL, plan.digest, plan.params, plan.rows, source="request")
        if results is not None:
            record.status = ExplanationStatus.DONE
            local: LocalResult = {"task": row.model.task, "explanations": results}
            record.result = dict(local)
            record.rows = None
            record.finished_at = self.ctx.clock()
            self.session.flush()
        self._audit_request(row, record, cached=False)
        return record

    def get(self, explanation_id: int) -> Explanation:
        """One explanation by id, with its version and model (for its answer)."""
        record = self.session.get(
            Explanation,
            explanation_id,
            options=[joinedload(Explanation.version).joinedload(ModelVersion.model)],
        )
        if record is None:
            raise NotFound(f"No explanation {explanation_id}.")
        return record

    # global explanations ----------------------------------------------------------------

    def request_global(
        self,
        model_name: str,
        version: int,
        request: GlobalRequest,
        *,
        rows: list[Row] | None = None,
        source: str = "reference",
    ) -> Explanation:
        """Queue a global explanation over ``rows`` (default: a sample of the reference set).

        ``rows`` lets a caller pass a sample of logged predictions instead; ``source`` names
        where they came from.
        """
        row = self.registry.get_version(model_name, version)
        loadable = self.loading.loadable(row)
        if rows is None:
            rows = self._reference_sample(row, request["sample_size"], request["seed"])
        check_rows(rows, loadable.features)
        params: GlobalParams = {
            "num_features": len(loadable.features),
            "num_samples": request["num_samples"],
            "seed": request["seed"],
            "sample_size": len(rows),
            "label": None,
        }
        record = self._new(row, GLOBAL, input_hash(rows, params), params, rows, source=source)
        self._audit_request(row, record, cached=False)
        return record

    def latest_global(self, model_name: str, version: int) -> Explanation:
        """The newest finished global explanation of a version (the policy evidence)."""
        row = self.registry.get_version(model_name, version)
        record = self.session.scalar(
            select(Explanation)
            .where(
                Explanation.version_id == row.id,
                Explanation.kind == GLOBAL,
                Explanation.status == ExplanationStatus.DONE,
            )
            .order_by(Explanation.id.desc())
            .limit(1)
        )
        if record is None:
            raise NotFound(f"Version {version} of {model_name!r} has no global explanation yet.")
        return record

    def _reference_sample(self, row: ModelVersion, size: int, seed: int) -> list[Row]:
        # Parquet is data, not code: reading it here deserialises no model.
        import pandas as pd

        _row, path = self.registry.reference_path(row.model.name, row.version)
        names = [f["name"] for f in features_of(row)]
        frame = pd.read_parquet(path, columns=names)
        if len(frame) > size:
            frame = frame.sample(size, random_state=seed)
        return cast("list[Row]", json.loads(frame.to_json(orient="records")))

    # jobs -------------------------------------------------------------------------------

    def claim(self, explanation_id: int) -> Job | None:
        """Mark a queued explanation running; return what to compute (None if not queued)."""
        record = self.session.get(Explanation, explanation_id)
        if record is None or record.status != ExplanationStatus.QUEUED:
            return None
        record.status = ExplanationStatus.RUNNING
        self.session.flush()
        params = cast(LimeParams, record.params)  # stored by plan or request_global
        work = self._work(self.loading.loadable(record.version), params)
        return Job(work=work, rows=list(record.rows or []))

    def finish(
        self, explanation_id: int, outcome: list[RowExplanation] | AssayError
    ) -> Explanation:
        """Store a job's outcome, its results or the error that ended it, and audit it."""
        record = self.get(explanation_id)
        record.finished_at = self.ctx.clock()
        if isinstance(outcome, AssayError):
            record.status = ExplanationStatus.FAILED
            record.error = {
                "code": outcome.code,
                "message": outcome.message,
                "details": outcome.details,
            }
        else:
            record.status = ExplanationStatus.DONE
            task = record.version.model.task
            if record.kind == GLOBAL:
                summary: GlobalResult = {
                    "task": task,
                    "features": aggregate_global(outcome),
                    "rows": len(outcome),
                }
                record.result = dict(summary)
            else:
                local: LocalResult = {"task": task, "explanations": outcome}
                record.result = dict(local)
            record.rows = None
        self.session.flush()
        self.audit.append(
            f"explanation.{record.status}",
            "model_version",
            record.version.audit_id,
            {"explanation_id": record.id, "kind": record.kind, "error": record.error},
        )
        return record

    # shared -----------------------------------------------------------------------------

    def _work(self, loadable: LoadableVersion, params: LimeParams) -> WorkRequest:
        return WorkRequest(loadable, params, cpu_seconds=self.ctx.settings.explain_cpu_seconds)

    def _new(
        self,
        row: ModelVersion,
        kind: str,
        digest: str,
        params: LimeParams,
        rows: list[Row],
        *,
        source: str,
    ) -> Explanation:
        record = Explanation(
            version_id=row.id,
            version=row,
            kind=kind,
            status=ExplanationStatus.QUEUED,
            input_hash=digest,
            params=dict(params),
            row_count=len(rows),
            source=source,
            rows=rows,
            created_at=self.ctx.clock(),
            created_by=self.ctx.actor.name,
            created_by_token_id=self.ctx.actor.token_id,
        )
        self.session.add(record)
        self.session.flush()
        return record

    def _audit_request(self, row: ModelVersion, record: Explanation, *, cached: bool) -> None:
        # Who asked to explain what: the rows' hash, never their values (they may be personal).
        self.audit.append(
            "explanation.requested",
            "model_version",
            row.audit_id,
            {
                "explanation_id": record.id,
                "kind": record.kind,
                "rows": record.row_count,
                "input_hash": record.input_hash,
                "params": record.params,
                "status": record.status,
                "cached": cached,
            },
        )
