"""Governance: benchmarks, versioned policies, promotion requests and decisions, stage history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:08:58.369221
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_policies_name'))
    )
    op.create_table('policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_policy_versions_policy_id_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('policy_id', 'version', name=op.f('uq_policy_versions_policy_id'))
    )
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_versions_policy_id'), ['policy_id'], unique=False)

    op.create_table('benchmarks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('dataset_uri', sa.String(length=2000), nullable=True),
    sa.Column('dataset_hash', sa.String(length=200), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_benchmarks_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benchmarks'))
    )
    with op.batch_alter_table('benchmarks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benchmarks_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_benchmarks_version_id'), ['version_id'], unique=False)

    op.create_table('promotion_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('required_approvals', sa.Integer(), nullable=False),
    sa.Column('evaluation', sa.JSON(), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('requested_by_token_id', sa.Integer(), nullable=True),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_promotion_requests_model_id_models')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_promotion_requests_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_requests'))
    )
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_requests_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_requests_version_id'), ['version_id'], unique=False)

    op.create_table('stage_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('entered_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('left_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('entered_by', sa.String(length=100), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_stage_history_model_id_models')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_stage_history_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_history'))
    )
    with op.batch_alter_table('stage_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_history_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stage_history_version_id'), ['version_id'], unique=False)
    # Versions already in a stage start their history in it (from their last stage change).
    op.execute(
        "INSERT INTO stage_history (model_id, version_id, stage, entered_at, entered_by, comment) "
        "SELECT model_id, id, stage, COALESCE(stage_changed_at, created_at), created_by, "
        "'in this stage before stage history was recorded' "
        "FROM model_versions WHERE stage <> 'none'"
    )

    op.create_table('policy_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['promotion_requests.id'], name=op.f('fk_policy_evaluations_request_id_promotion_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_evaluations'))
    )
    with op.batch_alter_table('policy_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_evaluations_request_id'), ['request_id'], unique=False)

    op.create_table('promotion_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('approver', sa.String(length=100), nullable=False),
    sa.Column('approver_token_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['promotion_requests.id'], name=op.f('fk_promotion_decisions_request_id_promotion_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_decisions')),
    sa.UniqueConstraint('request_id', 'approver', name=op.f('uq_promotion_decisions_request_id'))
    )
    with op.batch_alter_table('promotion_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_decisions_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('promotion_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_decisions_request_id'))

    op.drop_table('promotion_decisions')
    with op.batch_alter_table('policy_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_evaluations_request_id'))

    op.drop_table('policy_evaluations')
    with op.batch_alter_table('stage_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stage_history_version_id'))
        batch_op.drop_index(batch_op.f('ix_stage_history_model_id'))

    op.drop_table('stage_history')
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_requests_version_id'))
        batch_op.drop_index(batch_op.f('ix_promotion_requests_status'))
        batch_op.drop_index(batch_op.f('ix_promotion_requests_model_id'))

    op.drop_table('promotion_requests')
    with op.batch_alter_table('benchmarks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benchmarks_version_id'))
        batch_op.drop_index(batch_op.f('ix_benchmarks_name'))

    op.drop_table('benchmarks')
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_versions_policy_id'))

    op.drop_table('policy_versions')
    op.drop_table('policies')
