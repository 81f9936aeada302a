"""Labels that arrive before their predictions: kept, joined when the prediction arrives, expired.

Ground truth often travels by a pipeline of its own and overtakes the prediction it names. A
label whose prediction id the model has not stored yet is kept in ``pending_labels`` (one row
per model and id; the last label sent wins) for ``ASSAY_PENDING_LABEL_DAYS`` (7). When a
batch of predictions is stored, the pending labels of its ids are joined to it in the same
transaction, by two set-based statements (an UPDATE … FROM and a DELETE), run only when the
model has pending labels at all (one indexed probe). Expired labels are deleted whenever the
model's labels are recorded, and never join.

On PostgreSQL a label batch and a prediction batch of the same model may commit at the same
time, each unable to see the other's rows; a transaction-scoped advisory lock per model
orders them: ingest takes it shared (batches do not wait for each other), a label batch that
has labels to keep takes it exclusive and looks its ids up again once it holds it.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import UTCDateTime
from ..registry.models import RegisteredModel
from ..settings import Settings
from .models import PendingLabel

_PENDING = typing.cast(Table, PendingLabel.__table__)
#: The first key of the advisory lock that orders labels and predictions of one model.
_LOCK_CLASS = 0x4153_4C42  # "ASLB"

_SQLITE_JOIN = text(
    "UPDATE predictions SET label = p.label, label_updated_at = :now "
    "FROM pending_labels AS p "
    "WHERE p.model_id = :model_id AND p.received_at >= :cutoff "
    "AND p.prediction_id = predictions.prediction_id "
    "AND predictions.version_id = :version_id "
    "AND predictions.prediction_id IN (SELECT value FROM json_each(:ids))"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("cutoff", type_=UTCDateTime()))
_SQLITE_FORGET = text(
    "DELETE FROM pending_labels WHERE model_id = :model_id "
    "AND prediction_id IN (SELECT value FROM json_each(:ids))"
)
_POSTGRES_JOIN = (
    "UPDATE predictions AS pr SET label = p.label, label_updated_at = %s "
    "FROM pending_labels AS p "
    "WHERE p.model_id = %s AND p.received_at >= %s AND p.prediction_id = ANY(%s::text[]) "
    "AND pr.version_id = %s AND pr.ts_us BETWEEN %s AND %s "
    "AND pr.prediction_id = p.prediction_id"
)
_POSTGRES_FORGET = (
    "DELETE FROM pending_labels WHERE model_id = %s AND prediction_id = ANY(%s::text[])"
)
_ANY_PENDING = select(_PENDING.c.id).where(_PENDING.c.model_id == bindparam("model_id")).limit(1)


def cutoff(settings: Settings, now: datetime) -> datetime:
    """Pending labels received before this have expired."""
    return now - timedelta(days=settings.pending_label_days)


def hold_for_predictions(connection: Connection, model_id: int) -> None:
    """Ingest of a model's predictions: hold the model's lock shared (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock_shared(%s, %s)", (_LOCK_CLASS, model_id)
        )


def hold_for_labels(connection: Connection, model_id: int) -> None:
    """Keeping a model's pending labels: hold the model's lock exclusive (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, model_id))


def join_pending(
    connection: Connection,
    *,
    model_id: int,
    version_id: int,
    prediction_ids: list[str],
    ts_range: tuple[int | None, int | None],
    now: datetime,
    expired_before: datetime,
) -> int:
    """Give the predictions just stored (``prediction_ids`` of ``version_id``, whose
    timestamps are in ``ts_range``: the day partition to look in) their pending labels and
    forget those; return how many predictions were labelled."""
    if not prediction_ids:
        return 0
    if connection.execute(_ANY_PENDING, {"model_id": model_id}).first() is None:
        return 0  # the usual batch: the model has no pending labels
    if connection.dialect.name == "postgresql":
        joined = connection.exec_driver_sql(
            _POSTGRES_JOIN,
            (now, model_id, expired_before, prediction_ids, version_id, *ts_range),
        ).rowcount
        connection.exec_driver_sql(_POSTGRES_FORGET, (model_id, prediction_ids))
        return joined
    ids = orjson.dumps(prediction_ids).decode()
    joined = connection.execute(
        _SQLITE_JOIN,
        {
            "now": now,
            "model_id": model_id,
            "cutoff": expired_before,
            "version_id": version_id,
            "ids": ids,
        },
    ).rowcount
    connection.execute(_SQLITE_FORGET, {"model_id": model_id, "ids": ids})
    return joined


def keep_pending(
    connection: Connection, model_id: int, labels: dict[str, object], now: datetime
) -> None:
    """Keep labels whose predictions are not stored yet; a label sent again replaces the one
    kept (and its retention starts again)."""
    if not labels:
        return
    rows = [
        {"model_id": model_id, "prediction_id": pid, "label": label, "received_at": now}
        for pid, label in labels.items()
    ]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_PENDING)
    statement = statement.on_conflict_do_update(
        index_elements=[_PENDING.c.model_id, _PENDING.c.prediction_id],
        set_={"label": statement.excluded.label, "received_at": statement.excluded.received_at},
    )
    connection.execute(statement, rows)


def forget_expired(connection: Connection, model_id: int, expired_before: datetime) -> int:
    """Delete a model's pending labels received before ``expired_before``; return how many."""
    return connection.execute(
        delete(_PENDING).where(
            _PENDING.c.model_id == model_id, _PENDING.c.received_at < expired_before
        )
    ).rowcount


@dataclass(frozen=True)
class PendingLabelItem:
    """One label waiting for its prediction."""

    prediction_id: str
    label: object
    received_at: datetime


@dataclass(frozen=True)
class PendingLabels:
    """A model's labels waiting for their predictions: how many, and a page of them."""

    model: str
    count: int
    retention_days: float
    items: list[PendingLabelItem]
    next_cursor: str | None


def pending_labels(
    session: Session,
    model_id: int,
    model: str,
    settings: Settings,
    now: datetime,
    *,
    limit: int,
    after: str | None = None,
) -> PendingLabels:
    """The model's unexpired pending labels: their count and a page by prediction id."""
    alive = (PendingLabel.model_id == model_id, PendingLabel.received_at >= cutoff(settings, now))
    count = session.scalar(select(func.count()).select_from(PendingLabel).where(*alive)) or 0
    query = select(PendingLabel).where(*alive).order_by(PendingLabel.prediction_id).limit(limit)
    if after is not None:
        query = query.where(PendingLabel.prediction_id > after)
    found = list(session.scalars(query))
    items = [PendingLabelItem(p.prediction_id, p.label, p.received_at) for p in found]
    more = len(items) == limit and count > 0
    return PendingLabels(
        model=model,
        count=count,
        retention_days=settings.pending_label_days,
        items=items,
        next_cursor=items[-1].prediction_id if more else None,
    )


def pending_label_counts(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """Unexpired pending labels per model name (for ``/metrics``)."""
    rows = session.execute(
        select(RegisteredModel.name, func.count())
        .select_from(PendingLabel)
        .join(RegisteredModel, RegisteredModel.id == PendingLabel.model_id)
        .where(PendingLabel.received_at >= cutoff(settings, now))
        .group_by(RegisteredModel.name)
    )
    return {name: int(count) for name, count in rows}
