"""Relative path settings are made absolute once, from the working directory they were read
in: downloads work with the default ``./.assay``, whatever directory the code resolves from."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from assay_server.app import create_app
from assay_server.db import Database
from assay_server.settings import Settings
from tests.api.factories import (
    create_model,
    parquet_bytes,
    reference_frame,
    register_version,
    skops_artifact,
)
from tests.faults.conftest import migrate_with_admin_token


def test_every_path_setting_is_absolute_from_the_directory_it_was_read_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {"ASSAY_DATABASE_URL": "sqlite:///stores/assay.db", "ASSAY_AUDIT_SIGNING_KEY_FILE": "k.pem"}
    )
    assert settings.data_dir == tmp_path / ".assay"
    assert settings.database_url == f"sqlite:///{tmp_path / 'stores' / 'assay.db'}"
    assert settings.audit_signing_key_path == tmp_path / "k.pem"
    assert Settings.from_env({}).database_url == f"sqlite:///{tmp_path / '.assay' / 'assay.db'}"


def test_downloads_work_with_the_default_relative_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})  # ASSAY_DATA_DIR unset: ./.assay
    settings.data_dir.mkdir()
    token = migrate_with_admin_token(settings.database_url, settings.data_dir)
    database = Database.from_settings(settings)
    try:
        application = create_app(settings, database=database)
        monkeypatch.chdir(Path(os.sep))  # the code must not depend on the working directory
        client = application.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        create_model(client, headers, "churn")
        reference = parquet_bytes(reference_frame(30))
        artifact = skops_artifact()
        response = register_version(
            client,
            headers,
            metadata={"target": "churned"},
            artifact=(artifact, "model.skops"),
            reference=(reference, "reference.parquet"),
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        for kind, sent in (("artifact", artifact), ("reference", reference)):
            download = client.get(f"/api/v1/models/churn/versions/1/{kind}", headers=headers)
            assert download.status_code == 200, (kind, download.get_data(as_text=True))
            assert hashlib.sha256(download.data).digest() == hashlib.sha256(sent).digest()
    finally:
        database.dispose()
    assert (tmp_path / ".assay" / "assay.db").exists()
