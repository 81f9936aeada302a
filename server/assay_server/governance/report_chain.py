"""The retraining chain of a version, for its page and its compliance report: the alert it was
retrained for (``triggered_by``) → this version → its comparisons → its rollouts; and, the
other way, the versions retrained for alerts raised on it.

The rollout links are the version's phased rollouts (``governance/rollouts*.py``); the
comparison links are the A/B verdicts their step gates recorded (``compare_versions`` of
``monitoring/comparisons.py``), each linked to the live comparison page.
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts.retraining import alert_facts, alert_ids_of_version
from ..db import TIMESTAMP_FORMAT
from ..registry.models import ModelVersion
from .rollouts_models import Rollout


class RetrainedVersion(TypedDict):
    """A version registered in answer to an alert."""

    version: int
    alert_id: int
    created_by: str
    created_at: str


class RetrainingChain(TypedDict):
    """alert → retrained version → comparisons → rollouts, JSON-ready.

    ``alert_id`` is the alert the version names (``None``: registered without a trigger);
    ``alert`` its facts (``None`` also when the alert went with its monitor);
    ``retrained_as`` the versions registered for alerts raised on this version.
    """

    alert_id: int | None
    alert: dict[str, Any] | None
    comparisons: list[dict[str, Any]]
    rollouts: list[dict[str, Any]]
    retrained_as: list[RetrainedVersion]


def retraining_chain(session: Session, row: ModelVersion) -> RetrainingChain:
    """The chain through ``row``: what it was retrained for, and what was retrained from it."""
    alert_id = row.triggered_by_alert_id
    return {
        "alert_id": alert_id,
        "alert": alert_facts(session, alert_id) if alert_id is not None else None,
        "comparisons": comparison_links(session, row),
        "rollouts": rollout_links(session, row),
        "retrained_as": _retrained_as(session, row),
    }


def comparison_links(session: Session, row: ModelVersion) -> list[dict[str, Any]]:
    """The comparisons that judged ``row`` as a challenger (``id``, ``champion``,
    ``verdict``, ``link``): the last comparison each of its rollouts' step gates recorded,
    linked to the live A/B comparison page against that rollout's baseline."""
    links = []
    for rollout in _rollouts_of(session, row):
        verdict = _last_comparison_verdict(rollout)
        if verdict is None:
            continue
        champion = rollout.baseline.version
        links.append(
            {
                "id": rollout.id,
                "champion": champion,
                "verdict": verdict,
                "link": f"/models/{quote(row.model.name)}/comparison?champion={champion}"
                f"&challenger={row.version}&mode=ab",
            }
        )
    return links


def rollout_links(session: Session, row: ModelVersion) -> list[dict[str, Any]]:
    """The phased rollouts of ``row`` (``id``, ``status``, ``step``, ``link``), oldest first."""
    return [
        {
            "id": rollout.id,
            "status": rollout.status,
            "step": rollout.step,
            "percent": round(rollout.candidate_share * 100, 4),
            "link": f"/models/{quote(row.model.name)}/rollout",
        }
        for rollout in _rollouts_of(session, row)
    ]


def _rollouts_of(session: Session, row: ModelVersion) -> list[Rollout]:
    return list(
        session.scalars(select(Rollout).where(Rollout.candidate_id == row.id).order_by(Rollout.id))
    )


def _last_comparison_verdict(rollout: Rollout) -> str | None:
    for event in sorted(rollout.history, key=lambda e: e.id, reverse=True):
        for check in (event.gate or {}).get("checks", []):
            if check.get("name") == "comparison" and check.get("observed") is not None:
                return str(check["observed"])
    return None


def _retrained_as(session: Session, row: ModelVersion) -> list[RetrainedVersion]:
    alert_ids = alert_ids_of_version(session, row.id)
    if not alert_ids:
        return []
    versions = session.scalars(
        select(ModelVersion)
        .where(
            ModelVersion.model_id == row.model_id,
            ModelVersion.triggered_by_alert_id.in_(alert_ids),
        )
        .order_by(ModelVersion.version)
    )
    return [
        {
            "version": version.version,
            "alert_id": int(version.triggered_by_alert_id or 0),
            "created_by": version.created_by,
            "created_at": version.created_at.strftime(TIMESTAMP_FORMAT),
        }
        for version in versions
    ]
