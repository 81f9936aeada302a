"""Read-only queries about one policy for its page: the promotion requests it judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session, joinedload

from .models import PolicyEvaluationRecord, PromotionRequest

#: How many evaluation records naming the policy are read at most (newest first).
SCANNED_EVALUATIONS = 2000


@dataclass(frozen=True)
class JudgedRequest:
    """A promotion request and this policy's verdict in the newest evaluation it took part in."""

    request: PromotionRequest
    policy_version: int
    verdict: str
    failing_rules: list[str]
    evaluated_at: datetime


def requests_judged_by(
    session: Session, policy_name: str, *, limit: int = 100
) -> list[JudgedRequest]:
    """The requests ``policy_name`` judged (any of its versions), newest evaluation first.

    Every evaluation is kept (``policy_evaluations``), so a request the policy judged once
    and no longer applies to is still listed. The text of the stored JSON narrows the rows
    in SQL (on SQLite and PostgreSQL alike); the verdicts are then matched by name exactly.
    """
    records = session.execute(
        select(PolicyEvaluationRecord, PromotionRequest)
        .join(PromotionRequest, PromotionRequest.id == PolicyEvaluationRecord.request_id)
        .options(joinedload(PromotionRequest.model), joinedload(PromotionRequest.version))
        .where(cast(PolicyEvaluationRecord.result, Text).contains(policy_name, autoescape=True))
        .order_by(PolicyEvaluationRecord.id.desc())
        .limit(SCANNED_EVALUATIONS)
    ).all()
    judged: dict[int, JudgedRequest] = {}
    for record, request in records:
        if request.id in judged:
            continue
        verdict = next(
            (p for p in record.result.get("policies", []) if p.get("name") == policy_name), None
        )
        if verdict is None:
            continue
        judged[request.id] = JudgedRequest(
            request=request,
            policy_version=int(verdict["version"]),
            verdict=str(verdict["status"]),
            failing_rules=[r["id"] for r in verdict["rules"] if r["status"] != "pass"],
            evaluated_at=record.created_at,
        )
        if len(judged) == limit:
            break
    return list(judged.values())
