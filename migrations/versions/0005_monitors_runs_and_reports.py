"""Monitors, their runs (each scheduled run's row is its claim), reports, reference profiles.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:01:23.686796
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
  
    op.create_table('monitors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('window', sa.JSON(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('sensitive_features', sa.JSON(), nullable=False),
    sa.Column('min_rows', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_monitors_model_id_models')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_monitors_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors')),
    sa.UniqueConstraint('model_id', 'name', name=op.f('uq_monitors_model_id'))
    )
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitors_model_id'), ['model_id'], unique=False)

    op.create_table('monitor_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('scheduled_for', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('window_start', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_end', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('rows_used', sa.Integer(), nullable=True),
    sa.Column('sampled', sa.Boolean(), nullable=False),
    sa.Column('statuses', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_monitor_runs_monitor_id_monitors')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_monitor_runs_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_runs')),
    sa.UniqueConstraint('monitor_id', 'scheduled_for', 'attempt', name=op.f('uq_monitor_runs_monitor_id'))
    )
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_runs_monitor_id'), ['monitor_id'], unique=False)
        batch_op.create_index('ix_monitor_runs_status_deadline', ['status', 'deadline_at'], unique=False)

    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('window_start', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_end', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_used', sa.Integer(), nullable=False),
    sa.Column('sampled', sa.Boolean(), nullable=False),
    sa.Column('sample_seed', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('html_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_reports_model_id_models')),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_reports_monitor_id_monitors')),
    sa.ForeignKeyConstraint(['run_id'], ['monitor_runs.id'], name=op.f('fk_reports_run_id_monitor_runs')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_reports_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_model_created', ['model_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_monitor_id'), ['monitor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_version_id'), ['version_id'], unique=False)

    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference_profile_sha256', sa.String(length=64), nullable=True))



def downgrade() -> None:
  
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('reference_profile_sha256')

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_version_id'))
        batch_op.drop_index(batch_op.f('ix_reports_run_id'))
        batch_op.drop_index(batch_op.f('ix_reports_monitor_id'))
        batch_op.drop_index('ix_reports_model_created')

    op.drop_table('reports')
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_runs_status_deadline')
        batch_op.drop_index(batch_op.f('ix_monitor_runs_monitor_id'))

    op.drop_table('monitor_runs')
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitors_model_id'))

    op.drop_table('monitors')
