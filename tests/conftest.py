"""Shared fixtures: a migrated store (SQLite, or PostgreSQL when ASSAY_TEST_DATABASE_URL
names one), an app and its test client, tokens per role, and a live server on loopback.

As warehouse's suite does: the store is migrated once per session and one app is built once;
each test runs inside a transaction on one connection that is rolled back at its end (every
unit of work the code under test commits is a savepoint inside it), and the app is pointed at
that test's store, settings and clock. A test whose store other threads or processes must
see — a live server, background jobs, concurrent writers, a CLI or scheduler process — is
marked ``commits`` (or asks for ``live_server``): it gets the shared store, which really
commits and is emptied after it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import make_server

from assay.auditchain import GENESIS_HASH
from assay_server.app import create_app
from assay_server.audit.models import AuditChainHead
from assay_server.auth.service import TokenService
from assay_server.context import ServiceContext
from assay_server.db import Base, Database
from assay_server.explain import routes as explain_routes
from assay_server.migrate import upgrade
from assay_server.models import import_all_models
from assay_server.monitoring.html import BUILD_PAGES_IN_BACKGROUND
from assay_server.roles import Actor, Role
from assay_server.settings import Settings
from assay_server.wiring import wire

POSTGRES_URL_VAR = "ASSAY_TEST_DATABASE_URL"
#: Debian's Chromium, which the browser tests drive through Playwright (no browser download).
CHROMIUM = Path("/usr/bin/chromium")
#: Set to 1 (``.ci/run`` does) to make a missing Chromium fail the browser tests, not skip them.
REQUIRE_BROWSER_VAR = "ASSAY_REQUIRE_BROWSER"


class FakeClock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        with self._lock:
            self.now += timedelta(**delta)


def create_postgres_database(base_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(base_url)
    name = f"assay_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make empty databases of this test's own (PostgreSQL when the suite runs on it), each
    dropped after the test: ``new_database("source")`` returns its URL."""
    base = os.environ.get(POSTGRES_URL_VAR)
    drops: list[Callable[[], None]] = []

    def make(name: str) -> str:
        if not base:
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        url, drop = create_postgres_database(base)
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        drop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session: PostgreSQL if configured, else SQLite."""
    base = os.environ.get(POSTGRES_URL_VAR)
    if base:
        url, drop = create_postgres_database(base)
        yield url
        drop()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'assay.db'}"


@pytest.fixture(scope="session")
def session_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings shared by the session's store and live server."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        webhook_allow_private=True,  # the receivers of the notification tests are on loopback
    )


@pytest.fixture(scope="session")
def migrated_database(session_settings: Settings) -> Iterator[Database]:
    """The session's store, migrated from empty to head."""
    import_all_models()
    database = Database.from_settings(session_settings)
    upgrade(database.engine)
    yield database
    database.dispose()


def _empty(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "audit_chain_head"]
    # DELETE, children first: 3 ms on PostgreSQL where TRUNCATE of the same tables took 56 ms
    # (ids do not restart: no test may count on them, as rolled-back tests never restart them)
    with database.engine.begin() as connection:
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
        connection.execute(AuditChainHead.__table__.update().values(seq=0, hash=GENESIS_HASH))


def _commits(request: pytest.FixtureRequest) -> bool:
    """Whether the test's store must really commit: others (threads, processes) read it."""
    return "live_server" in request.fixturenames or bool(request.node.get_closest_marker("commits"))


def _rolled_back(database: Database, connection: Connection) -> Database:
    """``database`` whose every session works on ``connection``, in a savepoint of the
    transaction the test rolls back (SQLAlchemy's "joining a session into an external
    transaction")."""
    sessions = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return Database(engine=database.engine, read_sessions=sessions, write_sessions=sessions)


@pytest.fixture
def db(request: pytest.FixtureRequest, migrated_database: Database) -> Iterator[Database]:
    """The store for one test: rolled back at its end, or (``commits``) emptied after it."""
    if _commits(request):
        try:
            yield migrated_database
        finally:
            _empty(migrated_database)
        return
    connection = migrated_database.engine.connect()
    outer = connection.begin()
    try:
        yield _rolled_back(migrated_database, connection)
    finally:
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    """True when the suite runs against PostgreSQL."""
    return database_url.startswith("postgresql")


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock."""
    return FakeClock()


@pytest.fixture
def settings(session_settings: Settings, tmp_path: Path) -> Settings:
    """Per-test settings: the session's store, a fresh data directory."""
    return session_settings.with_overrides(data_dir=tmp_path / "data", secret_key="test-secret")


@pytest.fixture(scope="session")
def session_app(session_settings: Settings, migrated_database: Database) -> Any:
    """The one app of the session (building one costs about 160 ms: the OpenAPI document)."""
    application = create_app(
        session_settings.with_overrides(secret_key="test-secret"), database=migrated_database
    )
    application.config["TESTING"] = True
    return application


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    session_app: Any,
    settings: Settings,
    db: Database,
    clock: FakeClock,
) -> Iterator[Any]:
    """The session's app on this test's store, settings (data directory) and clock. On a
    rolled-back store no request starts a thread on it (a page build): the thread would
    share the test's one connection."""
    extensions = session_app.extensions
    saved = {key: extensions[key] for key in ("assay_db", "assay_settings", "assay_clock")}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    extensions.update(assay_db=db, assay_settings=settings, assay_clock=clock)
    session_app.config[BUILD_PAGES_IN_BACKGROUND] = _commits(request)
    try:
        yield session_app
    finally:
        explain_routes.shutdown(session_app)  # jobs and workers this test started, if any
        extensions.update(saved)


@pytest.fixture
def own_app(settings: Settings, db: Database, clock: FakeClock) -> Any:
    """An app of this test's own, for a test that adds routes to it."""
    application = create_app(settings, database=db, clock=clock)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def cli_context(settings: Settings, clock: FakeClock) -> ServiceContext:
    """A service context acting as the server's operator."""
    return wire().context(Actor.cli("cli:test"), settings, clock=clock)


def _issue(
    database: Database,
    ctx: ServiceContext,
    role: str,
    name: str | None,
    expires_days: float | None = None,
) -> str:
    with database.unit_of_work() as session:
        return (
            TokenService(session, ctx)
            .create(name or f"{role}-token", role, expires_days=expires_days)
            .secret
        )


@pytest.fixture
def token_for(db: Database, cli_context: ServiceContext) -> Callable[..., str]:
    """Make a token: ``token_for("viewer")`` or ``token_for("admin", name="alice")``."""

    def make(role: str, name: str | None = None, expires_days: float | None = None) -> str:
        return _issue(db, cli_context, role, name, expires_days)

    return make


@pytest.fixture
def headers_for(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Authorization headers for a new token of ``role``."""

    def make(role: str, name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(role, name)}"}

    return make


@pytest.fixture
def admin_headers(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of an admin token."""
    return headers_for(Role.ADMIN.value, "root")


@pytest.fixture
def contributor_headers(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a contributor token."""
    return headers_for(Role.CONTRIBUTOR.value, "data-scientist")


@dataclass(frozen=True)
class LiveServer:
    """A real Assay server on a loopback port."""

    url: str
    settings: Settings


@pytest.fixture(scope="session")
def live_server(migrated_database: Database, session_settings: Settings) -> Iterator[LiveServer]:
    """The server, over real HTTP on a free loopback port, in a background thread."""
    application = create_app(session_settings, database=migrated_database)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="assay-live-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", settings=session_settings)
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def token_factory(db: Database, session_settings: Settings) -> Callable[..., str]:
    """Make a token on the live server's store: ``token_factory("viewer")``."""
    ctx = wire().context(Actor.cli("cli:test"), session_settings)

    def make(role: str, name: str | None = None, expires_days: float | None = None) -> str:
        return _issue(db, ctx, role, name, expires_days)

    return make


@pytest.fixture
def admin_token(token_factory: Callable[..., str]) -> str:
    """An admin token for the live server."""
    return token_factory("admin", "live-admin")


def missing_browser(chromium: Path, environ: Mapping[str, str]) -> tuple[str, bool] | None:
    """Why the browser tests cannot run here, and whether that fails them (``True``, when
    ``ASSAY_REQUIRE_BROWSER=1``) or skips them; None when Chromium is there."""
    if chromium.exists():
        return None
    required = environ.get(REQUIRE_BROWSER_VAR, "") == "1"
    reason = (
        f"{chromium} is missing: the browser tests need Debian's chromium "
        "(apt-get install chromium)"
    )
    if required:
        reason += f"; {REQUIRE_BROWSER_VAR}=1 requires it"
    return reason, required


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium, one per worker for the whole session (each test opens its own
    context: a launch costs about 1 s of CPU, with Playwright's driver): skipped with the
    reason when it is missing, failed instead under ``ASSAY_REQUIRE_BROWSER=1``."""
    missing = missing_browser(CHROMIUM, os.environ)
    if missing is not None:
        reason, required = missing
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests first. In the PostgreSQL run, skip the modules marked
    ``store_independent`` (they touch no store: pure computation, the SDK offline, packaging)
    and the tests that drive Chromium (what they check is the pages' markup and scripts in a
    browser, the same whatever the store; the views behind them are tested over HTTP on
    both databases): the SQLite run already says all they can."""
    # The longest tests first, so that pytest-xdist's workers finish together rather than one
    # of them starting a 20-second test when the others are done (the sort is stable).
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not os.environ.get(POSTGRES_URL_VAR):
        return
    independent = pytest.mark.skip(reason="touches no store: the SQLite run of the suite runs it")
    in_browser = pytest.mark.skip(
        reason="drives the pages in Chromium, the same whatever the store: the SQLite run "
        "drives them, and their views are tested over HTTP on PostgreSQL too"
    )
    for item in items:
        if item.get_closest_marker("store_independent"):
            item.add_marker(independent)
        elif "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(in_browser)
