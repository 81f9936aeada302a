"""Keep the model's owner on each promotion request, as it was when the request was opened,
so independent validation judges approvers against it. Open requests take the owner the
model has now (the best there is); decided ones keep none.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_at_request', sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE promotion_requests SET owner_at_request = "
        "(SELECT owner FROM models WHERE models.id = promotion_requests.model_id) "
        "WHERE status IN ('blocked', 'pending_approval')"
    )


def downgrade() -> None:
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.drop_column('owner_at_request')
