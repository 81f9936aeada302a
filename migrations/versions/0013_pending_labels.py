"""Pending labels: ground truth that arrived before its prediction, joined when it arrives.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_labels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('label', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('received_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_pending_labels_model_id_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_labels'))
    )
    with op.batch_alter_table('pending_labels', schema=None) as batch_op:
        batch_op.create_index('ix_pending_labels_model_received_at', ['model_id', 'received_at'], unique=False)
        batch_op.create_index('uq_pending_labels_model_prediction_id', ['model_id', 'prediction_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('pending_labels', schema=None) as batch_op:
        batch_op.drop_index('uq_pending_labels_model_prediction_id')
        batch_op.drop_index('ix_pending_labels_model_received_at')

    op.drop_table('pending_labels')
