"""The prediction store interface: what the API, monitoring and the pages read and write
predictions through (``ingest/store.py``)."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

import assay_server
from assay_server.ingest.store import PredictionStore, SqlPredictionStore, prediction_store
from tests.ingest.conftest import PREDICTIONS, columns, post

SERVER = Path(assay_server.__file__).parent
#: What other packages may import from ingest besides the store: the batch records' figures,
#: label counts and pending labels (state that stays in the application's database whatever
#: stores the predictions), the roll-up job, the blueprint, and the table classes for alembic.
BESIDE_THE_STORE = {
    "store",
    "figures",
    "label_counts",
    "pending",
    "rollup",
    "routes",
    "models",
    "shadow",  # served and shadow counts, from the batch records
}
#: Modules not moved to the store yet (none).
NOT_YET: set[str] = set()


def _ingest_imports(path: Path) -> set[str]:
    """The ``ingest`` modules a source file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if "ingest" in parts:
                rest = parts[parts.index("ingest") + 1 :]
                found |= {rest[0]} if rest else {alias.name for alias in node.names}
    return found


def test_packages_outside_ingest_reach_predictions_through_the_store_only():
    offenders = {}
    for path in SERVER.rglob("*.py"):
        relative = path.relative_to(SERVER).as_posix()
        if relative.startswith("ingest/") or relative in NOT_YET:
            continue
        beyond = _ingest_imports(path) - BESIDE_THE_STORE
        if beyond:
            offenders[relative] = sorted(beyond)
    assert offenders == {}


def test_the_api_writes_predictions_and_labels_through_the_store(
    client, contributor_headers, churn_v1, monkeypatch
):
    calls: list[str] = []
    write, add = SqlPredictionStore.write_batch, SqlPredictionStore.add_labels

    def spy_write(self, *args, **kwargs):
        calls.append("write_batch")
        return write(self, *args, **kwargs)

    def spy_add(self, *args, **kwargs):
        calls.append("add_labels")
        return add(self, *args, **kwargs)

    monkeypatch.setattr(SqlPredictionStore, "write_batch", spy_write)
    monkeypatch.setattr(SqlPredictionStore, "add_labels", spy_add)
    assert post(client, contributor_headers, columns(3)).json["accepted"] == 3
    labels = {"labels": [{"prediction_id": "p0", "label": 1}]}
    response = client.post(
        PREDICTIONS.replace("/versions/1/predictions", "/labels"),
        json=labels,
        headers=contributor_headers,
    )
    assert response.json["updated"] == 1
    assert calls == ["write_batch", "add_labels"]


def test_the_store_reads_counts_and_streams_the_same_window(
    client, contributor_headers, churn_v1, db, settings
):
    post(client, contributor_headers, columns(30))
    post(client, contributor_headers, columns(20, start=30))
    with db.unit_of_work(write=False) as session:
        store: PredictionStore = prediction_store(session, settings)
        version_id = churn_v1["id"]
        start = datetime.fromtimestamp(1_795_000_010, timezone.utc)  # BASE_TS + 10 s
        end = datetime.fromtimestamp(1_795_000_040, timezone.utc)
        whole = store.read_window(version_id, start, end).frame
        parts = [
            part.frame for part in store.stream_window(version_id, start, end, batches_per_block=1)
        ]
        assert len(parts) == 2
        streamed = pd.concat(parts, ignore_index=True)
        assert list(streamed["prediction_id"]) == list(whole["prediction_id"])
        assert store.count(version_id, start, end) == len(whole) == 30
        assert store.count(version_id) == 50
        assert store.start_of_newest(version_id, end, 5) == datetime.fromtimestamp(
            1_795_000_035, timezone.utc
        )
        assert store.start_of_newest(version_id, end, 500) is None


def test_rows_refused_at_ingest_are_counted_over_a_window_of_arrival(
    client, contributor_headers, churn_v1, db, clock
):
    from assay_server.ingest.figures import rejected_rows

    body = columns(5)
    body["columns"]["features"]["age"][:2] = ["old", "older"]
    post(client, contributor_headers, body)
    clock.advance(hours=2)
    post(client, contributor_headers, columns(3, start=10, timestamp=[1.0, 2.0, 3.0]))
    end = clock() + timedelta(seconds=1)
    with db.unit_of_work(write=False) as session:
        everything = rejected_rows(session, churn_v1["id"], None, end)
        latest = rejected_rows(session, churn_v1["id"], end - timedelta(hours=1), end)
    assert (everything, latest) == (5, 3)  # the 1970 timestamps are refused too
