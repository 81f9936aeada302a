"""Idempotency keys: a retried POST or PATCH is answered from the first response, never run
twice; a failed request gives its key back; keys are the caller's and last 24 hours."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text, update
from werkzeug.serving import make_server

from assay_server import idempotency, request_scope
from assay_server.app import create_app
from assay_server.idempotency import IdempotencyKey
from assay_server.wiring import wire
from tests.api.factories import (
    API,
    CHURN_FEATURES,
    audit_events,
    csv_bytes,
    declared_version,
    model_body,
    reference_frame,
    register_version,
    skops_artifact,
)

pytestmark = pytest.mark.commits  # concurrent requests and a live server share the store

MODELS = f"{API}/models"


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    """``headers`` with an Idempotency-Key."""
    return {**headers, "Idempotency-Key": key}


def model_count(client: Any, headers: dict[str, str]) -> int:
    response = client.get(MODELS, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["total"]


def stored_keys(db: Any) -> list[IdempotencyKey]:
    with db.unit_of_work(write=False) as session:
        return list(session.scalars(select(IdempotencyKey).order_by(IdempotencyKey.id)))


def error_of(response: Any) -> dict[str, Any]:
    assert "error" in response.json, response.get_data(as_text=True)
    return response.json["error"]


# a retry is answered from the first response --------------------------------------------------


def test_a_retried_create_replays_the_first_response_and_creates_one_model(
    client, contributor_headers
):
    headers = keyed(contributor_headers, uuid.uuid4().hex)

    first = client.post(MODELS, json=model_body("churn"), headers=headers)
    retry = client.post(MODELS, json=model_body("churn"), headers=headers)

    assert first.status_code == 201, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.get_data() == first.get_data()
    assert retry.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert model_count(client, contributor_headers) == 1


def test_the_audit_trail_holds_one_creation_event_for_a_retried_create(client, contributor_headers):
    headers = keyed(contributor_headers, "create-churn-once")
    for _ in range(3):
        assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201

    events = audit_events(client, contributor_headers, "model", "churn")
    assert [event["action"] for event in events] == ["model.created"]


def test_a_retried_patch_is_applied_once(client, contributor_headers, churn):
    headers = keyed(contributor_headers, "describe-churn")
    body = {"description": "retrained on October data"}

    first = client.patch(f"{MODELS}/churn", json=body, headers=headers)
    retry = client.patch(f"{MODELS}/churn", json=body, headers=headers)

    assert first.status_code == 200, first.get_data(as_text=True)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json == first.json
    actions = [e["action"] for e in audit_events(client, contributor_headers, "model", "churn")]
    assert actions == ["model.created", "model.updated"]


def test_an_upload_retried_with_a_new_multipart_boundary_is_replayed(
    client, contributor_headers, churn
):
    headers = keyed(contributor_headers, "register-v1")
    upload = {
        "metadata": {"features": CHURN_FEATURES, "target": "churned"},
        "artifact": (skops_artifact(), "model.skops"),
        "reference": (csv_bytes(reference_frame()), "reference.csv"),
    }

    first = register_version(client, headers, **upload)
    retry = register_version(client, headers, **upload)  # werkzeug draws a new boundary

    assert first.status_code == 201, first.get_data(as_text=True)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json == first.json
    assert client.get(f"{MODELS}/churn", headers=contributor_headers).json["latest_version"] == 1


# a key names one request ----------------------------------------------------------------------


def test_the_same_key_with_another_body_is_refused_with_422(client, contributor_headers):
    headers = keyed(contributor_headers, "one-key")
    assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201

    reused = client.post(MODELS, json=model_body("fraud"), headers=headers)

    assert reused.status_code == 422
    error = error_of(reused)
    assert error["code"] == "validation_error"
    assert "another body" in error["message"]
    assert set(error["details"]) == {"Idempotency-Key"}
    assert error["request_id"] == reused.headers["X-Request-Id"]
    assert model_count(client, contributor_headers) == 1


def test_the_same_key_on_another_path_is_refused_with_422(client, contributor_headers):
    headers = keyed(contributor_headers, "one-key")
    assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201

    reused = client.patch(f"{MODELS}/churn", json={"description": "x"}, headers=headers)

    assert reused.status_code == 422
    assert "POST /api/v1/models" in error_of(reused)["message"]
    assert client.get(f"{MODELS}/churn", headers=contributor_headers).json["description"] == ""


def test_a_changed_file_under_the_same_key_is_refused_with_422(client, contributor_headers, churn):
    headers = keyed(contributor_headers, "register-v1")
    metadata = {"features": CHURN_FEATURES, "target": "churned"}
    frame = reference_frame()
    first = register_version(
        client, headers, metadata=metadata, reference=(csv_bytes(frame), "r.csv")
    )
    changed = register_version(
        client, headers, metadata=metadata, reference=(csv_bytes(frame.head(10)), "r.csv")
    )

    assert first.status_code == 201, first.get_data(as_text=True)
    assert changed.status_code == 422
    assert error_of(changed)["details"] == {"Idempotency-Key": ["Used with another body."]}


def test_another_tokens_key_of_the_same_name_is_independent(client, headers_for):
    alice = keyed(headers_for("contributor", "alice"), "shared-key")
    bob = keyed(headers_for("contributor", "bob"), "shared-key")

    by_alice = client.post(MODELS, json=model_body("churn"), headers=alice)
    by_bob = client.post(MODELS, json=model_body("fraud"), headers=bob)

    assert by_alice.status_code == 201, by_alice.get_data(as_text=True)
    assert by_bob.status_code == 201, by_bob.get_data(as_text=True)
    assert "Idempotent-Replayed" not in by_bob.headers
    assert by_bob.json["name"] == "fraud"


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "caf\u00e9", "tab\there"],
    ids=["empty", "256-characters", "not-ascii", "control-character"],
)
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_422(
    client, contributor_headers, key
):
    response = client.post(
        MODELS, json=model_body("churn"), headers=keyed(contributor_headers, key)
    )

    assert response.status_code == 422
    assert set(error_of(response)["details"]) == {"Idempotency-Key"}
    assert model_count(client, contributor_headers) == 0


def test_a_key_of_255_printable_characters_is_accepted(client, contributor_headers):
    key = "~ !" + "k" * 252
    response = client.post(
        MODELS, json=model_body("churn"), headers=keyed(contributor_headers, key)
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_reads_and_unauthenticated_requests_ignore_the_key(client, contributor_headers):
    bad_key = keyed(contributor_headers, "")
    assert client.get(MODELS, headers=bad_key).status_code == 200
    anonymous = client.post(MODELS, json=model_body("churn"), headers={"Idempotency-Key": "k"})
    assert anonymous.status_code == 401


# what is kept, and for how long ---------------------------------------------------------------


def test_a_failed_request_is_not_kept_and_its_key_serves_the_corrected_retry(
    client, contributor_headers, db
):
    headers = keyed(contributor_headers, "create-churn")

    refused = client.post(MODELS, json=model_body("churn", task="ranking"), headers=headers)
    assert refused.status_code == 422
    assert stored_keys(db) == []

    fixed = client.post(MODELS, json=model_body("churn"), headers=headers)
    assert fixed.status_code == 201, fixed.get_data(as_text=True)
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_refusal_by_the_domain_is_not_replayed(client, contributor_headers, churn):
    headers = keyed(contributor_headers, "create-churn-again")
    first = client.post(MODELS, json=model_body("churn"), headers=headers)
    retry = client.post(MODELS, json=model_body("churn"), headers=headers)

    assert first.status_code == retry.status_code == 409
    assert "Idempotent-Replayed" not in retry.headers


def test_after_24_hours_the_key_is_free_again(client, contributor_headers, clock, db):
    headers = keyed(contributor_headers, "daily-key")
    assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201

    clock.advance(hours=23, minutes=59)
    assert client.post(MODELS, json=model_body("fraud"), headers=headers).status_code == 422
    clock.advance(minutes=1)
    reused = client.post(MODELS, json=model_body("fraud"), headers=headers)

    assert reused.status_code == 201, reused.get_data(as_text=True)
    assert "Idempotent-Replayed" not in reused.headers
    assert [row.path for row in stored_keys(db)] == ["/api/v1/models"]


def test_expired_keys_are_deleted_as_new_keys_are_reserved(client, contributor_headers, clock, db):
    for name in ("a", "b", "c"):
        response = client.post(
            MODELS, json=model_body(name), headers=keyed(contributor_headers, name)
        )
        assert response.status_code == 201
    clock.advance(hours=25)

    for name in range(idempotency.SWEEP_EVERY):  # one of any SWEEP_EVERY new keys sweeps
        client.post(
            MODELS, json=model_body(f"m{name}"), headers=keyed(contributor_headers, f"{name}")
        )

    assert not {"a", "b", "c"} & {row.key for row in stored_keys(db)}


def test_a_sweep_deletes_expired_keys_oldest_first_up_to_its_limit(db, clock):
    with db.unit_of_work() as session:
        keys = idempotency.IdempotencyKeys(session, clock=clock)
        for key in ("a", "b", "c"):
            keys.reserve(idempotency.KeyedRequest("token:1", key, "POST", "/", "0" * 64))
            clock.advance(seconds=1)
    clock.advance(hours=24)
    with db.unit_of_work() as session:
        idempotency.IdempotencyKeys(session, clock=clock).sweep(clock(), limit=2)

    assert [row.key for row in stored_keys(db)] == ["c"]


def test_a_key_held_by_a_request_in_progress_is_a_409_with_retry_after(
    client, contributor_headers, clock, db
):
    headers = keyed(contributor_headers, "slow-create")
    assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201
    with db.unit_of_work() as session:  # as another worker that reserved the key and is running
        session.execute(update(IdempotencyKey).values(completed_at=None, created_at=clock()))

    busy = client.post(MODELS, json=model_body("churn"), headers=headers)

    assert busy.status_code == 409
    assert busy.headers["Retry-After"] == "1"
    assert error_of(busy)["code"] == "conflict"
    assert "in progress" in error_of(busy)["message"]


def test_a_key_whose_worker_died_is_free_again_after_an_hour(
    client, contributor_headers, churn, clock, db
):
    headers = keyed(contributor_headers, "describe-churn")
    body = {"description": "retrained"}
    assert client.patch(f"{MODELS}/churn", json=body, headers=headers).status_code == 200
    with db.unit_of_work() as session:  # as a worker that reserved the key and was killed
        session.execute(update(IdempotencyKey).values(completed_at=None, created_at=clock()))

    clock.advance(minutes=59)
    assert client.patch(f"{MODELS}/churn", json=body, headers=headers).status_code == 409
    clock.advance(minutes=1)
    taken_over = client.patch(f"{MODELS}/churn", json=body, headers=headers)
    replayed = client.patch(f"{MODELS}/churn", json=body, headers=headers)

    assert taken_over.status_code == 200, taken_over.get_data(as_text=True)
    assert "Idempotent-Replayed" not in taken_over.headers
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_a_response_over_the_size_limit_is_not_replayed_and_not_run_again(
    client, contributor_headers, db, monkeypatch
):
    monkeypatch.setattr(idempotency, "MAX_KEPT_RESPONSE_BYTES", 64)
    headers = keyed(contributor_headers, "big-answer")
    assert client.post(MODELS, json=model_body("churn"), headers=headers).status_code == 201

    retry = client.post(MODELS, json=model_body("churn"), headers=headers)

    assert retry.status_code == 409
    assert "Retry-After" not in retry.headers
    assert "not kept" in error_of(retry)["message"]
    assert [row.response_body for row in stored_keys(db)] == [None]
    assert model_count(client, contributor_headers) == 1


@pytest.mark.parametrize(
    ("url", "body", "secret_field"),
    [
        ("/tokens", {"name": "ci", "role": "viewer"}, "token"),
        ("/channels", {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/x"}, "secret"),
    ],
    ids=["token", "webhook-signing-secret"],
)
def test_a_secret_shown_once_is_never_stored(client, admin_headers, db, url, body, secret_field):
    headers = keyed(admin_headers, "shown-once")

    created = client.post(f"{API}{url}", json=body, headers=headers)
    retry = client.post(f"{API}{url}", json=body, headers=headers)

    assert created.status_code == 201, created.get_data(as_text=True)
    secret = created.json[secret_field]
    assert secret
    assert retry.status_code == 409
    assert "not kept" in error_of(retry)["message"]
    assert secret not in retry.get_data(as_text=True)
    assert [(row.status_code, row.response_body) for row in stored_keys(db)] == [(201, None)]
    listed = client.get(f"{API}{url}", headers=admin_headers).json
    assert [item["name"] for item in listed].count(body["name"]) == 1


def test_every_response_that_shows_a_secret_is_listed_as_never_stored(client):
    spec = client.get("/api/openapi.json").json
    schemas = spec["components"]["schemas"]
    showing_secrets = set()
    for rule in client.application.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) & request_scope.KEYED_METHODS):
            operation = spec["paths"].get(path, {}).get(method.lower(), {})
            for status, answer in operation.get("responses", {}).items():
                ref = answer.get("content", {}).get("application/json", {}).get("schema", {})
                name = ref.get("$ref", "").rpartition("/")[2]
                fields = set(schemas.get(name, {}).get("properties", {}))
                if status.startswith("2") and fields & {"token", "secret"}:
                    showing_secrets.add(rule.endpoint)
    assert showing_secrets == request_scope.SECRET_API_ENDPOINTS
    routed = {rule.endpoint for rule in client.application.url_map.iter_rules()}
    assert routed >= request_scope.SECRET_PAGE_ENDPOINTS  # the admin forms that show one


# ingest is idempotent by prediction id, and never pays for a key ------------------------------


def test_prediction_and_label_ingest_ignore_the_key(client, contributor_headers, churn, db):
    declared_version(client, contributor_headers)
    headers = keyed(contributor_headers, "")  # not even checked
    batch = {
        "rows": [{"prediction_id": "p1", "features": {"age": 30, "plan": "pro"}, "prediction": 1}]
    }
    url = f"{MODELS}/churn/versions/1/predictions"

    first = client.post(url, json=batch, headers=headers)
    again = client.post(url, json=batch, headers=headers)
    labels = client.post(
        f"{MODELS}/churn/labels",
        json={"labels": [{"prediction_id": "p1", "label": 1}]},
        headers=headers,
    )

    assert first.status_code == again.status_code == labels.status_code == 200
    assert (first.json["accepted"], again.json["duplicates"]) == (1, 1)
    assert "Idempotent-Replayed" not in again.headers
    assert stored_keys(db) == []


def test_the_unkeyed_endpoints_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= request_scope.UNKEYED_ENDPOINTS


# against a live server, with requests and threads ---------------------------------------------


def test_a_retry_over_http_is_replayed(live_server, token_factory):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_factory('contributor', 'ci')}"
    key = {"Idempotency-Key": uuid.uuid4().hex}

    first = session.post(f"{live_server.url}{MODELS}", json=model_body("churn"), headers=key)
    retry = session.post(f"{live_server.url}{MODELS}", json=model_body("churn"), headers=key)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert session.get(f"{live_server.url}{MODELS}").json()["total"] == 1


def test_concurrent_requests_with_one_key_create_one_model(live_server, token_factory, db):
    token = token_factory("contributor", "ci")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    start = threading.Barrier(8)

    def create(_: int) -> requests.Response:
        start.wait(timeout=10)
        return requests.post(
            f"{live_server.url}{MODELS}", json=model_body("churn"), headers=headers, timeout=30
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))

    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "Idempotent-Replayed" not in r.headers]
    busy = [r for r in responses if r.status_code == 409]
    assert len(created) + len(busy) == 8, [(r.status_code, r.text) for r in responses]
    assert len(originals) == 1
    assert all(r.json() == originals[0].json() for r in created)
    assert all(r.headers["Retry-After"] == "1" for r in busy)
    with db.engine.connect() as connection:
        models = connection.execute(text("SELECT count(*) FROM models")).scalar_one()
        creations = connection.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'model.created'")
        ).scalar_one()
    assert (models, creations) == (1, 1)


@dataclass(frozen=True)
class BlockingServer:
    """A live server whose version registrations wait for ``release`` before committing."""

    url: str
    entered: threading.Event
    release: threading.Event


@pytest.fixture
def blocking_server(session_settings, migrated_database, db) -> Iterator[BlockingServer]:
    """A live server whose version registrations wait for ``release`` before committing."""
    release = threading.Event()
    entered = threading.Event()

    def hold(_session: Any, _ctx: Any, _event: Any) -> None:
        entered.set()
        release.wait(timeout=30)

    wiring = wire()
    wiring = replace(wiring, events=wiring.events.with_subscriber(hold, "version.registered"))
    application = create_app(session_settings, database=migrated_database, wiring=wiring)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield BlockingServer(f"http://127.0.0.1:{server.server_port}", entered, release)
    finally:
        release.set()
        server.shutdown()
        thread.join(timeout=10)


def test_a_retry_while_the_first_request_runs_in_another_thread_is_a_409(
    blocking_server, token_factory, is_postgres
):
    if not is_postgres:
        pytest.skip("on SQLite the running request holds the write lock: a retry queues on it")
    auth = {"Authorization": f"Bearer {token_factory('contributor', 'ci')}"}
    models_url = f"{blocking_server.url}{MODELS}"
    assert requests.post(models_url, json=model_body("churn"), headers=auth).status_code == 201
    versions_url = f"{models_url}/churn/versions"

    def register() -> requests.Response:
        body = {"features": CHURN_FEATURES, "target": "churned"}
        headers = keyed(auth, "register-v1")
        return requests.post(versions_url, json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(register)
        assert blocking_server.entered.wait(timeout=10)
        busy = register()
        blocking_server.release.set()
        registered = first.result()
    replayed = register()

    assert busy.status_code == 409, busy.text
    assert busy.headers["Retry-After"] == "1"
    assert registered.status_code == 201, registered.text
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == registered.json()
    assert requests.get(f"{models_url}/churn", headers=auth).json()["latest_version"] == 1


def test_a_key_is_reserved_once_until_its_request_finishes(db, clock):
    request = idempotency.KeyedRequest("token:1", "k", "POST", "/api/v1/models", "0" * 64)
    with db.unit_of_work() as session:
        first = idempotency.IdempotencyKeys(session, clock=clock).reserve(request)
    with db.unit_of_work() as session:
        with pytest.raises(idempotency.KeyInProgress):
            idempotency.IdempotencyKeys(session, clock=clock).reserve(request)
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
    assert isinstance(first, idempotency.Reservation)
