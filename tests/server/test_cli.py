"""``assay-server``: tokens and migrations from the command line, with clear failures."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from assay_server.cli import main

pytestmark = pytest.mark.commits  # the CLI opens the store on connections of its own


@pytest.fixture
def run_cli(settings, db):
    env = {"ASSAY_DATA_DIR": str(settings.data_dir), "ASSAY_DATABASE_URL": settings.database_url}

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_tokens_create_prints_a_token_the_api_accepts(run_cli, client):
    result = run_cli("tokens", "create", "--role", "contributor", "--name", "training-job")
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert re.fullmatch(r"asy_[0-9A-Za-z]{43}", secret)
    whoami = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json
    assert (whoami["name"], whoami["role"]) == ("training-job", "contributor")


def test_tokens_revoke_by_name_then_the_token_is_refused(run_cli, client):
    secret = run_cli("tokens", "create", "--role", "viewer", "--name", "old").output.strip()
    result = run_cli("tokens", "revoke", "old")
    assert result.exit_code == 0 and "Revoked token" in result.output
    response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    listing = run_cli("tokens", "list").output
    assert "old" in listing and "revoked" in listing and secret not in listing


def test_cli_changes_are_audited_as_the_operator(run_cli, client, admin_headers):
    run_cli("tokens", "create", "--role", "viewer", "--name", "audited")
    events = client.get("/api/v1/audit?action=token.created", headers=admin_headers).json
    actors = {e["actor_name"] for e in events["items"]}
    assert any(actor.startswith("cli:") for actor in actors)


@pytest.mark.parametrize(
    "args, message",
    [
        (["tokens", "create", "--role", "root", "--name", "x"], "Invalid value for '--role'"),
        (["tokens", "create", "--role", "viewer"], "Missing option '--name'"),
        (["tokens", "create", "--role", "viewer", "--name", "bad\nname"], "Invalid value"),
        (
            ["tokens", "create", "--role", "viewer", "--name", "x", "--expires-days", "0"],
            "Invalid value for '--expires-days'",
        ),
        (["tokens", "revoke", "nobody"], "No active token named 'nobody'"),
        (["tokens", "revoke", "424242"], "No token with id 424242"),
        (["run", "--port", "99999"], "Invalid value for '--port'"),
    ],
)
def test_bad_arguments_fail_with_a_message_and_a_non_zero_exit(run_cli, args, message):
    result = run_cli(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_db_upgrade_is_idempotent(run_cli):
    for _ in range(2):
        result = run_cli("db", "upgrade")
        assert result.exit_code == 0 and "up to date" in result.output


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    env = {
        "ASSAY_DATA_DIR": str(tmp_path),
        "ASSAY_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("Error: OperationalError")
    assert "Traceback" not in result.output


def test_a_bad_setting_is_a_clear_error(tmp_path):
    env = {"ASSAY_DATA_DIR": str(tmp_path), "ASSAY_PORT": "eighty"}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert "ASSAY_PORT must be a whole number" in result.output


def test_tokens_create_where_no_store_is_refuses_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another directory than the server's: ./.assay is not there
    result = CliRunner().invoke(
        main,
        ["tokens", "create", "--role", "viewer", "--name", "me"],
        env={"ASSAY_DATA_DIR": None, "ASSAY_DATABASE_URL": None},
    )
    assert result.exit_code == 1
    assert f"No Assay store at {tmp_path / '.assay' / 'assay.db'}" in result.output
    assert "ASSAY_DATA_DIR" in result.output and "asy_" not in result.output
    assert not (tmp_path / ".assay" / "assay.db").exists()


def test_tokens_commands_refuse_an_unmigrated_store(tmp_path):
    import sqlite3

    store = tmp_path / "assay.db"
    sqlite3.connect(store).close()  # a file, but no Assay schema in it
    env = {"ASSAY_DATA_DIR": str(tmp_path), "ASSAY_DATABASE_URL": f"sqlite:///{store}"}
    for args in (["tokens", "list"], ["tokens", "create", "--role", "viewer", "--name", "me"]):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 1, result.output
        assert "is not migrated" in result.output and "assay-server db upgrade" in result.output
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert CliRunner().invoke(main, ["tokens", "list"], env=env).exit_code == 0
