"""The evidence explanations give the ``explanation_available`` policy rule (connected in
``wiring.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ..evidence import EvidenceQuery, Observation
from .models import Explanation, ExplanationStatus


def explanation_available(query: EvidenceQuery, _params: Mapping[str, Any]) -> Observation:
    """True when the version has a finished global explanation, with a link to the newest."""
    newest = query.session.scalar(
        select(Explanation)
        .where(
            Explanation.version_id == query.version_id,
            Explanation.kind == "global",
            Explanation.status == ExplanationStatus.DONE,
        )
        .order_by(Explanation.id.desc())
        .limit(1)
    )
    if newest is None:
        return Observation(False, source="explanations")
    return Observation(
        True,
        source=f"global explanation {newest.id}",
        link=f"/api/v1/explanations/{newest.id}",
        detail={"finished_at": newest.finished_at.isoformat() if newest.finished_at else None},
    )
