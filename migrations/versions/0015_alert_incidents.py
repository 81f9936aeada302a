"""Alerts are incidents: a failed monitor run raises one with no report, so an alert's
report is optional. (The findings of an incident live in its JSON ``figures``; alerts opened
before incidents existed are merged into one per (monitor, check) by the next run that
touches them, audited, see ``alerts/raising.py``.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.alter_column('report_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # alerts of failed runs have no report to point at: they go first
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT d.id FROM deliveries d "
        "JOIN alerts a ON a.id = d.alert_id WHERE a.report_id IS NULL)"
    )
    op.execute(
        "DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE report_id IS NULL)"
    )
    op.execute("DELETE FROM alerts WHERE report_id IS NULL")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.alter_column('report_id', existing_type=sa.Integer(), nullable=False)
