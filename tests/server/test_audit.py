"""The audit trail: hash-chained, gapless, tamper-evident, and written with the change."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from assay.auditchain import GENESIS_HASH, verify_export_lines
from assay_server.audit.models import AuditEvent
from assay_server.audit.service import AuditTrail
from assay_server.errors import Conflict
from assay_server.registry.service import RegistryService
from assay_server.roles import Actor, Role
from assay_server.wiring import wire

pytestmark = pytest.mark.commits  # raw SQL on connections of its own, and concurrent writers


def _models(db, ctx, names):
    for name in names:
        with db.unit_of_work() as session:
            RegistryService(session, ctx).create_model(name=name, task="regression")


def _export(client, headers) -> list[bytes]:
    response = client.get("/api/v1/audit/export", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    return response.get_data().splitlines()


def test_events_link_into_one_chain_from_the_genesis_hash(db, cli_context):
    _models(db, cli_context, ["a", "b", "c"])
    with db.unit_of_work(write=False) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        assert [e.seq for e in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
        assert AuditTrail(session, cli_context).verify().ok


def test_both_verifiers_name_an_event_changed_with_raw_sql(db, cli_context, client, admin_headers):
    _models(db, cli_context, ["a", "b", "c", "d"])
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_events SET payload = :p WHERE seq = 3"), {"p": '{"task": "forged"}'}
        )
    server = client.get("/api/v1/audit/verify", headers=admin_headers).json
    assert server["ok"] is False
    assert server["first_broken_seq"] == 3
    local = verify_export_lines(_export(client, admin_headers))
    assert (local.ok, local.first_broken_seq) == (False, 3)


def test_a_changed_actor_is_noticed_too(db, cli_context, client, admin_headers):
    _models(db, cli_context, ["a", "b"])
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_events SET actor_name = 'someone-else' WHERE seq = 2")
        )
    assert client.get("/api/v1/audit/verify", headers=admin_headers).json["first_broken_seq"] == 2


def test_both_verifiers_notice_a_deleted_event(db, cli_context, client, admin_headers):
    _models(db, cli_context, ["a", "b", "c", "d"])
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    server = client.get("/api/v1/audit/verify", headers=admin_headers).json
    assert (server["ok"], server["first_broken_seq"]) == (False, 2)
    local = verify_export_lines(_export(client, admin_headers))
    assert (local.ok, local.first_broken_seq) == (False, 2)


def test_both_verifiers_notice_the_last_event_deleted(db, cli_context, client, admin_headers):
    _models(db, cli_context, ["a", "b", "c"])
    last = client.get("/api/v1/audit/verify", headers=admin_headers).json["head_seq"]
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    server = client.get("/api/v1/audit/verify", headers=admin_headers).json
    assert (server["ok"], server["first_broken_seq"]) == (False, last)
    local = verify_export_lines(_export(client, admin_headers))
    assert (local.ok, local.first_broken_seq) == (False, last)


def test_the_export_of_an_intact_trail_verifies(db, cli_context, client, admin_headers):
    _models(db, cli_context, ["a", "b"])
    outcome = verify_export_lines(_export(client, admin_headers))
    assert outcome.ok
    assert outcome.checked == 3  # the admin token's creation, then the two models


def test_a_change_that_fails_leaves_no_event(db, cli_context):
    _models(db, cli_context, ["taken"])
    with pytest.raises(Conflict), db.unit_of_work() as session:
        RegistryService(session, cli_context).create_model(name="taken", task="regression")
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        RegistryService(session, cli_context).create_model(name="fresh", task="regression")
        raise RuntimeError("the request failed after the change")
    with db.unit_of_work(write=False) as session:
        trail = AuditTrail(session, cli_context)
        assert trail.head()["seq"] == 1
        assert [e["target_id"] for e in trail.iter_events()] == ["taken"]


def test_a_failed_request_leaves_no_event(client, admin_headers):
    before = client.get("/api/v1/audit", headers=admin_headers).json["total"]
    client.post("/api/v1/models", json={"name": "m", "task": "regression"}, headers=admin_headers)
    duplicate = client.post(
        "/api/v1/models", json={"name": "m", "task": "regression"}, headers=admin_headers
    )
    assert duplicate.status_code == 409
    assert client.get("/api/v1/audit", headers=admin_headers).json["total"] == before + 1


def test_concurrent_writers_leave_one_unbroken_chain(db, settings):
    writers, per_writer = 6, 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(index: int) -> None:
        ctx = wire().context(Actor(f"writer-{index}", Role.ADMIN, None), settings)
        barrier.wait()
        try:
            _models(db, ctx, [f"w{index}-{n}" for n in range(per_writer)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.unit_of_work(write=False) as session:
        trail = AuditTrail(session, wire().context(Actor.cli(), settings))
        outcome = trail.verify()
        assert outcome.ok, outcome.message
        assert outcome.checked == writers * per_writer
        assert trail.head()["seq"] == writers * per_writer


def test_audit_list_filters_and_pages_by_cursor(db, cli_context, client, admin_headers):
    _models(db, cli_context, [f"m{n}" for n in range(5)])
    first = client.get("/api/v1/audit?action=model.created&limit=2", headers=admin_headers).json
    assert first["total"] == 5
    assert [e["target_id"] for e in first["items"]] == ["m0", "m1"]
    second = client.get(
        f"/api/v1/audit?action=model.created&limit=2&after_seq={first['next_cursor']}",
        headers=admin_headers,
    ).json
    assert [e["target_id"] for e in second["items"]] == ["m2", "m3"]
    only = client.get("/api/v1/audit?target_type=model&target_id=m4", headers=admin_headers).json
    assert [e["action"] for e in only["items"]] == ["model.created"]
    by_actor = client.get("/api/v1/audit?actor=cli:test", headers=admin_headers).json
    assert by_actor["total"] == 6  # the five models and the test's admin token


def test_audit_list_filters_by_time(db, cli_context, client, admin_headers, clock):
    _models(db, cli_context, ["early"])
    clock.advance(hours=2)
    _models(db, cli_context, ["late"])
    since = clock().replace(microsecond=0).isoformat()
    events = client.get("/api/v1/audit", query_string={"since": since}, headers=admin_headers).json
    assert [e["target_id"] for e in events["items"]] == ["late"]
    until = client.get(
        "/api/v1/audit",
        query_string={"until": since, "action": "model.created"},
        headers=admin_headers,
    ).json
    assert [e["target_id"] for e in until["items"]] == ["early"]


def test_no_route_can_change_or_delete_an_event(client, admin_headers):
    for url in ["/api/v1/audit", "/api/v1/audit/1", "/api/v1/audit/export"]:
        for method in ["PUT", "PATCH", "DELETE", "POST"]:
            status = client.open(url, method=method, headers=admin_headers).status_code
            assert status in (404, 405), (method, url, status)


def test_an_unknown_audit_filter_is_refused_rather_than_ignored(client, admin_headers):
    response = client.get("/api/v1/audit?targett=model", headers=admin_headers)
    assert response.status_code == 422
    assert "targett" in response.json["error"]["details"]
