"""What every ``assay-server`` command shares: the settings, store and wiring of one
invocation, and the clean failures and store checks the commands run through."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click

from ..context import ServiceContext
from ..db import Database
from ..errors import AssayError
from ..roles import Actor
from ..settings import Settings, SettingsError
from ..wiring import wire


class State:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._database: Database | None = None
        self.wiring = wire()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings

    @property
    def database(self) -> Database:
        if self._database is None:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._database = Database.from_settings(self.settings)
        return self._database

    def context(self) -> ServiceContext:
        return self.wiring.context(Actor.cli(f"cli:{_os_user()}"), self.settings)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


pass_state = click.make_pass_decorator(State, ensure=True)


def fail_cleanly(action: Any) -> Any:
    try:
        return action()
    except AssayError as exc:
        raise click.ClickException(exc.message or str(exc.details)) from None
    except Exception as exc:  # database unreachable, permissions…
        name = type(exc).__name__
        raise click.ClickException(f"{name}: {str(exc).splitlines()[0]}") from None


def upgrade_store(state: State) -> None:
    from ..migrate import upgrade

    fail_cleanly(lambda: upgrade(state.database.engine))


def existing_store(state: State) -> None:
    """For a command that works on a server's store (tokens, policies): refuse, saying
    where it looked, when there is no store there or it is not migrated — never create an
    empty one beside the server's (run from another directory, a relative ``./.assay`` is
    another store). ``run`` and ``db upgrade`` are what create a store."""
    from sqlalchemy.engine import make_url

    from ..migrate import pending_migrations

    settings = state.settings
    where = f"(ASSAY_DATA_DIR is {settings.data_dir})"
    if settings.is_sqlite:
        file = make_url(settings.database_url).database
        if file and file != ":memory:" and not Path(file).exists():
            raise click.ClickException(
                f"No Assay store at {file} {where}. Run this where the server runs, or with "
                "the server's ASSAY_DATA_DIR / ASSAY_DATABASE_URL; 'assay-server db upgrade' "
                "creates a new store."
            )

    def pending() -> list[str]:
        with state.database.engine.connect() as connection:
            return pending_migrations(connection)

    missing = fail_cleanly(pending)
    if missing:
        raise click.ClickException(
            f"The store at {make_url(settings.database_url).render_as_string()} {where} is not "
            f"migrated ({len(missing)} migration(s) pending): run 'assay-server db upgrade' "
            "(the server does at its start)."
        )
