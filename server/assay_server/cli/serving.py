"""``assay-server run`` and ``assay-server scheduler``: serve the API and UI (with what the
very first start sets up), and run the scheduled jobs beside it."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..auth.service import TokenService
from ..db import Database
from ..settings import Settings
from .state import State, fail_cleanly, pass_state, upgrade_store


@click.command()
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
    state: State,
    host: str | None,
    port: int | None,
    no_scheduler: bool,
    workers: int,
    threads: int,
) -> None:
    """Migrate the store and serve the API and UI."""
    from ..app import create_app

    settings = state.settings
    host = host or settings.host
    port = settings.port if port is None else port
    upgrade_store(state)
    _print_first_admin_token(state)
    _load_bundled_policies(state)
    app = create_app(settings, database=state.database, wiring=state.wiring)
    click.echo(
        f"Assay {__version__} on http://{host}:{port}  (data: "
        f"{settings.data_dir.resolve()}, store: {_store_name(settings)})"
    )
    if not no_scheduler:
        _start_scheduler_child()
    if workers > 1:
        _import_numeric_libraries()
    # The master used the store above; a pooled connection left open would be shared by
    # every forked worker (SQLAlchemy's "Using Connection Pools with Multiprocessing").
    state.database.dispose()
    _serve(app, host, port, workers, threads, state.database)


def _print_first_admin_token(state: State) -> None:
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


def _load_bundled_policies(state: State) -> None:
    """On the very first start (no policy stored yet), apply the bundled policy packs."""
    from ..governance.service import PolicyService

    def load() -> list[str]:
        with state.database.unit_of_work() as session:
            applied = PolicyService(session, state.context()).load_bundled_if_empty()
            return [f"{a.name} v{a.version}" for a in applied]

    loaded = fail_cleanly(load)
    if loaded:
        click.echo(f"  Loaded the bundled policy packs: {', '.join(loaded)}.")


def _import_numeric_libraries() -> None:
    """Import pandas and scipy in the master, before it forks, so that several workers share
    them. The server and its CLI import them only where a check runs, and start in half the
    time; without this, each worker would import them on its first check (1.6 s and 70 MB of
    memory of its own, measured)."""
    import importlib

    for name in ("pandas", "scipy.optimize", "scipy.spatial", "scipy.stats"):
        importlib.import_module(name)


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


@click.command()
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Exit when this process is gone (used by 'assay-server run').",
)
@pass_state
def scheduler(state: State, parent_pid: int | None) -> None:
    """Run scheduled monitor runs (several may run against PostgreSQL; each slot runs once)."""
    import os
    import signal
    import threading

    from ..scheduler import run_scheduler

    upgrade_store(state)
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
