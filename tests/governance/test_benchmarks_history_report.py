"""Benchmarks and the leaderboard; stage history with ?at= and rollback; compliance report."""

from __future__ import annotations

from typing import Any

from .test_promotions_api import ALICE, CI, DEV, ROOT, V1, benchmark, request, setup_model


def test_benchmarks_are_logged_listed_and_audited(api: Any) -> None:
    setup_model(api)
    body = {
        "name": "holdout",
        "metrics": {"accuracy": 0.91, "f1": 0.88},
        "dataset_uri": "s3://data/holdout.parquet",
        "dataset_hash": "sha256:bbb",
        "notes": "2025 customers",
    }
    created = api.post(f"{V1}/benchmarks", DEV, body)
    assert created.status_code == 201
    assert {k: created.json[k] for k in ("model", "version", "name", "created_by")} == {
        "model": "churn",
        "version": 1,
        "name": "holdout",
        "created_by": "dev",
    }
    api.post(f"{V1}/benchmarks", DEV, {"name": "stress", "metrics": {"accuracy": 0.7}})
    assert [b["name"] for b in api.get(f"{V1}/benchmarks").json] == ["holdout", "stress"]
    assert [b["name"] for b in api.get(f"{V1}/benchmarks?name=stress").json] == ["stress"]
    one = api.get(f"{V1}/benchmarks/{created.json['id']}").json
    assert one["metrics"] == {"accuracy": 0.91, "f1": 0.88}
    assert api.get(f"{V1}/benchmarks/999").status_code == 404
    events = api.get("/audit?action=benchmark.logged").json["items"]
    assert events[0]["target_id"] == "churn/1" and events[0]["payload"]["name"] == "holdout"


def test_a_benchmark_needs_metrics_as_numbers(api: Any) -> None:
    setup_model(api)
    bad = api.post(f"{V1}/benchmarks", DEV, {"name": "holdout", "metrics": {"accuracy": "hi"}})
    assert bad.status_code == 422 and "metrics" in bad.json["error"]["details"]
    empty = api.post(f"{V1}/benchmarks", DEV, {"name": "holdout", "metrics": {}})
    assert empty.status_code == 422
    assert api.post(f"{V1}/benchmarks", ("viewer", "viewer"), {}).status_code == 403


def test_the_leaderboard_ranks_versions_by_a_metric(api: Any) -> None:
    setup_model(api, versions=3)
    benchmark(api, 0.80, version=1)
    benchmark(api, 0.92, version=2)
    benchmark(api, 0.85, version=3)
    api.post("/models/churn/versions/3/benchmarks", DEV, {"name": "other", "metrics": {"x": 1}})
    board = api.get("/models/churn/leaderboard?benchmark=holdout&sort=-accuracy").json
    assert board["metrics"] == ["accuracy", "f1"]
    assert [r["version"] for r in board["rows"]] == [2, 3, 1]
    ascending = api.get("/models/churn/leaderboard?benchmark=holdout&sort=accuracy").json
    assert [r["version"] for r in ascending["rows"]] == [1, 3, 2]
    default = api.get("/models/churn/leaderboard?benchmark=holdout").json
    assert [r["version"] for r in default["rows"]] == [3, 2, 1]
    unknown = api.get("/models/churn/leaderboard?benchmark=holdout&sort=auc")
    assert unknown.status_code == 422
    assert api.get("/models/churn/leaderboard").status_code == 422


def test_stage_history_answers_what_was_in_production_at_an_instant(api: Any) -> None:
    setup_model(api, versions=2)
    clock = api.client.application.extensions["assay_clock"]
    api.post(f"{V1}/stage", ROOT, {"stage": "production", "reason": "launch"})
    clock.advance(days=10)
    api.post(
        "/models/churn/versions/2/stage",
        ROOT,
        {"stage": "production", "reason": "hotfix", "archive_existing": True},
    )
    history = api.get("/models/churn/stage-history").json
    assert [(h["version"], h["stage"], h["left_at"] is None) for h in history] == [
        (1, "production", False),
        (1, "archived", True),
        (2, "production", True),
    ]
    then = api.get("/models/churn/stage-history?at=2026-11-25T00:00:00Z&stage=production").json
    assert [h["version"] for h in then] == [1]
    now = api.get("/models/churn/stage-history?at=2026-12-04T00:00:00Z&stage=production").json
    assert [h["version"] for h in now] == [2]
    before = api.get("/models/churn/stage-history?at=2026-01-01T00:00:00Z").json
    assert before == []
    assert api.get("/models/churn/stage-history?at=yesterday").status_code == 422


def test_rollback_moves_production_back_to_a_version_that_held_it(api: Any) -> None:
    setup_model(api, versions=3)
    api.post(f"{V1}/stage", ROOT, {"stage": "production", "reason": "launch"})
    api.post(
        "/models/churn/versions/2/stage",
        ROOT,
        {"stage": "production", "reason": "hotfix", "archive_existing": True},
    )
    body = {"stage": "production", "to_version": 1, "reason": "v2 mis-scores new customers"}
    assert api.post("/models/churn/rollback", CI, body).status_code == 403
    never = api.post("/models/churn/rollback", ALICE, {**body, "to_version": 3})
    assert never.status_code == 409 and "never been in production" in never.json["error"]["message"]
    assert api.post("/models/churn/rollback", ALICE, {**body, "reason": " "}).status_code == 422
    done = api.post("/models/churn/rollback", ALICE, body)
    assert done.status_code == 200, done.json
    assert (done.json["from_versions"], done.json["to_version"]) == ([2], 1)
    assert done.json["evaluation"]["policies"][0]["name"] == "gate"  # shown, not enforced
    assert api.get(V1).json["stage"] == "production"
    assert api.get("/models/churn/versions/2").json["stage"] == "archived"
    event = api.get("/audit?action=stage.rolled_back").json["items"][0]
    assert event["actor_name"] == "alice" and event["payload"]["failing_rules"] == ["gate/acc"]
    for version in (1, 2):
        report = api.get(f"/models/churn/versions/{version}/compliance-report?format=json").json
        assert "stage.rolled_back" in [e["action"] for e in report["audit_events"]]
    report = api.get("/models/churn/versions/3/compliance-report?format=json").json
    assert "stage.rolled_back" not in [e["action"] for e in report["audit_events"]]


def test_the_compliance_report_bundles_the_evidence_of_a_version(api: Any) -> None:
    setup_model(api, required=1)
    api.client.patch(
        f"/api/v1{V1}",
        json={"model_card": {"intended_use": "Churn <risk> scoring"}},
        headers=api.as_(*DEV),
    )
    benchmark(api, 0.9)
    promotion = request(api)
    api.post(f"/promotions/{promotion['id']}/approve", ALICE, {"comment": "validated"})
    bundle = api.get(f"{V1}/compliance-report?format=json").json
    assert bundle["model_card"] == {"intended_use": "Churn <risk> scoring"}
    assert bundle["benchmarks"][0]["metrics"]["accuracy"] == 0.9
    assert bundle["monitoring"]["drift"]["available"] is False
    [p] = bundle["promotions"]
    assert p["status"] == "approved"
    assert p["decisions"][0]["approver"] == "alice"
    assert p["evaluations"][0]["policies"][0]["rules"][0]["status"] == "pass"
    assert bundle["stage_history"][0]["stage"] == "production"
    actions = [e["action"] for e in bundle["audit_events"]]
    assert actions[0] == "version.registered" and "promotion.approved" in actions
    assert all(len(e["hash"]) == 64 for e in bundle["audit_events"])
    assert bundle["audit_chain"]["ok"] is True
    page = api.get(f"{V1}/compliance-report")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Compliance report: churn, version 1" in html
    assert "Churn &lt;risk&gt; scoring" in html and "<risk>" not in html
    assert "chain intact" in html
    assert api.get("/models/churn/versions/9/compliance-report").status_code == 404
