"""Open alerts as governance evidence (the ``max_open_alerts`` rule)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..governance.evidence import EvidenceContext, Observation
from .models import OPEN_ALERT_STATUSES, Alert


def open_alert_count(ctx: EvidenceContext, params: dict[str, Any]) -> Observation:
    """How many alerts of the version's model are open (of one severity, if the rule says)."""
    query = select(func.count(Alert.id)).where(
        Alert.model_id == ctx.version.model_id, Alert.status.in_(OPEN_ALERT_STATUSES)
    )
    severity = params.get("severity")
    if severity:
        query = query.where(Alert.severity == severity)
    count = int(ctx.session.scalar(query) or 0)
    what = f"{severity} alerts" if severity else "alerts"
    return Observation(
        value=count,
        source=f"open {what} of {ctx.version.model.name}",
        link=f"/api/v1/alerts?model={ctx.version.model.name}&status=open",
    )
