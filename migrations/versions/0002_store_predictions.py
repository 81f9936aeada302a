"""Store predictions: a narrow indexed row per prediction, a columnar block per batch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:08:49.609111
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('prediction_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('received_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('ts_min_us', sa.BigInteger(), nullable=True),
    sa.Column('ts_max_us', sa.BigInteger(), nullable=True),
    sa.Column('block', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_prediction_batches_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_batches'))
    )
    with op.batch_alter_table('prediction_batches', schema=None) as batch_op:
        batch_op.create_index('ix_prediction_batches_version_ts_max', ['version_id', 'ts_max_us'], unique=False)

    op.create_table('predictions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('ts_us', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('label', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('label_updated_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['prediction_batches.id'], name=op.f('fk_predictions_batch_id_prediction_batches')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_predictions_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_predictions'))
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index('ix_predictions_version_ts', ['version_id', 'ts_us'], unique=False)
        batch_op.create_index('uq_predictions_version_prediction_id', ['version_id', 'prediction_id'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('uq_predictions_version_prediction_id')
        batch_op.drop_index('ix_predictions_version_ts')

    op.drop_table('predictions')
    with op.batch_alter_table('prediction_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_prediction_batches_version_ts_max')

    op.drop_table('prediction_batches')
