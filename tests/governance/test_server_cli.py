"""``assay-server policies apply DIR``, and the bundled packs loaded on the first start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assay_server import cli

from .test_policies import EVERY_FIELD_WRONG, GOOD

pytestmark = pytest.mark.commits  # the CLI opens the store on connections of its own


@pytest.fixture
def run_cli(settings: Any, db: Any) -> Any:
    env = {"ASSAY_DATA_DIR": str(settings.data_dir), "ASSAY_DATABASE_URL": settings.database_url}

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli.main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_policies_apply_stores_each_file_and_reports_what_it_did(
    run_cli: Any, tmp_path: Path, client: Any, admin_headers: dict[str, str]
) -> None:
    (tmp_path / "floor.yaml").write_text(GOOD)
    first = run_cli("policies", "apply", str(tmp_path))
    assert first.exit_code == 0, first.output
    assert "created   floor v1 (floor.yaml)" in first.output
    assert "unchanged floor v1" in run_cli("policies", "apply", str(tmp_path)).output
    listing = client.get("/api/v1/policies", headers=admin_headers).json
    assert [p["name"] for p in listing] == ["floor"]


def test_policies_apply_lists_every_error_and_stores_nothing(
    run_cli: Any, tmp_path: Path, client: Any, admin_headers: dict[str, str]
) -> None:
    (tmp_path / "bad.yaml").write_text(EVERY_FIELD_WRONG)
    (tmp_path / "floor.yaml").write_text(GOOD)
    result = run_cli("policies", "apply", str(tmp_path))
    assert result.exit_code == 1
    assert "bad.yaml, rule stay, field min_days:" in result.output
    assert "bad.yaml, field name:" in result.output
    assert client.get("/api/v1/policies", headers=admin_headers).json == []


def test_an_empty_directory_is_refused(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("policies", "apply", str(tmp_path))
    assert result.exit_code == 1 and "No *.yaml" in result.output


def test_the_first_start_loads_the_bundled_packs_once(
    run_cli: Any, monkeypatch: Any, client: Any, admin_headers: dict[str, str]
) -> None:
    monkeypatch.setattr(cli.serving, "_serve", lambda *args: None)
    first = run_cli("run", "--no-scheduler")
    assert first.exit_code == 0, first.output
    assert "Loaded the bundled policy packs: baseline v1, high-risk v1" in first.output
    assert "Loaded the bundled" not in run_cli("run", "--no-scheduler").output
    names = [p["name"] for p in client.get("/api/v1/policies", headers=admin_headers).json]
    assert names == ["baseline", "high-risk", "model-risk-sr11-7"]


def test_the_migration_starts_the_history_of_versions_already_in_a_stage(tmp_path: Path) -> None:
    from sqlalchemy import text

    from assay_server.db import Database
    from assay_server.migrate import upgrade
    from assay_server.settings import Settings

    database = Database.from_settings(Settings(data_dir=tmp_path))
    upgrade(database.engine, "0001")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (id, name, task, risk_tier, description, tags, latest_version,"
                " created_at, created_by, updated_at) VALUES (1, 'churn', 'regression', 'low', '',"
                " '[]', 2, '2026-01-01 00:00:00', 'ds', '2026-01-01 00:00:00')"
            )
        )
        for number, stage in ((1, "production"), (2, "none")):
            connection.execute(
                text(
                    "INSERT INTO model_versions (model_id, version, stage, description, tags,"
                    " model_card, feature_schema, lineage, created_at, created_by,"
                    " stage_changed_at) VALUES (1, :n, :stage, '', '[]', '{}', '{}', '{}',"
                    " '2026-01-01 00:00:00', 'ds', '2026-02-01 00:00:00')"
                ),
                {"n": number, "stage": stage},
            )
    upgrade(database.engine, "0003")
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT version_id, stage, left_at FROM stage_history"))
        assert [tuple(r) for r in rows] == [(1, "production", None)]
    database.dispose()


def test_run_starts_the_scheduler_as_a_child_that_follows_the_server(
    run_cli: Any, monkeypatch: Any
) -> None:
    import os
    import subprocess

    started: list[list[str]] = []

    class FakeChild:
        def __init__(self, command: list[str]) -> None:
            started.append(command)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(cli.serving, "_serve", lambda *args: None)
    monkeypatch.setattr(subprocess, "Popen", FakeChild)
    assert run_cli("run").exit_code == 0
    [command] = started
    assert command[1:] == ["-m", "assay_server.cli", "scheduler", "--parent-pid", str(os.getpid())]
    started.clear()
    assert run_cli("run", "--no-scheduler").exit_code == 0
    assert started == []
