"""A pickle is loaded in a jailed worker: a hostile one finds no secret in its environment,
cannot read the store, cannot raise its limits, and nothing it leaves behind survives into the
next request, which gets a fresh worker."""

from __future__ import annotations

import json
import operator
import os
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from assay_server.explain import jail
from assay_server.explain.workers import PoolLimits, WorkerPool, protected_paths
from tests.api.factories import API
from tests.explain import estimators as est
from tests.explain.conftest import explain, pickle_bytes, register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store

SECRET = "pa55-SECRET-of-the-server"
ALLOWED_ENVIRONMENT = {*jail.PASSED_VARIABLES, *jail.THREAD_VARIABLES, "TMPDIR", "HOME"}
ZERO_ROW = [{name: 0.0 for name in est.NUMERIC}]


class LeakyPayload:
    """Unpickling this raises a KeyError whose message holds a secret."""

    def __reduce__(self) -> Any:
        return (operator.getitem, ({}, f"the server's secret is {SECRET}"))


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _ended(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _alive(pid)


@pytest.fixture
def secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a server's environment holds: the SMTP password, the database URL."""
    monkeypatch.setenv("ASSAY_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("ASSAY_DATABASE_URL", f"postgresql+psycopg://assay:{SECRET}@db/assay")


@pytest.fixture
def own_pool(secrets_in_the_environment: None) -> Iterator[WorkerPool]:
    """A pool started once the environment holds the secrets (its workers could inherit them)."""
    pool = WorkerPool(PoolLimits(size=1))
    yield pool
    pool.shutdown()


def _register_pickle(client: Any, contributor: dict[str, str], admin: dict[str, str], model: Any):
    frame = est.signal_frame()
    artifact = (pickle.dumps(model, protocol=4), "model.pkl")
    register(
        client,
        contributor,
        "jailed",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=artifact,
    )
    opted = client.post(
        f"{API}/models/jailed/versions/1/pickle-opt-in", json={"allow": True}, headers=admin
    )
    assert opted.status_code == 200


def _report(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.json["result"]["explanations"][0]["prediction"]["label"])


def test_a_hostile_pickle_finds_no_secret_nor_store_cannot_raise_its_limits_and_leaves_nothing(
    make_app, own_pool, settings, contributor_headers, admin_headers
):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        store = make_url(settings.database_url).database
    else:  # the store is a server away: a file of the data directory stands for it
        store = str(settings.data_dir / "stand-in.db")
        Path(store).write_bytes(b"SQLite format 3\0")
    client = make_app(pool=own_pool, allow_pickle=True).test_client()
    hostile = est.HostilePayload(str(settings.data_dir), store, SECRET)
    _register_pickle(client, contributor_headers, admin_headers, hostile)
    shared = own_pool.pids()

    first = _report(explain(client, contributor_headers, "jailed", ZERO_ROW, num_samples=100))

    # scikit-learn sets KMP_* for its OpenMP runtime in the worker itself, when imported
    inherited = {name for name in first["environment"] if not name.startswith("KMP_")}
    assert inherited <= ALLOWED_ENVIRONMENT, first["environment"]
    assert not first["secret_seen"]
    assert first["read_store"] == first["list_data_dir"] == "PermissionError"
    assert first["write_data_dir"] == "PermissionError"
    assert not (settings.data_dir / "planted").exists()
    for name, (soft, hard) in first["limits"].items():
        assert soft == hard != -1, name  # hard limits, none of them unlimited (-1)
        assert first["raise_limits"][name] == "ValueError", name
    assert first["cwd"] == first["tmp"] and first["write_marker"] == "done"
    assert first["pid"] not in shared and own_pool.pids() == shared
    assert first["name"] == "assay-jailed"  # what top shows
    # after the answer, the worker is gone with whatever it started and its directory
    assert _ended(first["pid"])
    if isinstance(first["fork"], int):  # the kernel lets root fork despite RLIMIT_NPROC
        assert _ended(first["fork"])
    else:
        assert first["fork"] == "BlockingIOError"
    assert first["thread"] in ("done", "RuntimeError")
    assert not os.path.exists(first["marker"]) and not os.path.exists(first["cwd"])

    second = _report(
        explain(client, contributor_headers, "jailed", ZERO_ROW, num_samples=100, seed=1)
    )
    assert second["pid"] != first["pid"]
    assert not second["leftover_thread"] and not second["leftover_module_state"]
    assert second["cwd"] != first["cwd"]


def test_a_jailed_pickle_past_its_cpu_seconds_is_killed(
    make_app, explain_pool, contributor_headers, admin_headers
):
    client = make_app(allow_pickle=True, explain_cpu_seconds=1.0).test_client()
    frame = est.signal_frame()
    busy = est.BusyClassifier().fit(frame[est.NUMERIC], frame["label"])
    register(
        client,
        contributor_headers,
        "busy-pickle",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=(pickle_bytes(busy), "model.joblib"),
    )
    client.post(
        f"{API}/models/busy-pickle/versions/1/pickle-opt-in",
        json={"allow": True},
        headers=admin_headers,
    )
    response = explain(client, contributor_headers, "busy-pickle", ZERO_ROW)
    assert response.status_code == 502
    assert "CPU-seconds" in response.json["error"]["message"]


def test_a_model_s_error_message_is_not_returned(make_app, contributor_headers, admin_headers):
    client = make_app(allow_pickle=True).test_client()
    _register_pickle(client, contributor_headers, admin_headers, LeakyPayload())
    response = explain(client, contributor_headers, "jailed", ZERO_ROW)
    assert response.status_code == 502
    error = response.json["error"]
    assert error["message"] == "The model raised KeyError while it was loaded or explained."
    assert error["details"]["exception"] == "KeyError"
    assert SECRET not in response.get_data(as_text=True)


def test_the_import_path_is_readable_in_the_jail_unless_it_holds_the_data_directory(
    tmp_path, monkeypatch
):
    application = tmp_path / "app"
    libraries = tmp_path / "libraries"
    (application / ".assay").mkdir(parents=True)
    libraries.mkdir()
    monkeypatch.setattr(sys, "path", [str(application), str(libraries), ""])
    readable = jail._readable_paths([str(application / ".assay")])
    assert str(libraries) in readable
    assert str(application) not in readable  # it holds the data directory
    assert not any(path.startswith(str(application)) for path in readable)


def test_the_data_directory_and_the_sqlite_store_are_protected(settings):
    sqlite = settings.with_overrides(database_url="sqlite:////var/lib/assay/db/assay.db")
    assert protected_paths(sqlite) == (os.path.abspath(settings.data_dir), "/var/lib/assay/db")


def test_a_worker_environment_is_an_allow_list():
    environment = jail.worker_environment(
        {"PATH": "/usr/bin", "LANG": "C.UTF-8", "ASSAY_SMTP_PASSWORD": SECRET, "PGPASSWORD": "x"},
        "/tmp/assay-explain-x",
    )
    assert environment["PATH"] == "/usr/bin" and environment["TMPDIR"] == "/tmp/assay-explain-x"
    assert set(environment) <= ALLOWED_ENVIRONMENT
    assert SECRET not in environment.values()
