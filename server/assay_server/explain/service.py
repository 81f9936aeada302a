"""Explanation rules: who may load what, explaining rows now or as a job, global weights.

The service never loads a model: it decides what a worker may load (:class:`LoadPermission`),
validates the rows, and hands a plain-JSON request to the worker pool. Every request is
audited; results are stored and reused for the same (version, rows, parameters).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import AssayError, NotFound, Unavailable, ValidationFailed
from ..registry.models import ModelVersion, Task
from ..registry.service import RegistryService
from .models import Explanation, ExplanationStatus, LoadPermission
from .tabular import aggregate_global
from .workers import WorkerError, WorkerPool

LOCAL, GLOBAL = "local", "global"


class ExplanationTimeout(AssayError):
    """A worker did not answer within the per-request timeout (it was replaced)."""

    code, status = "explanation_timeout", 504


class ExplanationFailed(AssayError):
    """A worker died while explaining (it was replaced)."""

    code, status = "explanation_failed", 502


@dataclass(frozen=True)
class WorkRequest:
    """What a worker needs for a batch of rows: plain JSON, no objects."""

    payload: dict[str, Any]
    affinity: str

    def with_rows(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The payload for ``rows``."""
        return {**self.payload, "rows": rows}


def run_in_pool(
    pool: WorkerPool, work: WorkRequest, rows: list[dict[str, Any]], timeout: float
) -> list[dict[str, Any]]:
    """Explain ``rows`` in a worker; worker failures become the API's errors."""
    try:
        answer = pool.run(work.with_rows(rows), timeout=timeout, affinity=work.affinity)
    except WorkerError as exc:
        if exc.kind == "timeout":
            raise ExplanationTimeout(exc.message) from None
        if exc.kind == "busy":
            raise Unavailable(exc.message) from None
        raise ExplanationFailed(exc.message) from None
    if not answer.get("ok"):
        error = answer.get("error") or {}
        kind = error.get("kind", "failed")
        details = dict(error.get("details") or {})
        details.setdefault("kind", kind)
        if kind in {"failed", "memory"}:
            raise ExplanationFailed(
                error.get("message", "The explanation failed."), details=details
            )
        raise ValidationFailed(
            error.get("message", "The model cannot be explained."), details=details
        )
    return answer["results"]


def chunks(rows: list[Any], size: int) -> list[list[Any]]:
    """``rows`` in consecutive batches of at most ``size``."""
    size = max(1, size)
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def input_hash(rows: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The cache key of an explanation: the rows and parameters, canonically hashed."""
    canonical = json.dumps({"rows": rows, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ExplainPlan:
    """A checked explanation request: what to send a worker, or the stored answer's id."""

    version_id: int
    work: WorkRequest
    rows: list[dict[str, Any]]
    params: dict[str, Any]
    digest: str
    stored_id: int | None
    sync: bool


class ExplanationService:
    """Explain versions, decide what workers may load, keep and reuse the results."""

    def __init__(
        self,
        session: Session,
        ctx: ServiceContext,
        pool: Callable[[], WorkerPool] | None = None,
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.audit = AuditTrail(session, ctx)
        self.registry = RegistryService(session, ctx)
        self._pool = pool

    @property
    def pool(self) -> WorkerPool:
        """The worker pool (created on first use by whoever built this service)."""
        if self._pool is None:
            raise Unavailable("No explanation workers are configured here.")
        return self._pool()

    # local explanations -----------------------------------------------------------------

    def explain(
        self, model_name: str, version: int, rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> Explanation:
        """Explain ``rows`` now, or queue a job when there are more than the sync limit.

        A queued explanation has status ``queued``; :class:`ExplanationJobs` runs it. This
        holds the session's transaction while a worker computes; the API instead plans in a
        short read, computes outside any transaction and records in a short write
        (:meth:`plan`, :meth:`compute`, :meth:`record`), so explanations run in parallel
        even on SQLite.
        """
        plan = self.plan(model_name, version, rows, params)
        return self.record(plan, self.compute(plan))

    def plan(
        self, model_name: str, version: int, rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> ExplainPlan:
        """Check the request and decide: a stored answer, a computation now, or a job."""
        row = self.registry.get_version(model_name, version)
        work = self.work_request(row)
        _check_rows(rows, work.payload["features"])
        params = {key: params.get(key) for key in ("num_features", "num_samples", "seed", "label")}
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
            work=work.for_params(params),
            rows=rows,
            params=params,
            digest=digest,
            stored_id=stored,
            sync=len(rows) <= self.ctx.settings.max_sync_explain_rows,
        )

    def compute(self, plan: ExplainPlan) -> list[dict[str, Any]] | None:
        """The worker's results for a plan answered now (None for a stored answer or a job)."""
        if plan.stored_id is not None or not plan.sync:
            return None
        return run_in_pool(self.pool, plan.work, plan.rows, self._timeout())

    def record(self, plan: ExplainPlan, results: list[dict[str, Any]] | None) -> Explanation:
        """Store and audit what :meth:`plan` decided and :meth:`compute` produced."""
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
            record.result = {"task": row.model.task, "explanations": results}
            record.rows = None
            record.finished_at = self.ctx.clock()
            self.session.flush()
        self._audit_request(row, record, cached=False)
        return record

    def get(self, explanation_id: int) -> Explanation:
        """One explanation by id."""
        record = self.session.get(Explanation, explanation_id)
        if record is None:
            raise NotFound(f"No explanation {explanation_id}.")
        return record

    # global explanations ----------------------------------------------------------------

    def request_global(
        self,
        model_name: str,
        version: int,
        params: dict[str, Any],
        *,
        rows: list[dict[str, Any]] | None = None,
        source: str = "reference",
    ) -> Explanation:
        """Queue a global explanation over ``rows`` (default: a sample of the reference set).

        ``rows`` lets a caller pass a sample of logged predictions instead; ``source`` names
        where they came from.
        """
        row = self.registry.get_version(model_name, version)
        work = self.work_request(row)
        if rows is None:
            rows = self._reference_sample(row, params["sample_size"], params["seed"])
        _check_rows(rows, work.payload["features"])
        params = {
            "num_features": len(work.payload["features"]),
            "num_samples": params["num_samples"],
            "seed": params["seed"],
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

    def _reference_sample(self, row: ModelVersion, size: int, seed: int) -> list[dict[str, Any]]:
        # Parquet is data, not code: reading it here deserialises no model.
        import pandas as pd

        _row, path = self.registry.reference_path(row.model.name, row.version)
        names = [f["name"] for f in row.feature_schema.get("features", [])]
        frame = pd.read_parquet(path, columns=names)
        if len(frame) > size:
            frame = frame.sample(size, random_state=seed)
        return json.loads(frame.to_json(orient="records"))

    # jobs -------------------------------------------------------------------------------

    def claim(self, explanation_id: int) -> tuple[WorkRequest, list[dict[str, Any]]] | None:
        """Mark a queued explanation running; return what to compute (None if not queued)."""
        record = self.session.get(Explanation, explanation_id)
        if record is None or record.status != ExplanationStatus.QUEUED:
            return None
        record.status = ExplanationStatus.RUNNING
        self.session.flush()
        work = self.work_request(record.version).for_params(record.params)
        return work, list(record.rows or [])

    def finish(
        self,
        explanation_id: int,
        results: list[dict[str, Any]] | None,
        error: AssayError | None,
    ) -> Explanation:
        """Store a job's results (or its error) and audit the outcome."""
        record = self.get(explanation_id)
        record.finished_at = self.ctx.clock()
        if error is not None:
            record.status = ExplanationStatus.FAILED
            record.error = {"code": error.code, "message": error.message, "details": error.details}
        else:
            assert results is not None
            record.status = ExplanationStatus.DONE
            task = record.version.model.task
            if record.kind == GLOBAL:
                record.result = {
                    "task": task,
                    "features": aggregate_global(results),
                    "rows": len(results),
                }
            else:
                record.result = {"task": task, "explanations": results}
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

    def work_request(self, row: ModelVersion) -> _Work:
        """What a worker needs to load and explain this version; refuse early what cannot."""
        name = row.model.name
        if row.artifact_sha256 is None:
            raise ValidationFailed(
                "", details={"artifact": [f"Version {row.version} of {name!r} has no artifact."]}
            )
        if row.reference_sha256 is None:
            raise ValidationFailed(
                "",
                details={
                    "reference_data": [
                        "LIME samples around the reference dataset; this version has none."
                    ]
                },
            )
        permission = self.session.get(LoadPermission, row.id)
        pickle_allowed = bool(
            self.ctx.settings.allow_pickle and permission and permission.allow_pickle
        )
        if row.artifact_format == "pickle" and not pickle_allowed:
            raise ValidationFailed(
                "Pickle artifacts load only when the server runs with ASSAY_ALLOW_PICKLE=1 "
                "and an admin opted this version in.",
                details={
                    "artifact": ["pickle refused"],
                    "server_allows_pickle": self.ctx.settings.allow_pickle,
                    "version_opted_in": bool(permission and permission.allow_pickle),
                },
            )
        _row, artifact = self.registry.artifact_path(name, row.version)
        _row, reference = self.registry.reference_path(name, row.version)
        schema = row.feature_schema or {}
        target = (schema.get("target") or {}).get("name")
        payload = {
            "op": "explain",
            "cpu_seconds": self.ctx.settings.explain_cpu_seconds,
            "model": {
                "path": str(artifact.resolve()),
                "sha256": row.artifact_sha256,
                "format": row.artifact_format,
                "trusted_types": list(permission.trusted_types) if permission else [],
                "pickle_allowed": pickle_allowed,
            },
            "reference": {"path": str(reference.resolve()), "sha256": row.reference_sha256},
            "mode": "regression" if row.model.task == Task.REGRESSION.value else "classification",
            "features": [
                {"name": f["name"], "kind": f["kind"]} for f in schema.get("features", [])
            ],
            "target": target,
        }
        return _Work(payload=payload, affinity=row.artifact_sha256)

    def _timeout(self) -> float:
        return self.ctx.settings.explain_timeout_seconds

    def _new(
        self,
        row: ModelVersion,
        kind: str,
        digest: str,
        params: dict[str, Any],
        rows: list[dict[str, Any]],
        *,
        source: str,
    ) -> Explanation:
        record = Explanation(
            version_id=row.id,
            version=row,
            kind=kind,
            status=ExplanationStatus.QUEUED,
            input_hash=digest,
            params=params,
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


@dataclass(frozen=True)
class _Work(WorkRequest):
    def for_params(self, params: dict[str, Any]) -> _Work:
        """The request with LIME's parameters set."""
        return _Work(payload={**self.payload, "params": params}, affinity=self.affinity)


def _check_rows(rows: list[dict[str, Any]], features: list[dict[str, str]]) -> None:
    """Every row names exactly the version's features, with values of the right kind."""
    if not features:
        raise ValidationFailed("", details={"features": ["This version declares no features."]})
    kinds = {f["name"]: f["kind"] for f in features}
    problems: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        messages = []
        missing = sorted(set(kinds) - set(row))
        unknown = sorted(set(row) - set(kinds))
        if missing:
            messages.append(f"missing features: {', '.join(missing)}")
        if unknown:
            messages.append(f"unknown features: {', '.join(unknown)}")
        for name, value in row.items():
            kind = kinds.get(name)
            if kind == "numerical" and not _is_number(value):
                messages.append(f"{name} must be a number")
            if kind == "categorical" and not isinstance(value, (str, int, float, bool)):
                messages.append(f"{name} must be a category (a string or a number)")
        if messages:
            problems[f"rows.{index}"] = messages
    if problems:
        raise ValidationFailed("", details=problems)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
