"""Counts of alerts and deliveries, aggregated in SQL (for ``/metrics``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..registry.models import RegisteredModel
from .models import Alert, Channel, Delivery


def alert_counts(session: Session) -> dict[tuple[str, str, str], int]:
    """``(model, status, severity) -> alerts``."""
    rows = session.execute(
        select(RegisteredModel.name, Alert.status, Alert.severity, func.count(Alert.id))
        .join(RegisteredModel, RegisteredModel.id == Alert.model_id)
        .group_by(RegisteredModel.name, Alert.status, Alert.severity)
    )
    return {(model, status, severity): count for model, status, severity, count in rows}


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """``(channel, status) -> deliveries``."""
    rows = session.execute(
        select(Channel.name, Delivery.status, func.count(Delivery.id))
        .join(Channel, Channel.id == Delivery.channel_id)
        .group_by(Channel.name, Delivery.status)
    )
    return {(channel, status): count for channel, status, count in rows}
