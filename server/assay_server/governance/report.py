"""The compliance report of one version: the evidence bundle (JSON) and its printable page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from jinja2 import Environment, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT
from ..evidence import Missing
from ..registry.benchmarks import benchmarks_of
from ..registry.models import ArtifactInfo, ModelVersion, ReferenceInfo, StageHistory
from ..registry.service import RegistryService
from ..registry.stages import stage_history
from .evidence import EvidenceContext
from .models import PolicyEvaluationRecord, PromotionDecision, PromotionRequest
from .verdicts import PolicyVerdict

MONITORING_REPORTS = ("drift", "bias", "performance", "data_quality")


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
    stage: str
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
    audit_events: list[dict[str, Any]]


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
        if isinstance(found, Missing):
            reports[check] = {"available": False, "reason": found.reason}
        else:
            reports[check] = {
                "available": True,
                "summary": found.value,
                "source": found.source,
                "link": found.link,
                **found.detail,
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
    audit = sorted([*trail.events_about(about), *involved], key=lambda e: e["seq"])
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
        "audit_events": audit,
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


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Compliance report: {{ b.model.name }} v{{ b.version.version }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#111;max-width:70rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-size:.8rem;word-break:break-all}
.pass{color:#17692b}.fail,.blocked,.rejected{color:#a4161a}.missing_evidence{color:#9a6700}
@media print{body{margin:0}h2{break-after:avoid}}
</style></head><body>
<h1>Compliance report: {{ b.model.name }}, version {{ b.version.version }}</h1>
<p>Generated {{ b.generated_at }}. Stage: <strong>{{ b.version.stage }}</strong>.
Risk tier: {{ b.model.risk_tier }}. Owner: {{ b.model.owner or "—" }}.
Registered by {{ b.version.created_by }} at {{ b.version.created_at }}.</p>

<h2>Model card</h2>
{% if b.model_card %}<table>{% for k, v in b.model_card.items() %}
<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% else %}<p>No model-card fields.</p>{% endif %}

<h2>Lineage and artifact</h2>
<table>{% for k, v in b.lineage.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
<tr><th>artifact</th><td>{% if b.artifact %}{{ b.artifact.format }},
sha256 <code>{{ b.artifact.sha256 }}</code>{% else %}none{% endif %}</td></tr>
<tr><th>reference data</th><td>{% if b.reference %}{{ b.reference.rows }} rows,
sha256 <code>{{ b.reference.sha256 }}</code>{% else %}none{% endif %}</td></tr></table>

<h2>Benchmarks</h2>
{% if b.benchmarks %}<table><tr><th>#</th><th>name</th><th>dataset</th><th>metrics</th>
<th>logged</th></tr>{% for x in b.benchmarks %}<tr><td>{{ x.id }}</td><td>{{ x.name }}</td>
<td>{{ x.dataset_uri or "" }} <code>{{ x.dataset_hash or "" }}</code></td>
<td>{% for m, v in x.metrics.items() %}{{ m }} = {{ "%.4g"|format(v) }}<br>{% endfor %}</td>
<td>{{ x.created_by }}, {{ x.created_at }}</td></tr>{% endfor %}</table>
{% else %}<p>No benchmarks.</p>{% endif %}

<h2>Monitoring (latest reports)</h2>
<table>{% for check, r in b.monitoring.items() %}<tr><th>{{ check }}</th><td>
{% if r.available %}{{ r.summary }} ({{ r.source }}){% else %}{{ r.reason }}{% endif %}
</td></tr>{% endfor %}</table>

<h2>Promotions, policy evaluations and approvals</h2>
{% for p in b.promotions %}
<h3>Request {{ p.id }} → {{ p.stage }}: <span class="{{ p.status }}">{{ p.status }}</span></h3>
<p>Requested by {{ p.requested_by }} at {{ p.created_at }}
{% if p.reason %}: {{ p.reason }}{% endif %}.
Approvals required: {{ p.required_approvals }}.</p>
{% if p.decisions %}<table><tr><th>approver</th><th>decision</th><th>comment</th><th>at</th></tr>
{% for d in p.decisions %}<tr><td>{{ d.approver }}</td><td>{{ d.decision }}</td>
<td>{{ d.comment }}</td><td>{{ d.created_at }}</td></tr>{% endfor %}</table>{% endif %}
{% for e in p.evaluations %}
<p>Evaluation {{ e.id }} ({{ e.trigger }}, {{ e.created_at }}, by {{ e.created_by }}):
<span class="{{ e.outcome }}">{{ e.outcome }}</span></p>
<table><tr><th>policy</th><th>rule</th><th>status</th><th>observed</th><th>threshold</th>
<th>message</th></tr>{% for pol in e.policies %}{% for r in pol.rules %}
<tr><td>{{ pol.name }} v{{ pol.version }}</td><td>{{ r.id }} ({{ r.check }})</td>
<td class="{{ r.status }}">{{ r.status }}</td><td>{{ r.observed }}</td>
<td>{{ r.threshold }}</td><td>{{ r.message }}</td></tr>{% endfor %}{% endfor %}</table>
{% endfor %}{% else %}<p>No promotion requests.</p>{% endfor %}

<h2>Stage history</h2>
{% if b.stage_history %}<table><tr><th>stage</th><th>from</th><th>until</th><th>by</th>
<th>comment</th></tr>{% for s in b.stage_history %}<tr><td>{{ s.stage }}</td>
<td>{{ s.entered_at }}</td><td>{{ s.left_at or "now" }}</td><td>{{ s.entered_by }}</td>
<td>{{ s.comment or "" }}</td></tr>{% endfor %}</table>
{% else %}<p>Never moved from its first stage.</p>{% endif %}

<h2>Audit events</h2>
<p>Chain verification: <strong class="{{ 'pass' if b.audit_chain.ok else 'fail' }}">
{{ b.audit_chain.message }}</strong> ({{ b.audit_chain.checked }} events checked).</p>
<table><tr><th>seq</th><th>time</th><th>actor</th><th>action</th><th>hash</th></tr>
{% for e in b.audit_events %}<tr><td>{{ e.seq }}</td><td>{{ e.timestamp }}</td>
<td>{{ e.actor_name }}</td><td>{{ e.action }} {{ e.target_type }}:{{ e.target_id }}</td>
<td><code>{{ e.hash }}</code></td></tr>{% endfor %}</table>
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(bundle: ComplianceBundle) -> str:
    """The bundle as a printable HTML page (every value escaped)."""
    return _ENV.from_string(_TEMPLATE).render(b=bundle)
