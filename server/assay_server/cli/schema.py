"""``assay-server db``: the store's schema (migrations)."""

from __future__ import annotations

import click

from .state import State, fail_cleanly, pass_state, upgrade_store


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: State) -> None:
    """Apply every pending migration."""
    upgrade_store(state)
    click.echo("The store is up to date.")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@pass_state
def db_revision(state: State, message: str) -> None:
    """Write a migration for model changes (development)."""
    from ..migrate import autogenerate

    upgrade_store(state)
    path = fail_cleanly(lambda: autogenerate(state.database.engine, message))
    click.echo(f"Wrote {path}" if path else "No changes: no migration written.")
