"""A run streams its window part by part: quality, bias and performance are exact on every
row, drift uses a seeded uniform sample, and each report says which rows it used."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from assay_server.checks.bias import measure_bias
from assay_server.checks.performance import classification_metrics
from assay_server.checks.quality import check_quality
from assay_server.ingest.window import read_window, stream_window
from assay_server.monitoring import windows
from assay_server.monitoring.drafts import class_labels
from assay_server.monitoring.run_inputs import plain
from assay_server.registry.models import ModelVersion
from assay_server.registry.profiles import load_profile

from .conftest import Monitored

CHECKS = ["drift", "data_quality", "bias", "performance"]


def _log_in_batches(monitored: Monitored) -> None:
    """1,500 rows in six batches, some ages missing, a third of them unlabelled."""
    for seed in range(3):
        monitored.log(300, seed=seed, prefix="a", missing_age=0.2, biased=seed == 1)
        monitored.log(200, seed=seed + 10, prefix="b", labelled=False)


def _version_id(session: Any, model: str = "churn") -> int:
    """The id of the model's version 1 (ids differ between stores)."""
    from sqlalchemy import select

    from assay_server.registry.models import RegisteredModel as Model

    return session.scalar(
        select(ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.name == model, ModelVersion.version == 1)
    )


def _json(value: Any) -> Any:
    return json.loads(json.dumps(plain(value)))


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of at most 400 rows (two batches or so): a run streams several."""
    monkeypatch.setattr(windows, "ROWS_PER_BLOCK", 400)


def test_a_sampled_run_is_exact_on_every_row_but_drift(
    monitored: Monitored, app: Any, settings: Any, db: Any, small_parts: None
) -> None:
    app.extensions["assay_settings"] = settings.with_overrides(max_window_rows=250)
    _log_in_batches(monitored)
    monitor = monitored.create_monitor(checks=CHECKS, sensitive_features=["sex"], min_rows=50)
    run = monitored.run(monitor["id"])
    assert run["status"] == "succeeded", run
    assert (run["rows_total"], run["rows_used"], run["sampled"]) == (1500, 250, True)
    reports = {r["kind"]: monitored.report(r["id"]) for r in monitored.reports()}
    used = {k: (r["rows_total"], r["rows_used"], r["sampled"]) for k, r in reports.items()}
    assert used == {
        "drift": (1500, 250, True),
        "data_quality": (1500, 1500, False),
        "bias": (1500, 1500, False),
        "performance": (1500, 1500, True),  # its ROC AUC and log loss
    }
    drift = reports["drift"]
    assert drift["summary"]["sample"] == {
        "sampled": True,
        "rows": 250,
        "rows_total": 1500,
        "seed": run["id"],
    }
    assert {c["n_current"] for c in drift["detail"]["columns"] if c["feature"] == "income"} == {250}
    sample = reports["performance"]["summary"]["sample"]
    assert sample["metrics"] == ["roc_auc", "log_loss"] and sample["rows"] == 250

    with db.unit_of_work(write=False) as session:
        version = session.get(ModelVersion, _version_id(session))
        profile = load_profile(version, app.extensions["assay_settings"])
        window = read_window(session, version.id)
    assert len(window) == 1500
    columns = {"age": window.features["age"], "income": window.features["income"]}
    columns |= {"plan": window.features["plan"], "predicted": window.predictions}
    quality = check_quality(profile, columns)
    assert reports["data_quality"]["detail"]["columns"] == _json(quality.as_json()["columns"])
    labels, predictions = class_labels(window.labels), class_labels(window.predictions)
    [bias] = measure_bias(
        predictions, {"sex": class_labels(window.sensitive["sex"])}, labels=labels
    )
    assert reports["bias"]["detail"]["features"] == [_json(bias.as_json())]
    exact = classification_metrics(labels, predictions)
    metrics = reports["performance"]["summary"]["metrics"]
    for name in ("accuracy", "precision", "recall", "f1", "n_labelled", "label_coverage"):
        assert metrics[name] == pytest.approx(exact[name], abs=0), name
    assert metrics["n_labelled"] == 900 and 0.5 < metrics["roc_auc"] < 1


def test_the_same_run_on_an_unsampled_window_gives_the_same_exact_figures(
    monitored: Monitored, app: Any, settings: Any, small_parts: None
) -> None:
    _log_in_batches(monitored)
    monitor = monitored.create_monitor(checks=CHECKS, sensitive_features=["sex"], min_rows=50)
    whole = monitored.run(monitor["id"])
    assert (whole["rows_used"], whole["sampled"]) == (1500, False)
    app.extensions["assay_settings"] = settings.with_overrides(max_window_rows=100)
    sampled = monitored.run(monitor["id"])
    assert (sampled["rows_used"], sampled["sampled"]) == (100, True)
    by_run: dict[int, dict[str, Any]] = {}
    for summary in monitored.reports():
        by_run.setdefault(summary["run_id"], {})[summary["kind"]] = monitored.report(summary["id"])
    first, second = by_run[whole["id"]], by_run[sampled["id"]]
    assert first["data_quality"]["detail"] == second["data_quality"]["detail"]
    assert first["bias"]["detail"] == second["bias"]["detail"]
    counted = ("accuracy", "precision", "recall", "f1", "n_labelled", "label_coverage")
    assert {k: first["performance"]["summary"]["metrics"][k] for k in counted} == {
        k: second["performance"]["summary"]["metrics"][k] for k in counted
    }
    assert "sample" not in first["performance"]["summary"]
    assert first["drift"]["summary"]["sample"]["sampled"] is False


def test_a_sample_is_reproducible_from_the_runs_seed(
    monitored: Monitored, app: Any, settings: Any, db: Any, small_parts: None
) -> None:
    from assay_server.checks.sampling import SeededSample

    app.extensions["assay_settings"] = settings.with_overrides(max_window_rows=200)
    _log_in_batches(monitored)
    monitor = monitored.create_monitor(checks=["drift"])
    run = monitored.run(monitor["id"])
    drift = monitored.report(monitored.reports()[0]["id"])
    drawn = []
    for rows_per_part in (400, 10_000):  # however the window is cut
        sample = SeededSample(200, seed=run["id"])
        with db.unit_of_work(write=False) as session:
            for part in stream_window(session, _version_id(session), max_rows=rows_per_part):
                sample.update(part.frame)
        drawn.append(sample.result())
    assert list(drawn[0]["prediction_id"]) == list(drawn[1]["prediction_id"])
    income = drawn[0]["feature.income"].to_numpy()
    histogram = drift["detail"]["histograms"]["income"]
    counts, _edges = np.histogram(income, bins=np.asarray(histogram["edges"]))
    assert counts.tolist() == histogram["current"]


def test_streaming_with_a_row_budget_reads_whole_batches_and_every_row(
    monitored: Monitored, db: Any
) -> None:
    _log_in_batches(monitored)
    with db.unit_of_work(write=False) as session:
        version_id = _version_id(session)
        whole = read_window(session, version_id).frame
        parts = [p.frame for p in stream_window(session, version_id, max_rows=450)]
    assert [len(p) for p in parts] == [300, 200, 300, 200, 300, 200]  # one batch each
    ids = [i for p in parts for i in p["prediction_id"]]
    assert ids == list(whole["prediction_id"])
    labels = [v for p in parts for v in p["label"]]
    assert [None if v != v else v for v in labels] == [
        None if v != v else v for v in whole["label"]
    ]


def test_a_streamed_window_carries_each_rows_label_whatever_its_json_type(
    client: Any, contributor_headers: dict[str, str], db: Any
) -> None:
    from tests.api.factories import API, create_model, declared_version
    from tests.ingest.conftest import row

    create_model(client, contributor_headers, "kinds", task="multiclass_classification")
    declared_version(client, contributor_headers, "kinds")
    labels = [1, "churned", -3, True, None, "é", 'it\'s "quoted", [1]', "x,y"]
    url = f"{API}/models/kinds/versions/1/predictions"
    for start in (0, 4):  # two batches
        rows = [row(i, label=labels[i]) for i in range(start, start + 4)]
        stored = client.post(url, json={"rows": rows}, headers=contributor_headers)
        assert stored.json["accepted"] == 4, stored.json
    corrected = {"labels": [{"prediction_id": "r5", "label": "later"}]}
    response = client.post(
        f"{API}/models/kinds/labels", json=corrected, headers=contributor_headers
    )
    assert response.status_code == 200
    with db.unit_of_work(write=False) as session:
        version_id = _version_id(session, "kinds")
        parts = list(stream_window(session, version_id, max_rows=1))
    assert [len(p) for p in parts] == [4, 4]
    got = {i: v for p in parts for i, v in zip(p.frame["prediction_id"], p.labels, strict=True)}
    expected = {f"r{i}": label for i, label in enumerate(labels)} | {"r5": "later"}
    assert {k: v for k, v in got.items() if v is not None and v == v} == {
        k: v for k, v in expected.items() if v is not None
    }


def test_estimated_performance_is_summed_over_every_row(
    monitored: Monitored, app: Any, settings: Any, db: Any, small_parts: None
) -> None:
    from assay_server.checks.estimated import estimate_performance
    from assay_server.monitoring.run_inputs import _calibration

    app.extensions["assay_settings"] = settings.with_overrides(max_window_rows=100)
    _log_in_batches(monitored)
    monitor = monitored.create_monitor(checks=["estimated_performance"], min_rows=50)
    run = monitored.run(monitor["id"])
    assert run["statuses"]["estimated_performance"] != "insufficient_data", run
    [summary] = monitored.reports(kind="estimated_performance")
    report = monitored.report(summary["id"])
    assert (report["rows_used"], report["sampled"]) == (1500, False)
    with db.unit_of_work(write=False) as session:
        version = session.get(ModelVersion, _version_id(session))
        calibration = _calibration(app.extensions["assay_settings"], version, {})
        window = read_window(session, version.id)
    expected = estimate_performance(
        calibration,
        window.frame["score"].to_numpy(),
        predictions=class_labels(window.predictions).to_numpy(),
    )
    metrics = report["summary"]["metrics"]
    assert metrics["n_estimated"] == expected["n_estimated"] == 1500
    for name in ("accuracy", "precision", "recall", "f1"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-12), name
    realised = report["summary"]["realised"]
    assert realised["n_labelled"] == 900 and report["summary"]["sample"]["rows"] == 100
