"""Evidently's page per kind of report, built off the request path: drift gets its drift
report, data quality its data summary, performance its classification report; bias has none.
A request never builds one: it answers 202 with Retry-After while a background build runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from assay_server.monitoring import html
from tests.api.factories import API

from .conftest import Monitored

pytestmark = pytest.mark.commits  # the page is built in a thread of its own, on the store


def _run_every_check(monitored: Monitored) -> dict[str, int]:
    monitored.log(600, seed=4, prefix="e")
    monitor = monitored.create_monitor(
        checks=["drift", "data_quality", "performance", "bias"],
        sensitive_features=["sex"],
        min_rows=100,
    )
    run = monitored.run(monitor["id"])
    assert run["status"] == "succeeded", run
    return {report["kind"]: report["id"] for report in monitored.reports()}


def _wait_for_builds(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while html._building and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not html._building, "the background build did not finish"


def _page(monitored: Monitored, report_id: int) -> Any:
    return monitored.client.get(f"{API}/reports/{report_id}/html", headers=monitored.headers)


def test_a_request_starts_the_build_and_answers_202_until_the_page_is_ready(
    monitored: Monitored,
) -> None:
    reports = _run_every_check(monitored)
    first = _page(monitored, reports["drift"])
    assert first.status_code == 202, first.get_data(as_text=True)
    assert first.headers["Retry-After"] == str(html.RETRY_SECONDS)
    assert first.json["status"] == "preparing"
    _wait_for_builds()
    ready = _page(monitored, reports["drift"])
    assert ready.status_code == 200
    assert "drift report #" in ready.get_data(as_text=True)
    assert ready.headers["Content-Security-Policy"].startswith("sandbox allow-scripts;")


def test_each_kind_gets_its_own_evidently_report_and_bias_none(
    monitored: Monitored, db: Any, settings: Any
) -> None:
    reports = _run_every_check(monitored)
    assert (
        html.build_missing_pages(db, settings, now=monitored.clock()) == 3
    )  # drift, data quality, performance
    pages = {
        kind: _page(monitored, reports[kind]).get_data(as_text=True)
        for kind in ("drift", "data_quality", "performance")
    }
    assert "Drifted Columns" in pages["drift"] or "Drift" in pages["drift"]
    assert "Dataset" in pages["data_quality"] and "Drifted Columns" not in pages["data_quality"]
    assert "Accuracy" in pages["performance"] and "Drifted Columns" not in pages["performance"]
    assert len({len(page) for page in pages.values()}) == 3  # three different documents
    bias = _page(monitored, reports["bias"])
    assert bias.status_code == 404
    assert bias.json["error"]["details"]["page"] == f"/reports/{reports['bias']}"
    assert (
        html.build_missing_pages(db, settings, now=monitored.clock()) == 0
    )  # each page is built once


def test_pages_are_built_on_a_sample_capped_by_the_setting_drawn_while_streaming(
    monitored: Monitored, db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay_server.ingest.store import SqlPredictionStore, prediction_store
    from assay_server.monitoring import evidently_report

    reports = _run_every_check(monitored)
    current_rows: list[int] = []
    parts: list[int | None] = []
    real_html, real_stream = evidently_report.evidently_html, SqlPredictionStore.stream_window

    def drawing(reference: Any, current: Any, *args: Any, **kwargs: Any) -> Any:
        current_rows.append(len(current))
        return real_html(reference, current, *args, **kwargs)

    def streaming(*args: Any, **kwargs: Any) -> Any:
        parts.append(kwargs.get("max_rows"))
        return real_stream(*args, **kwargs)

    monkeypatch.setattr(evidently_report, "evidently_html", drawing)
    monkeypatch.setattr(SqlPredictionStore, "stream_window", streaming)
    capped = settings.with_overrides(evidently_max_rows=200)
    html.build_page(db, capped, reports["drift"])
    assert current_rows == [200]  # of the window's 600 rows
    assert parts == [html.ROWS_PER_BLOCK]  # read part by part, never whole
    with db.unit_of_work(write=False) as session:
        report = session.get(html.Report, reports["drift"])
        store = prediction_store(session)
        first = html.sampled_window(store, report.version_id, report, 200)
        again = html.sampled_window(store, report.version_id, report, 200)
        whole = html.sampled_window(store, report.version_id, report, 10_000)
    assert len(first) == 200 and len(whole) == 600
    # the same rows each time (seeded by the report), rows of the window
    assert list(first.frame["prediction_id"]) == list(again.frame["prediction_id"])
    assert set(first.frame["prediction_id"]) < set(whole.frame["prediction_id"])
