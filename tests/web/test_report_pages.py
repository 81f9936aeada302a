"""Report pages draw their charts from the report itself: drift per column from the histograms the
drift check stores (drifted columns first), bias per group against the levels, performance
against its baseline with the confusion matrix, estimates with their band."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion

from assay_server.checks.drift import detect_drift, histograms
from assay_server.checks.performance import classification_metrics
from assay_server.checks.profile import profile_reference
from assay_server.web.report_charts import (
    band,
    confusion_matrix,
    estimated_charts,
    level_value,
    report_charts,
)
from tests.monitoring.conftest import Monitored

from .html_tables import table_rows
from .scenario import Scenario

FIGURE = re.compile(
    r'<script type="application/json" id="chart-(?P<name>[\w-]+)-figure">(?P<json>.*?)</script>',
    re.S,
)
CAPTION = re.compile(
    r'<figure class="chart" id="chart-(?P<name>[\w-]+)">.*?<figcaption[^>]*>'
    r"(?P<caption>.*?)</figcaption>",
    re.S,
)


def _charts(page: str) -> dict[str, dict[str, Any]]:
    """Every chart's figure on the page, by name, in page order."""
    return {match["name"]: json.loads(match["json"]) for match in FIGURE.finditer(page)}


def _captions(page: str) -> list[str]:
    return [match["caption"] for match in CAPTION.finditer(page)]


def _page(signed_in: Any, report_id: int) -> str:
    response = signed_in("viewer").get(f"/reports/{report_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# drift -------------------------------------------------------------------------------------


def test_a_drift_report_stores_reference_and_window_counts_per_bin(
    scenario: Scenario, monitored: Monitored
):
    report = monitored.report(scenario.reports["drift"])
    shapes = report["detail"]["histograms"]
    columns = {column["feature"]: column for column in report["detail"]["columns"]}
    assert set(shapes) == set(columns)
    for feature, shape in shapes.items():
        column = columns[feature]
        assert sum(shape["reference"]) == column["n_reference"], feature
        assert sum(shape["current"]) == column["n_current"], feature
        if column["kind"] == "numerical":
            assert len(shape["edges"]) == len(shape["reference"]) + 1 == len(shape["current"]) + 1
            assert shape["edges"] == sorted(shape["edges"])
        else:
            assert len(shape["labels"]) == len(shape["reference"]) == len(shape["current"])


def test_histograms_widen_the_reference_bins_to_a_shifted_window_and_sum_other_categories():
    rng = np.random.default_rng(3)
    categories = [f"c{i:02d}" for i in range(30)]
    profile = profile_reference(
        {"x": rng.normal(0, 1, 500), "c": rng.choice(categories, 500)},
        {"x": "numerical", "c": "categorical"},
    )
    window = {"x": rng.normal(50, 1, 200), "c": rng.choice([*categories, "new"], 200)}
    shapes = histograms(profile, window)
    assert shapes["x"]["edges"][-1] >= float(np.max(window["x"]))  # nothing falls off the end
    assert sum(shapes["x"]["current"]) == 200 and sum(shapes["x"]["reference"]) == 500
    assert shapes["x"]["reference"][-1] == 0 and shapes["x"]["current"][0] == 0
    assert len(shapes["c"]["labels"]) == 21 and shapes["c"]["labels"][-1] == "(other)"
    assert sum(shapes["c"]["current"]) == 200 and sum(shapes["c"]["reference"]) == 500
    json.dumps(shapes, allow_nan=False)
    # the columns' own results are unchanged by it
    assert set(detect_drift(profile, window).as_json()["columns"][0]) >= {"feature", "score"}


def test_the_drift_page_draws_each_column_drifted_first_from_the_stored_shares(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["drift"])
    page = _page(signed_in, report["id"])
    charts = _charts(page)
    drifted = [c["feature"] for c in report["detail"]["columns"] if c["drifted"]]
    steady = [c["feature"] for c in report["detail"]["columns"] if not c["drifted"]]
    assert drifted and steady
    captions = _captions(page)
    assert [caption.split(":")[0] for caption in captions] == drifted + steady
    assert all("not drifted" not in caption for caption in captions[: len(drifted)])
    # the table lists them in the same order
    assert [row.cells[0] for row in table_rows(page, "detail-1")] == drifted + steady
    first = next(iter(charts.values()))
    reference, window = first["data"]
    shape = report["detail"]["histograms"][drifted[0]]
    assert reference["y"] == pytest.approx(
        [n / sum(shape["reference"]) for n in shape["reference"]]
    )
    assert window["y"] == pytest.approx([n / sum(shape["current"]) for n in shape["current"]])
    assert 'src="/static/vendor/plotly.min.js"' in page


def test_a_drift_report_without_stored_histograms_shows_its_table_and_no_chart():
    detail = {"columns": [{"feature": "age", "drifted": True, "method": "ks"}]}
    assert report_charts("drift", {}, detail) == []


# bias --------------------------------------------------------------------------------------


def test_the_bias_page_draws_each_groups_rates_and_the_disparity_against_its_levels(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["bias"])
    charts = _charts(_page(signed_in, report["id"]))
    [feature] = report["detail"]["features"]
    groups = charts["bias-groups-0"]["data"]
    assert [trace["name"] for trace in groups] == [g["group"] for g in feature["groups"]]
    for trace, group in zip(groups, feature["groups"], strict=True):
        assert trace["y"] == [group[key] for key in ("selection_rate", "tpr", "fpr", "accuracy")]
    disparity, *levels = charts["bias-disparity"]["data"]
    metric = report["summary"]["levels"]["metric"]
    assert disparity["y"] == [feature[metric]]
    assert [line["y"][0] for line in levels] == [
        report["summary"]["levels"]["warning"],
        report["summary"]["levels"]["alert"],
    ]


# performance -------------------------------------------------------------------------------


def test_the_performance_page_draws_metrics_baseline_levels_and_confusion_matrix(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["performance"])
    charts = _charts(_page(signed_in, report["id"]))
    assert {"metrics", "degradation", "confusion"} <= set(charts)
    window, baseline = charts["metrics"]["data"]
    assert window["y"][0] == report["summary"]["metrics"]["accuracy"]
    assert baseline["y"][0] == report["summary"]["baseline"]["metrics"]["accuracy"]
    degradation = report["summary"]["degradation"]
    bars, warning, alert = charts["degradation"]["data"]
    assert bars["y"] == [degradation["current"], degradation["baseline"]]
    assert warning["y"][0] == pytest.approx(degradation["baseline"] * (1 - degradation["warning"]))
    assert alert["y"][0] == pytest.approx(degradation["baseline"] * (1 - degradation["alert"]))
    [cells] = [trace["z"] for trace in charts["confusion"]["data"]]
    assert sum(map(sum, cells)) == report["summary"]["metrics"]["n_labelled"]


@pytest.mark.parametrize("seed", range(6))
def test_the_confusion_matrix_solved_from_the_stored_figures_is_sklearns(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    labels = rng.integers(0, 2, n)
    predictions = np.where(rng.uniform(0, 1, n) < rng.uniform(0.5, 0.95), labels, 1 - labels)
    metrics = classification_metrics(labels, predictions, positive_label=1)
    [[tn, fp], [fn, tp]] = sklearn_confusion(labels, predictions, labels=[0, 1])
    assert confusion_matrix(metrics) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def test_no_confusion_matrix_when_the_figures_do_not_determine_it():
    perfect = {"n_labelled": 10, "accuracy": 1.0, "precision": 1.0, "recall": 1.0}
    assert confusion_matrix(perfect) is None
    assert confusion_matrix({"n_labelled": 10, "mae": 0.2}) is None  # regression


def test_the_level_of_a_metric_follows_its_direction_and_mode():
    assert level_value("accuracy", 0.8, 0.1, "relative") == pytest.approx(0.72)
    assert level_value("accuracy", 0.8, 0.05, "absolute") == pytest.approx(0.75)
    assert level_value("rmse", 2.0, 0.5, "relative") == pytest.approx(3.0)


# estimated performance ---------------------------------------------------------------------


def test_an_estimate_is_drawn_with_its_95_percent_band_beside_baseline_and_realised():
    summary = {
        "metrics": {"accuracy": 0.8, "f1": 0.5, "n_estimated": 400},
        "baseline": {"source": "holdout", "metrics": {"accuracy": 0.85}},
        "realised": {"accuracy": 0.78},
    }
    [chart] = estimated_charts(summary)
    estimate, baseline, realised = chart.figure["data"]
    assert estimate["y"] == [0.8, 0.5]
    assert estimate["error_y"]["array"] == pytest.approx([1.96 * 0.02, 1.96 * 0.025])
    assert (baseline["y"], realised["y"]) == ([0.85, None], [0.78, None])
    assert band(0.5, 0) == 0.0
