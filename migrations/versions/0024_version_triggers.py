"""Version triggers and governed alias promotions: a version registered in answer to an alert
(``model_versions.triggered_by_alert_id``), and promotion requests that move a governed alias
instead of a stage (``promotion_requests.alias``; ``stage`` is then empty, exactly one of the
two is set).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triggered_by_alert_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_model_versions_triggered_by_alert_id"),
            ["triggered_by_alert_id"],
            unique=False,
        )
    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alias", sa.String(length=63), nullable=True))
        batch_op.alter_column("stage", existing_type=sa.String(length=16), nullable=True)
        batch_op.create_check_constraint(
            batch_op.f("ck_promotion_requests_stage_or_alias"),
            "(stage IS NULL) <> (alias IS NULL)",
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM policy_evaluations WHERE request_id IN "
        "(SELECT id FROM promotion_requests WHERE alias IS NOT NULL)"
    )
    op.execute(
        "DELETE FROM promotion_decisions WHERE request_id IN "
        "(SELECT id FROM promotion_requests WHERE alias IS NOT NULL)"
    )
    op.execute("DELETE FROM promotion_requests WHERE alias IS NOT NULL")
    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_promotion_requests_stage_or_alias"), type_="check")
        batch_op.alter_column("stage", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column("alias")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_versions_triggered_by_alert_id"))
        batch_op.drop_column("triggered_by_alert_id")
