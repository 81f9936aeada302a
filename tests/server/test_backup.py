"""Backups and restores (``assay-server backup`` / ``restore``), on the suite's database kind.

A populated server — models, versions with artifacts and reference data, predictions, a
monitor run with its report page — is backed up while a thread keeps ingesting predictions
through the API, and restored into a fresh database and data directory: the restored store
holds exactly the rows the manifest's snapshot counted, every blob matches its digest, the
restored server starts and serves a download, and its audit trail still holds a checkpoint
saved before the backup. And the refusals: a target that is not empty, a damaged backup, a
restore that does not match its manifest (undone), a key that is not the backup's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner, Result
from sklearn.linear_model import LogisticRegression
from sqlalchemy import create_engine, inspect
from werkzeug.serving import make_server

import assay
from assay.auditchain import verify_export_lines
from assay.auditsigning import Checkpoint
from assay_server.app import create_app
from assay_server.audit.signing import signing_key
from assay_server.backup.files import row_counts
from assay_server.backup.manifest import BLOB_COLUMNS, code_heads, current_revision
from assay_server.cli import main
from assay_server.db import Base, Database
from assay_server.migrate import alembic_config, upgrade
from assay_server.models import import_all_models
from assay_server.settings import Settings
from tests.conftest import POSTGRES_URL_VAR
from tests.faults.conftest import ServerProcess, migrate_with_admin_token

FEATURES = {"age": "numerical", "income": "numerical"}
BLOB_STORES = ("artifacts", "reference", "profiles", "reports")

if os.environ.get(POSTGRES_URL_VAR) and shutil.which("pg_dump") is None:
    pytest.skip("PostgreSQL backups need pg_dump on PATH", allow_module_level=True)


def run_cli(database_url: str, data_dir: Path, *args: str, key_file: Path | None = None) -> Result:
    """``assay-server ARGS`` against the store at ``database_url`` and ``data_dir`` (and the
    audit signing key in ``key_file``, else in the data directory)."""
    env = {
        "ASSAY_DATABASE_URL": database_url,
        "ASSAY_DATA_DIR": str(data_dir),
        "ASSAY_AUDIT_SIGNING_KEY_FILE": str(key_file or ""),
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def tables_of(database_url: str) -> dict[str, int]:
    """Rows in every table of the store at ``database_url``."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return row_counts(connection)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Source:
    """A server on a loopback port (in this process) with a store of its own."""

    url: str
    token: str
    database_url: str
    data_dir: Path


@pytest.fixture
def source(new_database: Callable[[str], str], tmp_path: Path) -> Iterator[Source]:
    database_url = new_database("source")
    data_dir = tmp_path / "source"
    token = migrate_with_admin_token(database_url, data_dir)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    database = Database.from_settings(settings)
    server = make_server("127.0.0.1", 0, create_app(settings, database=database), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="backup-source", daemon=True)
    thread.start()
    try:
        yield Source(f"http://127.0.0.1:{server.server_port}", token, database_url, data_dir)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        database.dispose()


def reference(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.lognormal(10, 0.5, rows),
            "churned": rng.integers(0, 2, rows),
        }
    )


def prediction_batch(first: int, size: int, prefix: str) -> dict[str, Any]:
    """``size`` predictions of the last hour, ids ``prefix-first`` onwards."""
    rng = np.random.default_rng(first)
    now = time.time()
    return {
        "columns": {
            "prediction_id": [f"{prefix}-{i}" for i in range(first, first + size)],
            "timestamp": (now - rng.uniform(0, 3000, size)).tolist(),
            "features": {
                "age": rng.normal(55, 10, size).tolist(),
                "income": rng.lognormal(10, 0.5, size).tolist(),
            },
            "prediction": rng.integers(0, 2, size).tolist(),
            "score": rng.uniform(0, 1, size).tolist(),
        }
    }


def post_predictions(api: str, token: str, batch: dict[str, Any]) -> int:
    """POST one batch; return how many predictions the server acknowledged."""
    response = requests.post(
        f"{api}/models/churn/versions/1/predictions",
        json=batch,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["accepted"])


def populate(client: assay.Client, token: str) -> dict[str, bytes]:
    """Two models, three versions with artifacts and reference data, predictions, a monitor
    run and its report's page; return each version's artifact by ``model/version``."""
    artifacts: dict[str, bytes] = {}
    for model, versions in (("churn", 2), ("fraud", 1)):
        client.create_model(model, "binary_classification", owner="backups")
        for number in range(1, versions + 1):
            frame = reference(800, seed=number * 7 + len(model))
            estimator = LogisticRegression().fit(frame[["age", "income"]], frame["churned"])
            client.register_version(
                model,
                estimator,
                reference_data=frame,
                target="churned",
                features=FEATURES,
                lineage={"git_commit": f"c0ffee{number}"},
            )
            artifact = client.download_artifact(model, number)
            assert isinstance(artifact, bytes)
            artifacts[f"{model}/{number}"] = artifact
    assert post_predictions(client.base_url, token, prediction_batch(0, 600, "seed")) == 600
    monitor = client.create_monitor(
        "churn", checks=["drift", "data_quality"], version=1, schedule=None
    )
    assert client.run_monitor("churn", monitor.id).status == "succeeded"
    drift = next(r for r in client.list_reports("churn") if r.kind == "drift")
    assert "<!DOCTYPE html>" in client.report_html(drift.id)  # its page is stored as a blob
    return artifacts


class IngestLoad:
    """Serving traffic: a thread POSTing batches of predictions until stopped, counting what
    the server acknowledged."""

    def __init__(self, api: str, token: str, batch_size: int = 50) -> None:
        self.api, self.token, self.batch_size = api, token, batch_size
        self.acknowledged = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-load", daemon=True)

    def _run(self) -> None:
        sent = 0
        try:
            while not self._stop.is_set():
                batch = prediction_batch(sent, self.batch_size, "load")
                self.acknowledged += post_predictions(self.api, self.token, batch)
                sent += self.batch_size
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)

    def __enter__(self) -> IngestLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def restored_blobs(data_dir: Path) -> dict[str, set[str]]:
    """The blobs under a data directory, by store, each checked against its name."""
    found: dict[str, set[str]] = {}
    for store in BLOB_STORES:
        found[store] = set()
        for path in (data_dir / store).glob("*/*"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path
            found[store].add(path.name)
    return found


@pytest.mark.slow
def test_a_backup_under_ingest_restores_exactly_its_snapshot(
    source: Source, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    with assay.Client(source.url, source.token) as client:
        artifacts = populate(client, source.token)
        saved = client.checkpoint_audit()  # an auditor's checkpoint, kept out of reach
        public_key = client.audit_public_key()
        api = client.base_url

    backup_dir = tmp_path / "backups" / "nightly"
    with IngestLoad(api, source.token) as load:
        assert wait_until(lambda: load.acknowledged >= 200 or bool(load.errors))
        before = load.acknowledged
        backed_up = run_cli(
            source.database_url, source.data_dir, "backup", "--out", str(backup_dir)
        )
        during = load.acknowledged - before
    assert backed_up.exit_code == 0, backed_up.output
    assert not load.errors, load.errors
    assert during > 0, "no prediction arrived while the backup ran"
    assert "It holds the audit signing key" in backed_up.output

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    rows = manifest["database"]["rows"]
    # the snapshot holds every batch acknowledged before the backup began, and none that
    # was not stored by the time the load stopped
    assert 600 + before <= rows["predictions"] <= 600 + load.acknowledged
    assert rows["model_versions"] == 3 and rows["reports"] == 2
    assert manifest["audit"]["head"]["seq"] >= saved.seq
    assert oct((backup_dir / "audit_signing_key.pem").stat().st_mode & 0o777) == "0o600"
    backed_up_blobs = {k: {e["sha256"] for e in v} for k, v in manifest["blobs"].items()}
    assert all(backed_up_blobs[store] for store in BLOB_STORES), backed_up_blobs

    target_url = new_database("restored")
    target_dir = tmp_path / "restored"
    restored = run_cli(target_url, target_dir, "restore", str(backup_dir))
    assert restored.exit_code == 0, restored.output
    assert "holds the backup's checkpoint" in restored.output

    assert tables_of(target_url) == rows  # nothing half-written, nothing from after
    assert restored_blobs(target_dir) == backed_up_blobs

    server = ServerProcess(target_url, target_dir, tmp_path / "restored-server.log")
    server.start()
    try:
        with assay.Client(server.url, source.token) as client:
            for name, artifact in artifacts.items():
                model, number = name.split("/")
                assert client.download_artifact(model, int(number)) == artifact
            trail = tmp_path / "restored-trail.jsonl"
            client.export_audit(trail)
    finally:
        server.kill()
    with trail.open() as lines:
        since_saved = verify_export_lines(lines, public_keys=[public_key], since=saved)
    assert since_saved.ok, since_saved.message
    with trail.open() as lines:
        checkpoint = Checkpoint.from_json(manifest["audit"]["checkpoint"])
        since_backup = verify_export_lines(lines, public_keys=[public_key], since=checkpoint)
    assert since_backup.ok, since_backup.message


@pytest.fixture
def small_backup(new_database: Callable[[str], str], tmp_path: Path) -> Path:
    """A backup of a store holding one token and its audit event."""
    url, data_dir = new_database("small"), tmp_path / "small"
    migrate_with_admin_token(url, data_dir)
    result = run_cli(url, data_dir, "backup", "--out", str(tmp_path / "small-backup"))
    assert result.exit_code == 0, result.output
    return tmp_path / "small-backup"


@pytest.mark.parametrize("occupied", ["data directory", "database"])
def test_a_restore_into_a_target_that_is_not_empty_is_refused(
    small_backup: Path, new_database: Callable[[str], str], tmp_path: Path, occupied: str
) -> None:
    target_url, target_dir = new_database("target"), tmp_path / "target"
    target_dir.mkdir()
    if occupied == "data directory":
        (target_dir / "notes.txt").write_text("someone's files")
    else:
        engine = create_engine(target_url)
        upgrade(engine)
        engine.dispose()
    before = tables_of(target_url)

    result = run_cli(target_url, target_dir, "restore", str(small_backup))

    assert result.exit_code == 1
    assert "Restore refused" in result.output and occupied in result.output, result.output
    assert "nothing was changed" in result.output
    assert tables_of(target_url) == before
    expected = ["notes.txt"] if occupied == "data directory" else []
    assert sorted(p.name for p in target_dir.iterdir()) == expected


def test_a_backup_without_the_signing_key_restores_only_beside_that_key(
    new_database: Callable[[str], str], tmp_path: Path
) -> None:
    url, data_dir = new_database("keyed"), tmp_path / "keyed"
    migrate_with_admin_token(url, data_dir)
    backup_dir = tmp_path / "keyless"
    made = run_cli(url, data_dir, "backup", "--out", str(backup_dir), "--without-signing-key")
    assert made.exit_code == 0, made.output
    assert not (backup_dir / "audit_signing_key.pem").exists()
    target_url, target_dir = new_database("target"), tmp_path / "target"

    missing = run_cli(target_url, target_dir, "restore", str(backup_dir))
    assert missing.exit_code == 1 and "holds no audit signing key" in missing.output
    other_key = tmp_path / "other-key.pem"
    signing_key(Settings(audit_signing_key_file=other_key))  # creates another key
    wrong = run_cli(target_url, target_dir, "restore", str(backup_dir), key_file=other_key)
    assert wrong.exit_code == 1 and "the backup's checkpoint was signed with" in wrong.output

    target_dir.mkdir()
    shutil.copy(data_dir / "audit_signing_key.pem", target_dir / "audit_signing_key.pem")
    restored = run_cli(target_url, target_dir, "restore", str(backup_dir))
    assert restored.exit_code == 0, restored.output
    assert "holds the backup's checkpoint" in restored.output


def test_a_damaged_backup_is_refused_before_anything_is_written(
    small_backup: Path, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    dump = next(small_backup.glob("database.*"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    target_url, target_dir = new_database("target"), tmp_path / "target"

    result = run_cli(target_url, target_dir, "restore", str(small_backup))

    assert result.exit_code == 1
    assert "The backup is damaged" in result.output, result.output
    assert not target_dir.exists() and tables_of(target_url) == {}


def test_a_restore_that_does_not_match_its_manifest_is_undone(
    small_backup: Path, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    manifest = json.loads((small_backup / "manifest.json").read_text())
    manifest["database"]["rows"]["tokens"] += 1  # a row the dump does not hold
    (small_backup / "manifest.json").write_text(json.dumps(manifest))
    target_url, target_dir = new_database("target"), tmp_path / "target"

    result = run_cli(target_url, target_dir, "restore", str(small_backup))

    assert result.exit_code == 1
    assert "does not hold what was backed up" in result.output, result.output
    assert "tokens: 1 rows, 2 backed up" in result.output
    assert not target_dir.exists() and tables_of(target_url) == {}


def test_a_backup_never_overwrites_and_never_migrates(small_backup: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    data_dir = tmp_path / "behind"
    migrate_with_admin_token(url, data_dir)
    refused = run_cli(url, data_dir, "backup", "--out", str(small_backup))
    assert refused.exit_code == 1 and "not an empty directory" in refused.output

    _downgrade_one_revision(url)
    behind = run_cli(url, data_dir, "backup", "--out", str(tmp_path / "other"))
    assert behind.exit_code == 1, behind.output
    assert "Back it up with the release that serves it" in behind.output
    assert not (tmp_path / "other").exists()


def test_every_column_naming_a_blob_is_backed_up() -> None:
    """A new column holding a blob's digest must join BLOB_COLUMNS, or backups miss its files."""
    import_all_models()
    not_blobs = {"policy_versions.sha256"}  # the digest of YAML kept in the row itself
    digests = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("sha256")
    }
    backed_up = {f"{column.table.name}.{column.name}" for column in BLOB_COLUMNS.values()}
    assert digests - not_blobs == backed_up


def test_a_backup_of_an_older_revision_is_migrated_up_when_restored(tmp_path: Path) -> None:
    """(SQLite in both suites: what is tested is the restore's migration, not the store.)"""
    url, data_dir = f"sqlite:///{tmp_path / 'old.db'}", tmp_path / "old"
    migrate_with_admin_token(url, data_dir)
    backup_dir = tmp_path / "old-backup"
    assert run_cli(url, data_dir, "backup", "--out", str(backup_dir)).exit_code == 0
    # what the release before this one would have written: its store, one revision behind
    dump = backup_dir / "database.sqlite3"
    old = _downgrade_one_revision(f"sqlite:///{dump}")
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    manifest["database"].update(
        alembic_revision=old,
        rows=tables_of(f"sqlite:///{dump}"),
        sha256=hashlib.sha256(dump.read_bytes()).hexdigest(),
        size=dump.stat().st_size,
    )
    (backup_dir / "manifest.json").write_text(json.dumps(manifest))

    target = f"sqlite:///{tmp_path / 'new.db'}"
    result = run_cli(target, tmp_path / "new", "restore", str(backup_dir))

    assert result.exit_code == 0, result.output
    assert f"Migrated the store up from revision {old}" in result.output
    engine = create_engine(target)
    with engine.connect() as connection:
        assert current_revision(connection) in code_heads()
        assert row_counts(connection, ["tokens"]) == {"tokens": 1}
    engine.dispose()


def _downgrade_one_revision(url: str) -> str:
    """Move the store at ``url`` one migration back; return the revision it is now at."""
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "-1")
        with engine.connect() as connection:
            revision = current_revision(connection)
            assert (
                revision is not None and "alembic_version" in inspect(connection).get_table_names()
            )
            return revision
    finally:
        engine.dispose()
