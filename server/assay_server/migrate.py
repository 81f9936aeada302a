"""Schema migrations, driven from code: upgrade, check, autogenerate.

The alembic environment ships inside the package (``assay_server.migrations``), so a
non-editable install migrates too; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine


def migrations_dir() -> Path:
    """Where the alembic environment lives in this installation."""
    return Path(str(resources.files("assay_server.migrations")))


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic config pointing at the packaged environment and ``connection``."""
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("version_locations", str(migrations_dir() / "versions"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def pending_migrations(connection: Connection) -> list[str]:
    """Revisions in the code that the database has not applied yet."""
    script = ScriptDirectory.from_config(alembic_config())
    current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(script.get_heads())
    if current == heads:
        return []
    pending: list[str] = []
    for head in heads:
        for rev in script.iterate_revisions(head, "base"):
            if rev.revision in current:
                break
            pending.append(rev.revision)
    return pending


def autogenerate(engine: Engine, message: str) -> str | None:
    """Write a migration for what the models have and the database lacks; None if nothing."""
    with engine.begin() as connection:
        config = alembic_config(connection)
        config.attributes["autogenerate"] = True
        script = command.revision(config, message=message, autogenerate=True)
    if script is None or isinstance(script, list):
        return None
    return script.path
