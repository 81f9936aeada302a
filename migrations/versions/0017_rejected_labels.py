"""Label counts: ground truth received and rejected per version and day, for data quality.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('label_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_label_counts_model_id_models')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_label_counts_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_counts'))
    )
    with op.batch_alter_table('label_counts', schema=None) as batch_op:
        batch_op.create_index('ix_label_counts_model_day', ['model_id', 'day'], unique=False)
        batch_op.create_index('uq_label_counts_version_day', ['version_id', 'day'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('label_counts', schema=None) as batch_op:
        batch_op.drop_index('uq_label_counts_version_day')
        batch_op.drop_index('ix_label_counts_model_day')

    op.drop_table('label_counts')
