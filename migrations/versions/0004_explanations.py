"""Explanations (local, global, jobs) and the per-version loading decisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:45:00.000000
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('explain_load_permissions',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('trusted_types', sa.JSON(), nullable=False),
    sa.Column('allow_pickle', sa.Boolean(), nullable=False),
    sa.Column('updated_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_explain_load_permissions_version_id_model_versions')),
    sa.PrimaryKeyConstraint('version_id', name=op.f('pk_explain_load_permissions'))
    )
    op.create_table('explanations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('input_hash', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_by_token_id', sa.Integer(), nullable=True),
    sa.Column('finished_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_explanations_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_explanations'))
    )
    with op.batch_alter_table('explanations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_explanations_input_hash'), ['input_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_explanations_version_id'), ['version_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('explanations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_explanations_version_id'))
        batch_op.drop_index(batch_op.f('ix_explanations_input_hash'))

    op.drop_table('explanations')
    op.drop_table('explain_load_permissions')
