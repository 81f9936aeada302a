"""Open alerts as evidence for the ``max_open_alerts`` policy rule (connected in ``wiring.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..evidence import EvidenceQuery, Observation
from .findings import RANK
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


class OpenIncident(NamedTuple):
    """An open incident on a version: its alert id, severity, check and subject."""

    id: int
    severity: str
    check: str
    subject: str


def open_incidents(session: Session, version_id: int, *, severity: str) -> list[OpenIncident]:
    """The incidents open on a version at ``severity`` or worse (``warning`` counts critical
    ones too), oldest first; for the rollout gate and ``no_open_incident`` (governance)."""
    worse = [name for name, rank in RANK.items() if rank >= RANK.get(severity, RANK["critical"])]
    rows = session.execute(
        select(Alert.id, Alert.severity, Alert.check, Alert.subject)
        .where(
            Alert.version_id == version_id,
            Alert.status.in_(OPEN_ALERT_STATUSES),
            Alert.severity.in_(worse),
        )
        .order_by(Alert.id)
    )
    return [OpenIncident(int(i), str(s), str(c), str(sub)) for i, s, c, sub in rows]
