"""``assay-server``: run the server, migrate the store, back it up and restore it, manage
tokens, apply policies."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .auth.service import TokenService
from .context import ServiceContext
from .db import Database
from .errors import AssayError
from .roles import ROLE_NAMES, Actor
from .settings import Settings, SettingsError
from .wiring import wire


class _State:
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


pass_state = click.make_pass_decorator(_State, ensure=True)


def _fail_cleanly(action: Any) -> Any:
    try:
        return action()
    except AssayError as exc:
        raise click.ClickException(exc.message or str(exc.details)) from None
    except Exception as exc:  # database unreachable, permissions…
        name = type(exc).__name__
        raise click.ClickException(f"{name}: {str(exc).splitlines()[0]}") from None


def _upgrade(state: _State) -> None:
    from .migrate import upgrade

    _fail_cleanly(lambda: upgrade(state.database.engine))


def _existing_store(state: _State) -> None:
    """For a command that works on a server's store (tokens, policies): refuse, saying
    where it looked, when there is no store there or it is not migrated — never create an
    empty one beside the server's (run from another directory, a relative ``./.assay`` is
    another store). ``run`` and ``db upgrade`` are what create a store."""
    from sqlalchemy.engine import make_url

    from .migrate import pending_migrations

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

    missing = _fail_cleanly(pending)
    if missing:
        raise click.ClickException(
            f"The store at {make_url(settings.database_url).render_as_string()} {where} is not "
            f"migrated ({len(missing)} migration(s) pending): run 'assay-server db upgrade' "
            "(the server does at its start)."
        )


def _print_first_admin_token(state: _State) -> None:
    """On the very first start, make an admin token and print it, once."""
    with state.database.unit_of_work() as session:
        tokens = TokenService(session, state.context())
        if tokens.count() > 0:
            return
        issued = tokens.create("admin", "admin")
    click.echo("")
    click.secho("  First start: an admin token was created. It is shown this once:", bold=True)
    click.echo(f"\n    {issued.secret}\n")
    click.echo("  Keep it safe; make more with 'assay-server tokens create'.\n")


@click.group()
@click.version_option(__version__, prog_name="assay-server")
def main() -> None:
    """Assay server: model registry, audit trail, monitoring and governance."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # one line per job run every few seconds is noise; misfires and errors still show
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default=None, help="Interface to listen on [ASSAY_HOST, 127.0.0.1].")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port [ASSAY_PORT, 8080]."
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run scheduled jobs in this process (run 'assay-server scheduler').",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (gunicorn).",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker.",
)
@pass_state
def run(
    state: _State,
    host: str | None,
    port: int | None,
    no_scheduler: bool,
    workers: int,
    threads: int,
) -> None:
    """Migrate the store and serve the API and UI."""
    from .app import create_app

    settings = state.settings
    host = host or settings.host
    port = settings.port if port is None else port
    _upgrade(state)
    _print_first_admin_token(state)
    _load_bundled_policies(state)
    app = create_app(settings, database=state.database, wiring=state.wiring)
    click.echo(
        f"Assay {__version__} on http://{host}:{port}  (data: "
        f"{settings.data_dir.resolve()}, store: {_store_name(settings)})"
    )
    if not no_scheduler:
        _start_scheduler_child()
    # The master used the store above; a pooled connection left open would be shared by
    # every forked worker (SQLAlchemy's "Using Connection Pools with Multiprocessing").
    state.database.dispose()
    _serve(app, host, port, workers, threads, state.database)


def _start_scheduler_child() -> None:
    """Run the scheduler beside the web server, as its own process (never in a worker)."""
    import atexit
    import os
    import subprocess

    child = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "scheduler", "--parent-pid", str(os.getpid())]
    )

    def stop_child() -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()

    atexit.register(stop_child)


@main.command()
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Exit when this process is gone (used by 'assay-server run').",
)
@pass_state
def scheduler(state: _State, parent_pid: int | None) -> None:
    """Run scheduled monitor runs (several may run against PostgreSQL; each slot runs once)."""
    import os
    import signal
    import threading

    from .scheduler import run_scheduler

    _upgrade(state)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid is not None:

        def watch_parent() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    stop.set()

        threading.Thread(target=watch_parent, daemon=True).start()
    click.echo(f"Assay scheduler (store: {_store_name(state.settings)})")
    run_scheduler(state.database, state.settings, stop, wiring=state.wiring)


def _store_name(settings: Settings) -> str:
    return "SQLite" if settings.is_sqlite else settings.database_url.split(":", 1)[0]


def _serve(app: Any, host: str, port: int, workers: int, threads: int, database: Database) -> None:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # no gunicorn (Windows): the threaded werkzeug server
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True)
        return

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 120)
            self.cfg.set("post_fork", _forget_inherited_connections)

        def load(self) -> Any:
            return app

    def _forget_inherited_connections(_server: Any, _worker: Any) -> None:
        # close=False: the sockets belong to the master; a worker only drops its copies.
        database.engine.dispose(close=False)

    _Gunicorn().run()


@main.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: _State) -> None:
    """Apply every pending migration."""
    _upgrade(state)
    click.echo("The store is up to date.")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@pass_state
def db_revision(state: _State, message: str) -> None:
    """Write a migration for model changes (development)."""
    from .migrate import autogenerate

    _upgrade(state)
    path = _fail_cleanly(lambda: autogenerate(state.database.engine, message))
    click.echo(f"Wrote {path}" if path else "No changes: no migration written.")


@main.command("backup")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) directory to write the backup to.",
)
@click.option(
    "--without-signing-key",
    is_flag=True,
    help="Leave the audit signing key out (its owners back it up apart); a restore then "
    "needs the same key in place first.",
)
@pass_state
def backup_command(state: _State, out: Path, without_signing_key: bool) -> None:
    """Back up the store, the blobs it references and the audit signing key to OUT.

    The backup holds the audit signing key and the store's secrets: keep it where only the
    key's holders can read it.
    """
    from .backup import back_up

    manifest = _fail_cleanly(
        lambda: back_up(state.database, state.context(), out, signing_key=not without_signing_key)
    )
    store, audit = manifest["database"], manifest["audit"]
    blobs = [entry for entries in manifest["blobs"].values() for entry in entries]
    size = sum(entry["size"] for entry in blobs) + store["size"]
    click.echo(
        f"Backed up the {_KIND_NAMES[store['kind']]} store (revision {store['alembic_revision']}"
        f", {sum(store['rows'].values()):,} rows in {len(store['rows'])} tables), "
        f"{len(blobs)} blobs{'' if without_signing_key else ' and the audit signing key'} "
        f"to {out} ({size / 1e6:,.1f} MB)."
    )
    click.echo(
        f"Audit chain head: seq {audit['head']['seq']}; checkpoint signed at seq "
        f"{audit['checkpoint']['seq']} by key {audit['checkpoint']['key_id'][:16]}."
    )
    if manifest["missing_rebuilt_on_demand"]:
        click.echo(
            f"Not found, rebuilt by the server when asked for: "
            f"{', '.join(manifest['missing_rebuilt_on_demand'])}."
        )
    if without_signing_key:
        click.echo("It holds the store's secrets (hashed tokens, channel secrets): protect it.")
    else:
        click.echo("It holds the audit signing key: protect it as you protect that key.")


_KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@main.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_state
def restore_command(state: _State, source: Path) -> None:
    """Restore the backup in SOURCE into an empty data directory and an empty database.

    Every file is checked against its digest first; a store of an older revision is
    migrated up; the restored audit trail is checked against the backup's checkpoint.
    """
    from .backup import restore

    restored = _fail_cleanly(lambda: restore(state.context(), source))
    store = restored.manifest["database"]
    click.echo(
        f"Restored the {_KIND_NAMES[store['kind']]} store of {restored.manifest['created_at']} "
        f"({sum(store['rows'].values()):,} rows in {len(store['rows'])} tables) and "
        f"{restored.blobs} blobs ({restored.blob_bytes / 1e6:,.1f} MB), every digest checked."
    )
    if restored.migrated_from is not None:
        click.echo(f"Migrated the store up from revision {restored.migrated_from}.")
    if not restored.audit.ok:
        raise click.ClickException(
            f"Restored, but the audit trail does not verify: {restored.audit.message}"
        )
    click.echo(f"Audit trail: {restored.audit.message}.")


@main.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES))
@click.option("--name", required=True, help="Who or what will use it, e.g. ci-pipeline.")
@click.option(
    "--expires-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Lifetime in days (default: no expiry).",
)
@pass_state
def tokens_create(state: _State, role: str, name: str, expires_days: float | None) -> None:
    """Create a token and print it (shown this once)."""
    from marshmallow import ValidationError

    from .auth.schemas import TOKEN_NAME

    try:
        TOKEN_NAME(name)
    except ValidationError as exc:
        raise click.BadParameter(" ".join(exc.messages), param_hint="--name") from None
    _existing_store(state)

    def create() -> str:
        with state.database.unit_of_work() as session:
            issued = TokenService(session, state.context()).create(
                name, role, expires_days=expires_days
            )
            return issued.secret

    click.echo(_fail_cleanly(create))


@tokens.command("revoke")
@click.argument("token")
@pass_state
def tokens_revoke(state: _State, token: str) -> None:
    """Revoke a token by id or name."""
    _existing_store(state)

    def revoke() -> str:
        with state.database.unit_of_work() as session:
            service = TokenService(session, state.context())
            row = service.revoke(service.find(token).id)
            return f"Revoked token {row.id} ({row.name}, {row.role})."

    click.echo(_fail_cleanly(revoke))


@tokens.command("list")
@pass_state
def tokens_list(state: _State) -> None:
    """List tokens (never their secrets)."""
    _existing_store(state)

    def listing() -> list[str]:
        with state.database.unit_of_work(write=False) as session:
            now = state.context().clock()
            return [
                f"{t.id:>4}  {t.name:<24} {t.role:<12} {t.display_prefix}…{t.last_four}  "
                f"{'revoked' if t.revoked_at else ('active' if t.is_active(now) else 'expired')}"
                for t in TokenService(session, state.context()).list()
            ]

    for line in _fail_cleanly(listing):
        click.echo(line)


def _load_bundled_policies(state: _State) -> None:
    """On the very first start (no policy stored yet), apply the bundled policy packs."""
    from .governance.service import PolicyService

    def load() -> list[str]:
        with state.database.unit_of_work() as session:
            applied = PolicyService(session, state.context()).load_bundled_if_empty()
            return [f"{a.name} v{a.version}" for a in applied]

    loaded = _fail_cleanly(load)
    if loaded:
        click.echo(f"  Loaded the bundled policy packs: {', '.join(loaded)}.")


@main.group()
def policies() -> None:
    """Compliance policies (policy-as-code YAML)."""


@policies.command("apply")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_state
def policies_apply(state: _State, directory: Path) -> None:
    """Apply every *.yaml file of DIRECTORY: a new or changed policy becomes a new version."""
    from .governance.policies import read_directory
    from .governance.service import PolicyService

    files = read_directory(directory)
    if not files:
        raise click.ClickException(f"No *.yaml or *.yml files in {directory}.")
    _existing_store(state)

    def apply() -> list[str]:
        with state.database.unit_of_work() as session:
            applied = PolicyService(session, state.context()).apply(files)
            return [f"{a.status:<9} {a.name} v{a.version} ({a.filename})" for a in applied]

    try:
        lines = apply()
    except AssayError as exc:
        for error in exc.details.get("errors", []):
            where = error["file"] + (f", rule {error['rule']}" if error.get("rule") else "")
            for message in error["messages"]:
                click.echo(f"{where}, field {error['field']}: {message}", err=True)
        raise click.ClickException(exc.message) from None
    for line in lines:
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
