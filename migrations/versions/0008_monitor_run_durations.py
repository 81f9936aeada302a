"""Keep each monitor run's duration, so /metrics sums it in SQL instead of reading every run.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM finished_at - started_at)",
    "sqlite": "(julianday(finished_at) - julianday(started_at)) * 86400.0",
}


def upgrade() -> None:
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_seconds', sa.Double(), nullable=True))
    seconds = _SECONDS[op.get_bind().dialect.name]
    op.execute(
        f"UPDATE monitor_runs SET duration_seconds = {seconds} "
        "WHERE started_at IS NOT NULL AND finished_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.drop_column('duration_seconds')
