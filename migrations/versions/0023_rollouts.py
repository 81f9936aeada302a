"""Phased rollouts: a plan of traffic shares for the candidate of an approved promotion to
production, and its history; a promotion request may ask to wait for one (``rollout``).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 18:07:47
"""

from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('running', 'halted')")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("rollback_on_halt", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("candidate_share", sa.Double(), nullable=False),
        sa.Column("step_started_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("halted_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", assay_server.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["model_versions.id"],
            name=op.f("fk_rollouts_baseline_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["model_versions.id"],
            name=op.f("fk_rollouts_candidate_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_rollouts_model_id_models")),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotion_requests.id"],
            name=op.f("fk_rollouts_promotion_id_promotion_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        sa.UniqueConstraint("promotion_id", name=op.f("uq_rollouts_promotion_id")),
    )
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollouts_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_rollouts_open_model",
            ["model_id"],
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )

    op.create_table(
        "rollout_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("from_percent", sa.Double(), nullable=False),
        sa.Column("to_percent", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_rollout_events_rollout_id_rollouts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_events")),
    )
    with op.batch_alter_table("rollout_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollout_events_rollout_id"), ["rollout_id"], unique=False
        )

    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rollout", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.drop_column("rollout")

    with op.batch_alter_table("rollout_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollout_events_rollout_id"))
    op.drop_table("rollout_events")

    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.drop_index("uq_rollouts_open_model", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index(batch_op.f("ix_rollouts_status"))
        batch_op.drop_index(batch_op.f("ix_rollouts_model_id"))
        batch_op.drop_index(batch_op.f("ix_rollouts_candidate_id"))
    op.drop_table("rollouts")
