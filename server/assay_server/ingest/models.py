"""Prediction storage: a narrow indexed row per prediction, and a columnar block per batch.

The row table holds what is looked up or changed one prediction at a time — the id that makes
ingest idempotent, the timestamp windows are cut by, the ground-truth label that arrives
later — and points at the row's place in its batch's block. The block holds everything else
(features, prediction, scores, sensitive attributes) as one Arrow IPC stream, so a monitoring
job reads a million rows by decoding a few hundred blocks rather than a million JSON texts.
Ground truth that arrives before its prediction waits in ``pending_labels`` (``labels.py``);
how many labels arrived, and how many were refused, is counted per version and day in
``label_counts`` (``label_counts.py``), as ``prediction_batches`` counts rejected predictions.

A batch's block holds the rows of one UTC day (``day``): a request whose rows span days is
stored as one batch per day, so that on PostgreSQL both tables are range-partitioned by day
(``partitions.py``) and retention drops a day's rows and blocks together (``retention.py``).
There the partition key is part of every unique key: a row is unique by version, prediction id
and timestamp, and its batch by id and day (the migration ``0020`` makes the keys; these
classes keep the columns). Which is why ``predictions.batch_id`` is not a foreign key.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class PredictionBatch(Base):
    """One accepted ingest request's rows of one day: its counts, time range, and the block of
    its new rows (a request whose rows span days is stored as one batch per day)."""

    __tablename__ = "prediction_batches"
    __table_args__ = (
        Index("ix_prediction_batches_version_ts_max", "version_id", "ts_max_us"),
        # the scheduler's hourly roll-up finds the batches not yet in an audit event
        Index(
            "ix_prediction_batches_not_rolled_up",
            "received_at",
            sqlite_where=text("rolled_up_at IS NULL"),
            postgresql_where=text("rolled_up_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    #: the UTC day of its rows (of its arrival when it stored none): the partition key
    day: Mapped[date]
    received_at: Mapped[datetime]
    accepted: Mapped[int]
    duplicates: Mapped[int]
    rejected: Mapped[int]
    ts_min_us: Mapped[int | None] = mapped_column(BigInteger)
    ts_max_us: Mapped[int | None] = mapped_column(BigInteger)
    block: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: when the scheduler put this batch in an hourly ``predictions.rolled_up`` audit event
    rolled_up_at: Mapped[datetime | None]
    #: the champion version these rows shadow (same prediction ids, not served traffic)
    shadow_of_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))


class PredictionRow(Base):
    """One stored prediction: its id, time, label, and where its values are in the block."""

    __tablename__ = "predictions"
    __table_args__ = (
        # the timestamp is in the key because PostgreSQL partitions by it; ingest still stores
        # an id once per version on SQLite, and on PostgreSQL once per version and timestamp
        # and once within a day of its timestamp (statements.py)
        Index(
            "uq_predictions_version_prediction_id",
            "version_id",
            "prediction_id",
            "ts_us",
            unique=True,
        ),
        Index("ix_predictions_version_ts", "version_id", "ts_us"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    prediction_id: Mapped[str] = mapped_column(String(128))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    row: Mapped[int]
    label: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    label_updated_at: Mapped[datetime | None]


class PendingLabel(Base):
    """Ground truth whose prediction the server does not know yet: kept for
    ``ASSAY_PENDING_LABEL_DAYS`` and joined when the prediction arrives (one per model and
    prediction id; the last label sent wins)."""

    __tablename__ = "pending_labels"
    __table_args__ = (
        Index("uq_pending_labels_model_prediction_id", "model_id", "prediction_id", unique=True),
        Index("ix_pending_labels_model_received_at", "model_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    prediction_id: Mapped[str] = mapped_column(String(128))
    label: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    received_at: Mapped[datetime]


class LabelCount(Base):
    """Ground truth received for a version on one day (UTC), and how much of it was refused
    (not one of the classes, not a finite number, an unstorable id): what data quality
    reports as "labels rejected". A label is counted for the version whose prediction it
    names, else for the model's newest version at the time."""

    __tablename__ = "label_counts"
    __table_args__ = (
        Index("uq_label_counts_version_day", "version_id", "day", unique=True),
        Index("ix_label_counts_model_day", "model_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    day: Mapped[date]
    received: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
