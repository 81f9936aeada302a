"""Shadow batches: a batch may log a challenger's predictions in the shadow of a champion
version of the same model (``shadow_of_version_id``); its rows are not served traffic.

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-30 18:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shadow_of_version_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_prediction_batches_shadow_of_version_id_model_versions"),
            "model_versions",
            ["shadow_of_version_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_prediction_batches_shadow_of_version_id_model_versions"),
            type_="foreignkey",
        )
        batch_op.drop_column("shadow_of_version_id")
