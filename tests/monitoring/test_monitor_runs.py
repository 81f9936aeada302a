"""Monitors through the API: create, run now, reports with their contract, audit, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.factories import API, audit_actions

from .conftest import Monitored


def test_a_drift_run_on_a_shifted_window_stores_a_drift_report_with_the_documented_shape(
    monitored: Monitored,
) -> None:
    monitored.log(1500, shift=15)
    monitor = monitored.create_monitor(checks=["drift"])
    run = monitored.run(monitor["id"])
    assert run["status"] == "succeeded", run
    assert (run["rows_total"], run["rows_used"], run["sampled"]) == (1500, 1500, False)
    assert run["statuses"]["drift"] in ("warning", "alert")
    [summary] = monitored.reports(kind="drift")
    report = monitored.report(summary["id"])
    columns = {c["feature"]: c for c in report["detail"]["columns"]}
    assert set(columns) == {"age", "income", "plan", "predicted"}
    assert set(columns["age"]) == {
        "feature",
        "kind",
        "method",
        "score",
        "threshold",
        "drifted",
        "n_reference",
        "n_current",
    }
    assert columns["age"]["drifted"] and columns["age"]["method"] == "wasserstein"
    assert columns["plan"]["method"] == "jensenshannon" and not columns["plan"]["drifted"]
    assert (columns["age"]["n_reference"], columns["age"]["n_current"]) == (2000, 1500)
    assert report["summary"]["drifted_columns"] == ["age", "income"]
    assert report["findings"][0]["subject"] == "dataset"


def test_an_unshifted_window_is_ok_and_a_thin_window_is_insufficient_data(
    monitored: Monitored,
) -> None:
    monitored.log(1200)
    monitor = monitored.create_monitor(checks=["drift", "data_quality"], min_rows=100)
    run = monitored.run(monitor["id"])
    assert run["statuses"] == {"drift": "ok", "data_quality": "ok"}
    strict = monitored.create_monitor(checks=["drift"], min_rows=5000)
    run = monitored.run(strict["id"])
    assert run["statuses"] == {"drift": "insufficient_data"}
    [report] = monitored.reports(monitor_id=strict["id"])
    assert "1200 rows" in report["summary"]["reason"]
    assert report["findings"] == []


def test_data_quality_reports_missing_values_beyond_the_reference(monitored: Monitored) -> None:
    monitored.log(1000, missing_age=0.3)
    monitor = monitored.create_monitor(checks=["data_quality"])
    assert monitored.run(monitor["id"])["statuses"] == {"data_quality": "alert"}
    [report] = monitored.reports()
    [finding] = report["findings"]
    assert (finding["subject"], finding["metric"]) == ("age", "missing_share")
    assert finding["value"] == pytest.approx(0.3, abs=0.05)


def test_bias_reports_each_sensitive_feature_under_the_documented_names(
    monitored: Monitored,
) -> None:
    monitored.log(2000, biased=True)
    monitor = monitored.create_monitor(checks=["bias"], sensitive_features=["sex"])
    assert monitored.run(monitor["id"])["statuses"] == {"bias": "alert"}
    [summary] = monitored.reports(kind="bias")
    report = monitored.report(summary["id"])
    [feature] = report["detail"]["features"]
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    ):
        assert isinstance(feature[name], float)
    groups = {g["group"]: g for g in feature["groups"]}
    assert set(groups) == {"F", "M"}
    assert groups["F"]["selection_rate"] > groups["M"]["selection_rate"] + 0.4
    assert report["findings"][0]["subject"] == "sex"


def test_performance_compares_with_the_training_metrics_until_a_benchmark_exists(
    monitored: Monitored,
) -> None:
    monitored.log(1000)
    monitor = monitored.create_monitor(checks=["performance"], min_rows=50)
    monitored.run(monitor["id"])
    [report] = monitored.reports(kind="performance")
    summary = report["summary"]
    assert summary["baseline"]["source"] == "training metrics"
    assert 0.6 < summary["metrics"]["accuracy"] < 0.9
    assert summary["metrics"]["label_coverage"] == 1.0
    body = {"name": "holdout", "metrics": {"accuracy": 0.99}}
    response = monitored.client.post(
        monitored.url("/versions/1/benchmarks"), json=body, headers=monitored.headers
    )
    assert response.status_code == 201
    assert monitored.run(monitor["id"])["statuses"] == {"performance": "alert"}
    latest = monitored.reports(kind="performance")[0]
    assert latest["summary"]["baseline"]["source"].startswith("benchmark 'holdout'")
    assert latest["findings"][0]["subject"] == "accuracy"


def test_performance_waits_for_labels(monitored: Monitored) -> None:
    monitored.log(500, labelled=False)
    monitor = monitored.create_monitor(checks=["performance", "estimated_performance"])
    run = monitored.run(monitor["id"])
    assert run["statuses"]["performance"] == "insufficient_data"
    assert run["statuses"]["estimated_performance"] == "ok"
    estimated = monitored.reports(kind="estimated_performance")[0]["summary"]
    assert 0.6 < estimated["metrics"]["accuracy"] < 0.9
    assert estimated["realised"] is None


def test_a_large_window_is_sampled_uniformly_and_says_so(
    monitored: Monitored, app: Any, settings: Any
) -> None:
    app.extensions["assay_settings"] = settings.with_overrides(max_window_rows=400)
    monitored.log(1000)
    monitor = monitored.create_monitor(checks=["drift"])
    run = monitored.run(monitor["id"])
    assert (run["rows_total"], run["rows_used"], run["sampled"]) == (1000, 400, True)
    [report] = monitored.reports()
    assert (report["rows_total"], report["rows_used"], report["sampled"]) == (1000, 400, True)


def test_a_window_of_the_last_n_predictions(monitored: Monitored) -> None:
    monitored.log(800)
    monitor = monitored.create_monitor(checks=["drift"], window={"predictions": 300})
    run = monitored.run(monitor["id"])
    assert run["rows_total"] == 300


def test_a_stage_monitor_skips_while_no_version_is_in_the_stage(monitored: Monitored) -> None:
    monitor = monitored.create_monitor(checks=["drift"], stage="production")
    run = monitored.run(monitor["id"])
    assert run["status"] == "skipped"
    assert "No version of 'churn' is in stage production" in run["error"]


def test_monitor_changes_and_runs_are_audited(monitored: Monitored) -> None:
    monitored.log(200)
    monitor = monitored.create_monitor(checks=["drift"], name="nightly")
    url = monitored.url(f"/monitors/{monitor['id']}")
    changed = monitored.client.patch(url, json={"enabled": False}, headers=monitored.headers)
    assert changed.status_code == 200 and changed.json["enabled"] is False
    monitored.run(monitor["id"])
    actions = audit_actions(
        monitored.client, monitored.headers, "monitor", f"churn/monitors/{monitor['id']}"
    )
    assert actions == [
        "monitor.created",
        "monitor.updated",
        "monitor.run_requested",
        "monitor.run_succeeded",
    ]
    assert monitored.client.delete(url, headers=monitored.headers).status_code == 204
    assert monitored.client.get(url, headers=monitored.headers).status_code == 404
    assert monitored.reports() == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"checks": []}, "checks"),
        ({"checks": ["drift", "drift"]}, "checks"),
        ({"checks": ["vibes"]}, "checks"),
        ({"checks": ["bias"]}, "sensitive_features"),
        ({"checks": ["drift"], "window": {"hours": 1, "predictions": 5}}, "window"),
        ({"checks": ["drift"], "schedule": {"cron": "every tuesday"}}, "schedule"),
        ({"checks": ["drift"], "schedule": {"interval_seconds": 0}}, "schedule"),
        ({"checks": ["drift"], "thresholds": {"bias": {"warning": 0.1}}}, "thresholds"),
        (
            {"checks": ["drift"], "thresholds": {"drift": {"warning": 0.5, "alert": 0.1}}},
            "thresholds",
        ),
        ({"checks": ["drift"], "options": {"feature_methods": {"age": "vibes"}}}, "options"),
        ({"checks": ["drift"], "options": {"feature_methods": {"plan": "ks"}}}, "options"),
        ({"checks": ["drift"], "version": 1, "stage": "production"}, "stage"),
    ],
)
def test_bad_monitors_are_refused_with_the_field_named(
    monitored: Monitored, body: dict[str, Any], field: str
) -> None:
    error = monitored.create_monitor(expect=422, **body)["error"]
    assert field in error["details"], error
    assert monitored.client.get(monitored.url("/monitors"), headers=monitored.headers).json == []


def test_unknown_monitors_and_reports_are_404(monitored: Monitored) -> None:
    for url in (
        monitored.url("/monitors/99"),
        f"{API}/reports/99",
        f"{API}/monitor-runs/99",
        f"{API}/models/nope/monitors",
    ):
        assert monitored.client.get(url, headers=monitored.headers).status_code == 404, url
    response = monitored.client.post(monitored.url("/monitors/99/run"), headers=monitored.headers)
    assert response.status_code == 404


def test_a_queued_run_waits_for_a_scheduler(monitored: Monitored) -> None:
    monitor = monitored.create_monitor(checks=["drift"])
    response = monitored.client.post(
        monitored.url(f"/monitors/{monitor['id']}/run"),
        headers=monitored.headers,
        query_string={"wait": "false"},
    )
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert response.headers["Location"] == f"/api/v1/monitor-runs/{response.json['id']}"


def test_reports_are_the_evidence_of_monitoring_policy_rules(
    monitored: Monitored, db: Any, clock: Any
) -> None:
    from assay_server.evidence import Missing
    from assay_server.governance.evidence import EvidenceContext
    from assay_server.registry.models import ModelVersion
    from assay_server.wiring import wire

    providers = wire().evidence

    monitored.log(1500, shift=15, biased=True)
    with db.unit_of_work(write=False) as session:
        version = session.query(ModelVersion).one()
        evidence = EvidenceContext(session, version, clock(), providers)
        before = evidence.observe("drift_share", {})
    assert isinstance(before, Missing) and "No drift report" in before.reason
    monitor = monitored.create_monitor(
        checks=["drift", "bias", "data_quality"], sensitive_features=["sex"]
    )
    monitored.run(monitor["id"])
    reports = {r["kind"]: r for r in monitored.reports()}
    with db.unit_of_work(write=False) as session:
        version = session.query(ModelVersion).one()
        ctx = EvidenceContext(session, version, clock(), providers)
        drift = ctx.observe("drift_share", {})
        bias = ctx.observe("bias_metric", {"metric": "demographic_parity_difference"})
        quality = ctx.observe("data_quality", {"metric": "max_missing_share"})
        latest = ctx.observe("report", {"check": "drift"})
    assert drift.value == reports["drift"]["summary"]["share_drifted"] == 0.5
    assert drift.link == f"/api/v1/reports/{reports['drift']['id']}"
    dpd = reports["bias"]["summary"]["features"]["sex"]["demographic_parity_difference"]
    assert (bias.value, bias.detail["sensitive_feature"]) == (dpd, "sex")
    assert quality.value == 0.0
    assert latest.value["share_drifted"] == 0.5


def test_a_version_registered_before_profiles_gets_its_profile_on_its_first_run(
    monitored: Monitored, db: Any
) -> None:
    from sqlalchemy import update

    from assay_server.registry.models import ModelVersion

    with db.unit_of_work() as session:
        session.execute(update(ModelVersion).values(reference_profile_sha256=None))
    monitored.log(300, shift=15)
    monitor = monitored.create_monitor(checks=["drift"])
    assert monitored.run(monitor["id"])["statuses"]["drift"] in ("warning", "alert")
    with db.unit_of_work(write=False) as session:
        sha = session.query(ModelVersion.reference_profile_sha256).scalar()
    assert sha is not None and len(sha) == 64
