"""Ground truth arriving later, and reading predictions back: pages, windows, exports."""

from __future__ import annotations

import io
import threading
from datetime import datetime, timezone

import pandas as pd
import pytest

from assay_server.ingest.service import ingest_batch
from assay_server.ingest.window import read_window, stream_window
from assay_server.registry.service import RegistryService
from assay_server.wiring import wire
from tests.api.factories import API, audit_events, create_model, declared_version
from tests.ingest.conftest import BASE_TS, PREDICTIONS, columns, post, row

LABELS = f"{API}/models/churn/labels"


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def test_labels_join_by_prediction_id_across_versions(client, contributor_headers, churn_v1):
    declared_version(client, contributor_headers)
    post(client, contributor_headers, {"rows": [row(1)]})
    client.post(
        f"{API}/models/churn/versions/2/predictions",
        json={"rows": [row(2)]},
        headers=contributor_headers,
    )
    response = client.post(
        LABELS,
        json={
            "labels": [
                {"prediction_id": "r1", "label": 1},
                {"prediction_id": "r2", "label": 0},
                {"prediction_id": "nobody", "label": 1},
            ]
        },
        headers=contributor_headers,
    )
    assert response.status_code == 200
    assert response.json == {
        "updated": 2,
        "unknown": 1,
        "rejected": 0,
        "unknown_ids": ["nobody"],
        "errors": [],
        "pending": 1,
        "pending_total": 1,
    }
    v1 = client.get(PREDICTIONS, headers=contributor_headers).json["items"]
    v2 = client.get(f"{API}/models/churn/versions/2/predictions", headers=contributor_headers).json[
        "items"
    ]
    assert (v1[0]["label"], v2[0]["label"]) == (1, 0)


def test_a_corrected_label_overwrites_the_old_one(client, contributor_headers, churn_v1):
    post(client, contributor_headers, {"rows": [row(1, label=0)]})
    client.post(
        LABELS, json={"labels": [{"prediction_id": "r1", "label": 1}]}, headers=contributor_headers
    )
    client.post(
        LABELS,
        json={"labels": [{"prediction_id": "r1", "label": 0}, {"prediction_id": "r1", "label": 1}]},
        headers=contributor_headers,
    )
    assert client.get(PREDICTIONS, headers=contributor_headers).json["items"][0]["label"] == 1


def test_a_label_of_the_wrong_kind_is_refused(client, contributor_headers, churn_v1):
    post(client, contributor_headers, {"rows": [row(1)]})
    response = client.post(
        LABELS,
        json={"labels": [{"prediction_id": "r1", "label": 0.5}]},
        headers=contributor_headers,
    )
    assert (response.json["updated"], response.json["rejected"]) == (0, 1)


def test_each_label_batch_is_audited(client, contributor_headers, churn_v1):
    post(client, contributor_headers, {"rows": [row(1)]})
    client.post(
        LABELS, json={"labels": [{"prediction_id": "r1", "label": 1}]}, headers=contributor_headers
    )
    events = audit_events(client, contributor_headers, "model", "churn")
    assert events[-1]["action"] == "labels.recorded"
    assert events[-1]["payload"] == {"updated": 1, "unknown": 0, "rejected": 0, "pending": 0}


def test_predictions_page_in_time_order_by_cursor(client, contributor_headers, churn_v1):
    post(client, contributor_headers, columns(30, start=0))
    post(client, contributor_headers, columns(30, start=30))
    seen: list[str] = []
    query = {"limit": 25, "since": _at(BASE_TS + 5), "until": _at(BASE_TS + 55)}
    while True:
        page = client.get(PREDICTIONS, headers=contributor_headers, query_string=query).json
        seen += [item["prediction_id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == [f"p{i}" for i in range(5, 55)]


def test_a_listed_prediction_reads_back_as_it_was_sent(client, contributor_headers, churn_v1):
    sent = row(7, probabilities={"0": 0.2, "1": 0.8}, sensitive={"sex": "F"}, label=1)
    post(client, contributor_headers, {"rows": [sent]})
    (item,) = client.get(PREDICTIONS, headers=contributor_headers).json["items"]
    assert item == {
        "prediction_id": "r7",
        "timestamp": "2026-11-18T11:06:47.000000Z",
        "features": {"age": 37.0, "plan": "pro"},
        "prediction": 1,
        "score": 0.8,
        "probabilities": {"0": 0.2, "1": 0.8},
        "sensitive": {"sex": "F"},
        "label": 1,
    }


def test_a_bad_cursor_is_refused(client, contributor_headers, churn_v1):
    response = client.get(
        PREDICTIONS, headers=contributor_headers, query_string={"cursor": "yesterday"}
    )
    assert response.status_code == 422


def test_a_window_reads_back_as_a_dataframe_with_labels(
    client, contributor_headers, churn_v1, db, cli_context
):
    post(client, contributor_headers, columns(100))
    post(
        client,
        contributor_headers,
        {"rows": [row(1000, sensitive={"sex": "F"}, timestamp=BASE_TS + 50.5)]},
    )
    client.post(
        LABELS, json={"labels": [{"prediction_id": "p10", "label": 1}]}, headers=contributor_headers
    )
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("churn", 1)
        window = read_window(
            session,
            version.id,
            datetime.fromtimestamp(BASE_TS + 10, tz=timezone.utc),
            datetime.fromtimestamp(BASE_TS + 60, tz=timezone.utc),
        )
    assert len(window) == 51
    assert list(window.features.columns) == ["age", "plan"]
    assert window.features["age"].iloc[0] == 30.0
    assert window.labels.notna().sum() == 1
    assert window.frame.set_index("prediction_id").loc["p10", "label"] == 1
    assert window.sensitive["sex"].notna().sum() == 1
    assert str(window.frame["timestamp"].dt.tz) == "UTC"


def test_the_export_streams_csv_and_parquet(client, contributor_headers, churn_v1):
    post(client, contributor_headers, columns(40))
    post(client, contributor_headers, {"rows": [row(1, probabilities={"1": 0.9, "0": 0.1})]})
    csv = client.get(
        f"{PREDICTIONS}/export", headers=contributor_headers, query_string={"format": "csv"}
    )
    assert csv.mimetype == "text/csv"
    frame = pd.read_csv(io.BytesIO(csv.get_data()))
    assert len(frame) == 41
    assert {
        "prediction_id",
        "timestamp",
        "feature.age",
        "feature.plan",
        "prediction",
        "label",
    } <= set(frame.columns)
    parquet = client.get(
        f"{PREDICTIONS}/export",
        headers=contributor_headers,
        query_string={"format": "parquet", "until": _at(BASE_TS + 10)},
    )
    table = pd.read_parquet(io.BytesIO(parquet.get_data()))
    assert sorted(table["prediction_id"]) == sorted([*(f"p{i}" for i in range(10)), "r1"])


def test_an_empty_export_is_still_a_readable_file(client, contributor_headers, churn_v1):
    parquet = client.get(
        f"{PREDICTIONS}/export", headers=contributor_headers, query_string={"format": "parquet"}
    )
    assert len(pd.read_parquet(io.BytesIO(parquet.get_data()))) == 0
    csv = client.get(f"{PREDICTIONS}/export", headers=contributor_headers)
    assert csv.status_code == 200 and csv.get_data() == b""


@pytest.mark.commits  # concurrent threads share the store
def test_two_concurrent_sends_of_one_batch_store_it_once(
    client, contributor_headers, churn_v1, db, settings
):
    from assay_server.roles import Actor, Role

    document = columns(500)
    results: list = []
    errors: list = []
    barrier = threading.Barrier(4)

    def send() -> None:
        ctx = wire().context(Actor("sender", Role.CONTRIBUTOR, None), settings)
        barrier.wait()
        try:
            with db.unit_of_work() as session:
                results.append(ingest_batch(db, session, ctx, "churn", 1, document))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.accepted for r in results) == [0, 0, 0, 500]
    assert sum(r.duplicates for r in results) == 1500
    listed = client.get(PREDICTIONS, headers=contributor_headers, query_string={"limit": 1000})
    assert len(listed.json["items"]) == 500


def test_a_partly_repeated_batch_adds_only_its_new_rows_to_a_window(
    client, contributor_headers, churn_v1, db, cli_context
):
    post(client, contributor_headers, columns(100))
    post(client, contributor_headers, columns(100, start=50))
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("churn", 1)
        window = read_window(session, version.id)
    assert len(window) == 150
    assert window.frame["prediction_id"].is_unique


def test_a_streamed_window_holds_the_same_rows_and_labels_as_the_whole_read(
    client, contributor_headers, churn_v1, db, cli_context
):
    for start in (0, 100, 200):
        post(client, contributor_headers, columns(100, start=start))
    post(client, contributor_headers, columns(100, start=150))  # half repeated
    client.post(
        LABELS,
        json={"labels": [{"prediction_id": f"p{i}", "label": i % 2} for i in range(0, 300, 7)]},
        headers=contributor_headers,
    )
    start = datetime.fromtimestamp(BASE_TS + 20, tz=timezone.utc)
    end = datetime.fromtimestamp(BASE_TS + 280, tz=timezone.utc)
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("churn", 1)
        whole = read_window(session, version.id, start, end).frame
        parts = list(stream_window(session, version.id, start, end, batches_per_block=2))
    assert len(parts) == 2
    streamed = pd.concat([part.frame for part in parts], ignore_index=True)
    key = ["prediction_id"]
    pd.testing.assert_frame_equal(
        streamed.sort_values(key).reset_index(drop=True),
        whole.sort_values(key).reset_index(drop=True),
        check_categorical=False,
    )
    assert streamed["label"].notna().sum() == len(range(21, 280, 7))


def test_a_window_carries_each_rows_label_whatever_its_json_type(
    client, contributor_headers, db, cli_context
):
    # a multiclass model with no reference dataset: any category is one of its classes
    create_model(client, contributor_headers, "kinds", task="multiclass_classification")
    declared_version(client, contributor_headers, "kinds")
    labels = [1, "churned", -3, True, None, "é", 'it\'s "quoted", [1]']
    rows = [row(i, label=label) for i, label in enumerate(labels)]
    stored = client.post(
        f"{API}/models/kinds/versions/1/predictions",
        json={"rows": rows},
        headers=contributor_headers,
    )
    assert stored.json["accepted"] == len(labels), stored.json
    corrected = {"labels": [{"prediction_id": "r0", "label": 7}]}
    response = client.post(
        f"{API}/models/kinds/labels", json=corrected, headers=contributor_headers
    )
    assert response.status_code == 200
    with db.unit_of_work(write=False) as session:
        version = RegistryService(session, cli_context).get_version("kinds", 1)
        window = read_window(session, version.id)
    by_id = dict(zip(window.frame["prediction_id"], window.labels, strict=True))
    expected = {f"r{i}": label for i, label in enumerate(labels)} | {"r0": 7}
    assert {k: v for k, v in by_id.items() if not pd.isna(v)} == {
        k: v for k, v in expected.items() if v is not None
    }
    assert pd.isna(by_id["r4"])
