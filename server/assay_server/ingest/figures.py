"""Predictions stored, rejected and repeated at ingest, per model, aggregated in SQL from the
batch table (for ``/metrics``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..registry.models import ModelVersion, RegisteredModel
from .models import PredictionBatch


def ingest_counts(session: Session) -> list[tuple[str, int, int, int]]:
    """``(model, accepted, rejected, duplicates)`` per model."""
    rows = session.execute(
        select(
            RegisteredModel.name,
            func.coalesce(func.sum(PredictionBatch.accepted), 0),
            func.coalesce(func.sum(PredictionBatch.rejected), 0),
            func.coalesce(func.sum(PredictionBatch.duplicates), 0),
        )
        .select_from(PredictionBatch)
        .join(ModelVersion, ModelVersion.id == PredictionBatch.version_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .group_by(RegisteredModel.name)
    )
    return [(model, int(a), int(r), int(d)) for model, a, r, d in rows]
