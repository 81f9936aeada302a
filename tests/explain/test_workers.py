"""The worker pool: started lazily, limited, caching, replaced when it fails, stopped cleanly."""

from __future__ import annotations

import os
import sys

import pytest

from assay_server.app import create_app
from assay_server.explain import routes as explain_routes
from assay_server.explain.launcher import stop_launcher
from assay_server.explain.workers import PoolLimits, WorkerPool
from tests.explain import estimators as est
from tests.explain.conftest import explain, register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


def _register_signal(client, headers, name, seed=0):
    frame = est.signal_frame(seed=seed)
    register(
        client, headers, name, "binary_classification", est.signal_classifier(frame), frame, "label"
    )
    return [{n: float(frame.iloc[0][n]) for n in est.NUMERIC}]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_pool_starts_on_the_first_explanation_and_stops_with_its_app(
    settings, db, clock, contributor_headers
):
    app = create_app(settings.with_overrides(explain_workers=1), database=db, clock=clock)
    assert "assay_explain_pool" not in app.extensions
    client = app.test_client()
    rows = _register_signal(client, contributor_headers, "lazy")
    assert "assay_explain_pool" not in app.extensions  # registering loads nothing
    assert explain(client, contributor_headers, "lazy", rows, num_samples=200).status_code == 200
    pids = app.extensions["assay_explain_pool"].pids()
    assert len(pids) == 1 and pids[0] != os.getpid()
    explain_routes.shutdown(app)
    assert "assay_explain_pool" not in app.extensions
    assert not any(_alive(pid) for pid in pids)


def test_a_worker_keeps_loaded_models_in_a_bounded_lru(make_app, contributor_headers):
    pool = WorkerPool(PoolLimits(size=1, cache_size=1))
    try:
        client = make_app(pool=pool).test_client()
        first = _register_signal(client, contributor_headers, "first", seed=0)
        second = _register_signal(client, contributor_headers, "second", seed=1)

        def loads() -> int:
            return pool.run({"op": "ping"}, timeout=30)["loads"]

        explain(client, contributor_headers, "first", first, num_samples=200)
        explain(client, contributor_headers, "first", first, num_samples=300)
        assert loads() == 1  # the second explanation of a version does not reload it
        explain(client, contributor_headers, "second", second, num_samples=200)
        explain(client, contributor_headers, "first", first, num_samples=400)
        assert loads() == 3  # a cache of one: "second" pushed "first" out
    finally:
        pool.shutdown()


def test_a_worker_over_its_cpu_seconds_is_killed_and_replaced(
    make_app, contributor_headers, admin_headers, explain_pool
):
    client = make_app(explain_cpu_seconds=1.0).test_client()
    frame = est.signal_frame()
    model = est.BusyClassifier().fit(frame[est.NUMERIC], frame["label"])
    register(client, contributor_headers, "busy", "binary_classification", model, frame, "label")
    client.post(
        "/api/v1/models/busy/versions/1/trusted-types",
        json={"types": ["tests.explain.estimators.BusyClassifier"]},
        headers=admin_headers,
    )
    before = set(explain_pool.pids())
    rows = [{n: 0.0 for n in est.NUMERIC}]
    response = explain(client, contributor_headers, "busy", rows)
    assert response.status_code == 502
    assert "CPU-seconds" in response.json["error"]["message"]
    assert len(set(explain_pool.pids()) - before) == 1


def test_a_request_waits_for_a_free_worker_and_a_closed_pool_refuses(contributor_headers):
    pool = WorkerPool(PoolLimits(size=1))
    assert pool.run({"op": "ping"}, timeout=30)["ok"]
    pool.shutdown()
    assert pool.closed and pool.pids() == []
    from assay_server.explain.workers import WorkerError

    with pytest.raises(WorkerError) as raised:
        pool.run({"op": "ping"}, timeout=30, wait=1)
    assert raised.value.kind == "busy"


def test_a_worker_past_its_memory_limit_answers_with_an_error_and_keeps_serving(
    make_app, contributor_headers, admin_headers
):
    pool = WorkerPool(PoolLimits(size=1, memory_mb=1536))
    try:
        client = make_app(pool=pool).test_client()
        frame = est.signal_frame()
        model = est.HungryClassifier().fit(frame[est.NUMERIC], frame["label"])
        register(
            client, contributor_headers, "hungry", "binary_classification", model, frame, "label"
        )
        client.post(
            "/api/v1/models/hungry/versions/1/trusted-types",
            json={"types": ["tests.explain.estimators.HungryClassifier"]},
            headers=admin_headers,
        )
        response = explain(client, contributor_headers, "hungry", [{n: 0.0 for n in est.NUMERIC}])
        assert response.status_code == 502
        assert response.json["error"]["details"]["kind"] == "memory"
        assert pool.run({"op": "ping"}, timeout=30)["ok"]
    finally:
        pool.shutdown()


def test_an_explanation_whose_worker_cannot_start_is_a_502(
    settings, db, clock, contributor_headers, monkeypatch
):
    app = create_app(settings.with_overrides(explain_workers=1), database=db, clock=clock)
    client = app.test_client()
    rows = _register_signal(client, contributor_headers, "unstartable")
    stop_launcher()
    monkeypatch.setattr(sys, "executable", "/bin/false")  # no launcher can start
    try:
        response = explain(client, contributor_headers, "unstartable", rows, num_samples=200)
    finally:
        monkeypatch.undo()
        stop_launcher()
        explain_routes.shutdown(app)
    assert response.status_code == 502, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["message"].startswith("An explanation worker could not be started")
