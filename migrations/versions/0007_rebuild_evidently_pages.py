"""Forget cached Evidently pages: they were stored before their data was made script-safe.

Each is built again, escaped, the next time someone opens it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:20:00
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE reports SET html_sha256 = NULL")


def downgrade() -> None:
    pass
