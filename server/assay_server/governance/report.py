"""The compliance report of one version: the evidence bundle (JSON) and its printable page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT
from ..evidence import Missing
from ..ingest.figures import IngestDayCounts, batches_per_day, labels_per_day
from ..registry.benchmarks import benchmarks_of
from ..registry.models import ArtifactInfo, ModelVersion, ReferenceInfo, StageHistory
from ..registry.service import RegistryService
from ..registry.stages import stage_history
from .evidence import EvidenceContext
from .models import PolicyEvaluationRecord, PromotionDecision, PromotionRequest
from .report_chain import RetrainingChain, retraining_chain
from .verdicts import PolicyVerdict

MONITORING_REPORTS = ("drift", "bias", "performance", "data_quality")
#: How far back the report's monitoring charts reach.
HISTORY_DAYS = 30
#: Audit actions shown as a daily summary rather than one row each: the hourly roll-ups of
#: ingest, and the per-batch events stores made before ingest was rolled up.
SUMMARISED_ACTIONS = ("predictions.rolled_up", "predictions.ingested")


class ModelPart(TypedDict):
    """The model, as the bundle describes it."""

    name: str
    task: str
    risk_tier: str
    owner: str | None
    description: str
    tags: list[str]


class VersionPart(TypedDict):
    """The version, as the bundle describes it."""

    version: int
    stage: str
    description: str
    tags: list[str]
    created_by: str
    created_at: str | None


class BenchmarkPart(TypedDict):
    """One benchmark of the version."""

    id: int
    name: str
    dataset_uri: str | None
    dataset_hash: str | None
    metrics: dict[str, float]
    notes: str
    created_by: str
    created_at: str | None


class DecisionPart(TypedDict):
    """One approver's decision on a request."""

    approver: str
    decision: str
    comment: str
    created_at: str | None


class EvaluationPart(TypedDict):
    """One stored evaluation of a request: why, by whom, and each policy's verdict."""

    id: int
    trigger: str
    outcome: str
    created_by: str
    created_at: str | None
    policies: list[PolicyVerdict]


class PromotionPart(TypedDict):
    """One promotion request of the version, with its decisions and evaluations."""

    id: int
    stage: str | None
    alias: str | None
    target: str
    status: str
    reason: str
    requested_by: str
    created_at: str | None
    decided_at: str | None
    required_approvals: int
    decisions: list[DecisionPart]
    evaluations: list[EvaluationPart]


class StayPart(TypedDict):
    """One stay of the version in a stage."""

    version: int
    stage: str
    entered_at: str | None
    left_at: str | None
    entered_by: str
    comment: str | None


class IngestDay(TypedDict):
    """Ingest of one UTC day: prediction batches and rows, from the batch table; labels
    received and rejected, from their daily counts; and the audit events of the day's hourly
    roll-ups (``None`` until the first is written)."""

    date: str
    batches: int
    accepted: int
    duplicates: int
    rejected: int
    labels_received: int
    labels_rejected: int
    first_seq: int | None
    last_seq: int | None


def daily_ingest(
    counts: list[IngestDayCounts],
    events: list[dict[str, Any]],
    labels: dict[str, tuple[int, int]] | None = None,
) -> list[IngestDay]:
    """The version's batches and labels per UTC day, oldest first, each day with the seq
    range of its ingest events: hourly ``predictions.rolled_up`` events (by their hour), or
    the per-batch ``predictions.ingested`` ones of stores from before the roll-up."""
    seqs: dict[str, list[int]] = {}
    for event in events:
        payload = event.get("payload") or {}
        date = str(payload.get("hour") or event["timestamp"])[:10]
        seqs.setdefault(date, []).append(int(event["seq"]))
    labelled = labels or {}
    batches = {day.date: day for day in counts}
    days = []
    for date in sorted(set(batches) | set(labelled)):
        day = batches.get(date, IngestDayCounts(date, 0, 0, 0, 0))
        received, refused = labelled.get(date, (0, 0))
        days.append(
            IngestDay(
                date=date,
                batches=day.batches,
                accepted=day.accepted,
                duplicates=day.duplicates,
                rejected=day.rejected,
                labels_received=received,
                labels_rejected=refused,
                first_seq=min(seqs[date]) if date in seqs else None,
                last_seq=max(seqs[date]) if date in seqs else None,
            )
        )
    return days


class ChainPart(TypedDict):
    """The audit chain's verification when the bundle was made."""

    ok: bool
    checked: int
    first_broken_seq: int | None
    message: str
    head_seq: int | None


class VersionEvidence(TypedDict):
    """What the store holds about one version, JSON-ready.

    ``monitoring`` maps each report kind to ``available`` and either the latest report's
    ``summary``, ``source`` and ``link`` (and what else its source tells) or the ``reason``
    there is none; ``audit_events`` are the events as the chain exports them.
    """

    generated_at: str | None
    model: ModelPart
    version: VersionPart
    model_card: dict[str, Any]
    lineage: dict[str, Any]
    artifact: ArtifactInfo | None
    reference: ReferenceInfo | None
    benchmarks: list[BenchmarkPart]
    monitoring: dict[str, dict[str, object]]
    promotions: list[PromotionPart]
    stage_history: list[StayPart]
    retraining: RetrainingChain
    audit_events: list[dict[str, Any]]
    ingest_daily: list[IngestDay]


class ComplianceBundle(VersionEvidence):
    """Everything an auditor needs about one version: its evidence, and whether the audit
    chain verified when the bundle was made."""

    audit_chain: ChainPart


def _ts(value: datetime | None) -> str | None:
    return value.strftime(TIMESTAMP_FORMAT) if value is not None else None


def _latest_reports(
    session: Session, ctx: ServiceContext, version: ModelVersion
) -> dict[str, dict[str, object]]:
    evidence = EvidenceContext(session, version, ctx.clock(), ctx.evidence)
    reports: dict[str, dict[str, object]] = {}
    for check in MONITORING_REPORTS:
        found = evidence.observe("report", {"check": check})
        history = evidence.observe("report_history", {"check": check, "days": HISTORY_DAYS})
        over_time = (
            {}
            if isinstance(history, Missing)
            else {
                "history": history.value,
                "figure": history.detail.get("figure"),
            }
        )
        if isinstance(found, Missing):
            reports[check] = {"available": False, "reason": found.reason, **over_time}
        else:
            reports[check] = {
                "available": True,
                "summary": found.value,
                "source": found.source,
                "link": found.link,
                **found.detail,
                **over_time,
            }
    return reports


def _stay(entry: StageHistory) -> StayPart:
    return {
        "version": entry.version_number,
        "stage": entry.stage,
        "entered_at": _ts(entry.entered_at),
        "left_at": _ts(entry.left_at),
        "entered_by": entry.entered_by,
        "comment": entry.comment,
    }


def _decision(decision: PromotionDecision) -> DecisionPart:
    return {
        "approver": decision.approver,
        "decision": decision.decision,
        "comment": decision.comment,
        "created_at": _ts(decision.created_at),
    }


def _evaluation(record: PolicyEvaluationRecord) -> EvaluationPart:
    return {
        "id": record.id,
        "trigger": record.trigger,
        "outcome": record.outcome,
        "created_by": record.created_by,
        "created_at": _ts(record.created_at),
        "policies": record.result.get("policies", []),
    }


def _promotions(session: Session, version_id: int) -> list[PromotionPart]:
    requests = session.scalars(
        select(PromotionRequest)
        .where(PromotionRequest.version_id == version_id)
        .order_by(PromotionRequest.id)
    )
    out: list[PromotionPart] = []
    for request in requests:
        evaluations = session.scalars(
            select(PolicyEvaluationRecord)
            .where(PolicyEvaluationRecord.request_id == request.id)
            .order_by(PolicyEvaluationRecord.id)
        )
        out.append(
            {
                "id": request.id,
                "stage": request.stage,
                "alias": request.alias,
                "target": request.target,
                "status": request.status,
                "reason": request.reason,
                "requested_by": request.requested_by,
                "created_at": _ts(request.created_at),
                "decided_at": _ts(request.decided_at),
                "required_approvals": request.required_approvals,
                "decisions": [_decision(d) for d in request.decisions],
                "evaluations": [_evaluation(e) for e in evaluations],
            }
        )
    return out


def compliance_bundle(
    session: Session, ctx: ServiceContext, model_name: str, version: int
) -> ComplianceBundle:
    """Everything an auditor needs about one version, as plain JSON-ready data."""
    row = RegistryService(session, ctx).get_version(model_name, version)
    model = row.model
    generated_at = _ts(ctx.clock())
    benchmarks: list[BenchmarkPart] = [
        {
            "id": b.id,
            "name": b.name,
            "dataset_uri": b.dataset_uri,
            "dataset_hash": b.dataset_hash,
            "metrics": b.metrics,
            "notes": b.notes,
            "created_by": b.created_by,
            "created_at": _ts(b.created_at),
        }
        for b in reversed(benchmarks_of(session, row.id))
    ]
    promotions = _promotions(session, row.id)
    history = [_stay(entry) for entry in stage_history(session, model.id, version_id=row.id)]
    trail = AuditTrail(session, ctx)
    about = [("model_version", row.audit_id), *(("promotion", str(p["id"])) for p in promotions)]
    rollbacks = trail.events_about([("model", model.name)], action="stage.rolled_back")
    involved = [
        e
        for e in rollbacks
        if e["payload"].get("to_version") == row.version
        or row.version in e["payload"].get("from_versions", [])
    ]
    events = sorted([*trail.events_about(about), *involved], key=lambda e: e["seq"])
    audit = [e for e in events if e["action"] not in SUMMARISED_ACTIONS]
    ingested = [e for e in events if e["action"] in SUMMARISED_ACTIONS]
    ingest = daily_ingest(
        batches_per_day(session, row.id), ingested, labels_per_day(session, row.id)
    )
    evidence: VersionEvidence = {
        "generated_at": generated_at,
        "model": {
            "name": model.name,
            "task": model.task,
            "risk_tier": model.risk_tier,
            "owner": model.owner,
            "description": model.description,
            "tags": model.tags,
        },
        "version": {
            "version": row.version,
            "stage": row.stage,
            "description": row.description,
            "tags": row.tags,
            "created_by": row.created_by,
            "created_at": _ts(row.created_at),
        },
        "model_card": row.model_card,
        "lineage": row.lineage,
        "artifact": row.artifact,
        "reference": row.reference,
        "benchmarks": benchmarks,
        "monitoring": _latest_reports(session, ctx, row),
        "promotions": promotions,
        "stage_history": history,
        "retraining": retraining_chain(session, row),
        "audit_events": audit,
        "ingest_daily": ingest,
    }
    # Last: verifying reads the whole trail in batches and clears the session between them.
    result = AuditTrail(session, ctx).verify()
    return {
        **evidence,
        "audit_chain": {
            "ok": result.ok,
            "checked": result.checked,
            "first_broken_seq": result.first_broken_seq,
            "message": result.message,
            "head_seq": result.head_seq,
        },
    }
