"""Alembic environment: runs on the connection handed over by ``assay_server.migrate``."""

from __future__ import annotations

from alembic import context

from assay_server.db import Base
from assay_server.models import import_all_models

import_all_models()
config = context.config
target_metadata = Base.metadata


def process_revision_directives(context_, revision, directives):
    """Write no empty migration when autogenerate finds nothing."""
    cmd_opts = getattr(config, "cmd_opts", None)
    if getattr(cmd_opts, "autogenerate", False) or config.attributes.get("autogenerate"):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported: run 'assay-server db upgrade'.")
run_migrations_online()
