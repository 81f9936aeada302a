"""Migrations: upgrade from empty, nothing left for autogenerate, down and up again."""

from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from assay_server.db import Base, Database
from assay_server.migrate import pending_migrations, upgrade
from assay_server.settings import Settings
from tests.conftest import POSTGRES_URL_VAR, create_postgres_database


def test_the_models_and_the_migrations_agree(migrated_database):
    with migrated_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert pending_migrations(connection) == []


def test_an_empty_database_upgrades_to_head_and_seeds_the_chain_head(tmp_path, is_postgres):
    drop = None
    if is_postgres:
        url, drop = create_postgres_database(os.environ[POSTGRES_URL_VAR])
        settings = Settings(data_dir=tmp_path, database_url=url)
    else:
        settings = Settings(data_dir=tmp_path)
    database = Database.from_settings(settings)
    try:
        with database.engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
            assert pending_migrations(connection) != []
        upgrade(database.engine)
        with database.engine.connect() as connection:
            assert pending_migrations(connection) == []
            tables = set(inspect(connection).get_table_names())
            head = connection.execute(text("SELECT seq, hash FROM audit_chain_head")).all()
        assert {"models", "model_versions", "tokens", "audit_events"} <= tables
        assert [tuple(row) for row in head] == [(0, "0" * 64)]
    finally:
        database.dispose()
        if drop:
            drop()


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    database = Database.from_settings(Settings(data_dir=tmp_path))
    upgrade(database.engine)
    from alembic import command

    from assay_server.migrate import alembic_config

    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    with database.engine.connect() as connection:
        assert "models" not in inspect(connection).get_table_names()
    upgrade(database.engine)
    with database.engine.connect() as connection:
        assert pending_migrations(connection) == []
    database.dispose()


def test_ready_says_unavailable_until_the_store_is_migrated(tmp_path):
    from assay_server.app import create_app

    settings = Settings(data_dir=tmp_path, secret_key="x")
    app = create_app(settings)
    response = app.test_client().get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "unavailable"
    upgrade(app.extensions["assay_db"].engine)
    assert app.test_client().get("/api/v1/ready").status_code == 200
