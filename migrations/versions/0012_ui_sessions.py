"""UI sessions: a browser's sign-in, stored by the SHA-256 of the id its cookie holds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ui_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('created_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', assay_server.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', assay_server.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['token_id'], ['tokens.id'], name=op.f('fk_ui_sessions_token_id_tokens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ui_sessions')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_ui_sessions_session_hash'))
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ui_sessions_token_id'), ['token_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ui_sessions_token_id'))

    op.drop_table('ui_sessions')
