"""Channels subscribe to event types (alerts by default, as before) and may be limited to
some models' lifecycle events.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 13:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('events', sa.JSON(), nullable=False, server_default='["alert.*"]')
        )
        batch_op.add_column(sa.Column('models', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('models')
        batch_op.drop_column('events')
