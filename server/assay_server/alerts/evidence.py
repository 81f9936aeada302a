"""Open alerts as evidence for the ``max_open_alerts`` policy rule (connected in ``wiring.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from ..evidence import EvidenceQuery, Observation
from .models import OPEN_ALERT_STATUSES, Alert


def open_alert_count(query: EvidenceQuery, params: Mapping[str, Any]) -> Observation:
    """How many alerts of the version's model are open (of one severity, if the rule says)."""
    counted = select(func.count(Alert.id)).where(
        Alert.model_id == query.model_id, Alert.status.in_(OPEN_ALERT_STATUSES)
    )
    severity = params.get("severity")
    if severity:
        counted = counted.where(Alert.severity == severity)
    count = int(query.session.scalar(counted) or 0)
    what = f"{severity} alerts" if severity else "alerts"
    return Observation(
        value=count,
        source=f"open {what} of {query.model_name}",
        link=f"/api/v1/alerts?model={query.model_name}&status=open",
    )
