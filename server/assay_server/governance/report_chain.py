"""The retraining chain of a version, for its page and its compliance report: the alert it was
retrained for (``triggered_by``) → this version → its comparisons → its rollouts; and, the
other way, the versions retrained for alerts raised on it.

The comparison and rollout links are read by :func:`comparison_links` and
:func:`rollout_links`: the one place where the comparison reports
(``monitoring/comparisons.py``) and the phased rollouts (``governance/rollouts*.py``) of a
version join the chain.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts.retraining import alert_facts, alert_ids_of_version
from ..db import TIMESTAMP_FORMAT
from ..registry.models import ModelVersion


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
    """The comparison reports that judged ``row`` as a challenger (``id``, ``champion``,
    ``verdict``, ``link``): the comparisons package's query joins the chain here. None are
    recorded by this package."""
    return []


def rollout_links(session: Session, row: ModelVersion) -> list[dict[str, Any]]:
    """The phased rollouts of ``row`` (``id``, ``status``, ``step``, ``link``): the rollouts'
    query joins the chain here. None are recorded by this package."""
    return []


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
