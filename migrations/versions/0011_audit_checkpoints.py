"""Audit checkpoints: the server's Ed25519 signature over the chain's hash at a seq.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:30:00
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('timestamp', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.String(length=88), nullable=False),
    sa.PrimaryKeyConstraint('seq', 'key_id', name=op.f('pk_audit_checkpoints'))
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
