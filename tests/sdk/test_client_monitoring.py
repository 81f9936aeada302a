"""Monitoring through the SDK against a live server: monitors, runs, reports, HTML."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import assay


def _reference(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "churned": rng.integers(0, 2, rows),
        }
    )


@pytest.fixture
def logged_churn(admin_client: assay.Client, live_server: Any) -> assay.Client:
    """``churn`` v1 with a reference, and 600 logged predictions whose ages drifted."""
    rng = np.random.default_rng(5)
    admin_client.create_model("churn", "binary_classification")
    admin_client.register_version("churn", reference_data=_reference(1500, rng), target="churned")
    logger = admin_client.prediction_logger("churn", 1, flush_interval=0.1)
    for age, plan in zip(rng.normal(60, 10, 600), rng.choice(["basic", "pro"], 600), strict=True):
        logger.log({"age": float(age), "plan": str(plan)}, int(age > 60), sensitive={"sex": "F"})
    assert logger.flush(timeout=30)
    logger.close()
    return admin_client


def test_create_run_and_read_a_drift_monitor(logged_churn: assay.Client) -> None:
    client = logged_churn
    monitor = client.create_monitor(
        "churn", checks=["drift", "data_quality"], window={"hours": 24}, schedule=None
    )
    assert isinstance(monitor, assay.Monitor) and monitor.id > 0
    assert [m.name for m in client.list_monitors("churn")] == ["drift-data_quality"]
    run = client.run_monitor("churn", monitor.id)
    assert isinstance(run, assay.MonitorRun)
    assert (run.status, run.rows_used) == ("succeeded", 600)
    assert run.statuses["drift"] == "alert"
    reports = client.list_reports("churn")
    assert [r.kind for r in reports] == ["data_quality", "drift"]  # newest first
    assert client.list_reports("churn", kind="drift", status="ok") == []
    drift = client.get_report(next(r.id for r in reports if r.kind == "drift"))
    columns = {c["feature"]: c for c in drift.detail["columns"]}
    assert columns["age"]["drifted"] is True
    assert columns["age"]["method"] == "wasserstein"
    assert drift.summary["dataset_drift"] is True
    quality = client.get_report(next(r.id for r in reports if r.kind == "data_quality"))
    plan = next(c for c in quality.detail["columns"] if c["feature"] == "plan")
    assert plan["new_category_share"] == 0.0


def test_report_html_is_evidentlys_own_report(logged_churn: assay.Client) -> None:
    client = logged_churn
    monitor = client.create_monitor("churn", checks=["drift"], schedule=None)
    client.run_monitor("churn", monitor.id)
    [report] = client.list_reports("churn")
    html = client.report_html(report.id)
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f"<title>churn v1: drift report #{report.id}</title>" in html
    assert "Wasserstein" in html and "age" in html  # Evidently's own drift table
    assert len(html) > 100_000  # Evidently inlines its JS bundle
    assert client.report_html(report.id) == html  # cached, the same document


def test_queued_runs_and_monitor_changes(logged_churn: assay.Client) -> None:
    client = logged_churn
    monitor = client.create_monitor("churn", checks=["drift"], name="hourly")
    assert monitor.schedule == {"interval_seconds": 3600}
    queued = client.run_monitor("churn", monitor.id, wait=False)
    assert queued.status == "queued" and not queued.finished
    assert client.get_monitor_run(queued.id).status == "queued"
    paused = client.update_monitor("churn", monitor.id, enabled=False)
    assert paused.enabled is False
    client.delete_monitor("churn", monitor.id)
    with pytest.raises(assay.NotFound):
        client.get_monitor("churn", monitor.id)


def test_a_viewer_cannot_create_monitors(logged_churn: assay.Client, client_as: Any) -> None:
    viewer = client_as("viewer")
    with pytest.raises(assay.PermissionDenied):
        viewer.create_monitor("churn", checks=["drift"])
    with pytest.raises(assay.ValidationError) as refused:
        logged_churn.create_monitor("churn", checks=["bias"])
    assert "sensitive_features" in refused.value.details


def test_schedule_none_is_manual_runs_only(logged_churn: assay.Client) -> None:
    client = logged_churn
    manual = client.create_monitor("churn", checks=["drift"], name="manual", schedule=None)
    assert manual.schedule is None
    assert client.get_monitor("churn", manual.id).schedule is None
    hourly = client.create_monitor("churn", checks=["drift"], name="default")
    assert hourly.schedule == {"interval_seconds": 3600}
    ran = client.run_monitor("churn", manual.id)
    assert ran.finished and ran.trigger == "manual"
