"""Ingest leaves the audit chain alone: batches are rolled up into one audit event per model
version and hour by the scheduler; ``rolled_up_at`` marks the batches already in an event.

Batches stored before this revision each have their own ``predictions.ingested`` event, so
they count as rolled up from the start.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 16:20:00
"""

from alembic import op
import sqlalchemy as sa

import assay_server.db


revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rolled_up_at", assay_server.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE prediction_batches SET rolled_up_at = received_at")
    op.create_index(
        "ix_prediction_batches_not_rolled_up",
        "prediction_batches",
        ["received_at"],
        unique=False,
        sqlite_where=sa.text("rolled_up_at IS NULL"),
        postgresql_where=sa.text("rolled_up_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_prediction_batches_not_rolled_up", table_name="prediction_batches")
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.drop_column("rolled_up_at")
