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


def test_pages_are_built_on_a_sample_capped_by_the_setting(
    monitored: Monitored, db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _run_every_check(monitored)
    sizes: list[int] = []
    real = html.sample

    def counting(window: Any, size: int, seed: int) -> Any:
        sizes.append(size)
        return real(window, size, seed)

    monkeypatch.setattr(html, "sample", counting)
    html.build_page(db, settings.with_overrides(evidently_max_rows=200), reports["drift"])
    assert sizes == [200]
