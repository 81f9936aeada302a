"""Model aliases: named pointers of a model to one of its versions (``champion``,
``challenger``), and the history of which version each alias named, from when to when.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 15:30:00
"""

from alembic import op
import sqlalchemy as sa
import assay_server.db


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.Column("left_at", assay_server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_by", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_alias_history_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_alias_history_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alias_history")),
    )
    with op.batch_alter_table("alias_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alias_history_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alias_history_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "model_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("set_at", assay_server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_aliases_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_aliases_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("model_id", "alias", name=op.f("uq_model_aliases_model_id")),
    )
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_aliases_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_model_aliases_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_aliases_version_id"))
        batch_op.drop_index(batch_op.f("ix_model_aliases_model_id"))

    op.drop_table("model_aliases")
    with op.batch_alter_table("alias_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alias_history_version_id"))
        batch_op.drop_index(batch_op.f("ix_alias_history_model_id"))

    op.drop_table("alias_history")
