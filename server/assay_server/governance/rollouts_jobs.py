"""What moves rollouts without a person: the scheduler advances every running rollout whose
step's gate passes, and a critical alert on a candidate halts its rollout (``alert.fired`` /
``alert.escalated`` → :func:`halt_on_critical_alert`, connected in ``wiring.py``)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServiceContext
from ..db import Database
from ..errors import Conflict
from ..events import DomainEvent
from .rollouts import RolloutService
from .rollouts_gate import Comparer
from .rollouts_models import Rollout, RolloutStatus

log = logging.getLogger(__name__)


def halt_on_critical_alert(session: Session, ctx: ServiceContext, event: DomainEvent) -> None:
    """A critical alert fired (or escalated) on a candidate: halt its running rollout, in
    the alert's transaction (and roll it back if its plan says so)."""
    payload = event.payload
    if payload.get("severity") != "critical" or payload.get("version_id") is None:
        return
    rollout_id = session.scalar(
        select(Rollout.id).where(
            Rollout.candidate_id == payload["version_id"],
            Rollout.status == RolloutStatus.RUNNING.value,
        )
    )
    if rollout_id is None:
        return
    subject = f"{payload.get('check')} of {payload.get('subject')}"
    RolloutService(session, ctx).halt(
        rollout_id,
        reason=f"critical alert {payload.get('alert_id')}: {subject}",
        alert_id=payload.get("alert_id"),
    )


def advance_due_rollouts(
    database: Database, ctx: ServiceContext, *, compare: Comparer | None = None
) -> int:
    """Ask every running rollout to advance, each in a unit of work of its own (one that
    fails does not stop the others); return how many took a step."""
    with database.unit_of_work(write=False) as session:
        running = list(
            session.scalars(select(Rollout.id).where(Rollout.status == RolloutStatus.RUNNING.value))
        )
    advanced = 0
    for rollout_id in running:
        try:
            with database.unit_of_work() as session:
                step = RolloutService(session, ctx, compare=compare).advance(rollout_id)
                advanced += step.advanced
        except Conflict:  # halted or finished meanwhile
            continue
        except Exception:  # a job never takes the scheduler down
            log.exception("rollout %s could not be advanced", rollout_id)
    return advanced
