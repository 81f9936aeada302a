"""The compliance report shows monitoring as readable tables with a chart per check over
the last 30 days, and ingest as a daily summary rather than one audit row per batch."""

from __future__ import annotations

import re

from tests.api.factories import API
from tests.monitoring.conftest import Monitored

REPORT = f"{API}/models/churn/versions/1/compliance-report"
QUALITY = {"data_quality": {"warning": 0.05, "alert": 0.2}}


def _two_days_of_runs(monitored: Monitored) -> None:
    monitor = monitored.create_monitor(
        checks=["drift", "data_quality"], window={"hours": 1}, thresholds=QUALITY
    )
    monitored.log(400, seed=1, prefix="a")
    monitored.log(300, seed=2, prefix="b")
    monitored.run(monitor["id"])
    monitored.clock.advance(hours=26)
    monitored.log(400, seed=3, prefix="c", missing_age=0.5, shift=15)
    monitored.run(monitor["id"])


def test_monitoring_is_a_table_of_findings_with_a_history_per_check(monitored: Monitored) -> None:
    _two_days_of_runs(monitored)
    bundle = monitored.client.get(f"{REPORT}?format=json", headers=monitored.headers).json
    quality = bundle["monitoring"]["data_quality"]
    assert [point["status"] for point in quality["history"]] == ["ok", "alert"]
    assert quality["history"][1]["value"] >= 0.2
    [finding] = [f for f in quality["findings"] if f["subject"] == "age"]
    assert finding["metric"] == "missing_share" and finding["threshold"] == 0.2
    assert len(bundle["monitoring"]["drift"]["history"]) == 2

    html = monitored.client.get(REPORT, headers=monitored.headers).get_data(as_text=True)
    assert html.count('<svg class="spark"') == 2  # drift and data quality; no bias, no perf.
    assert "<th>threshold</th>" in html and "missing_share" in html
    raw = re.search(r"\{'|\{&#39;", html)
    assert raw is None, html[raw.start() - 300 : raw.end() + 100]  # no Python dict printed


def test_ingest_is_summed_per_day_and_kept_out_of_the_event_rows(monitored: Monitored) -> None:
    _two_days_of_runs(monitored)
    bundle = monitored.client.get(f"{REPORT}?format=json", headers=monitored.headers).json
    actions = [e["action"] for e in bundle["audit_events"]]
    assert "predictions.ingested" not in actions and "predictions.rolled_up" not in actions
    days = bundle["ingest_daily"]
    assert sum(day["accepted"] for day in days) == 1100
    assert sum(day["batches"] for day in days) == 3 and len(days) == 2
    assert days[0]["date"] < days[1]["date"]
    html = monitored.client.get(REPORT, headers=monitored.headers).get_data(as_text=True)
    assert "Prediction ingest, per day" in html and ">1100<" not in html  # per day, not total
    assert html.count("predictions.ingested") == 0


def test_labels_received_and_rejected_are_summed_per_day(monitored: Monitored) -> None:
    ids = monitored.log(100, labelled=False)
    pairs = [(pid, i % 2) for i, pid in enumerate(ids[:20])] + [(pid, "yes") for pid in ids[20:25]]
    body = {"labels": [{"prediction_id": pid, "label": label} for pid, label in pairs]}
    sent = monitored.client.post(monitored.url("/labels"), json=body, headers=monitored.headers)
    assert sent.json["rejected"] == 5, sent.get_data(as_text=True)
    bundle = monitored.client.get(f"{REPORT}?format=json", headers=monitored.headers).json
    [day] = bundle["ingest_daily"]
    assert (day["accepted"], day["labels_received"], day["labels_rejected"]) == (100, 25, 5)
    html = monitored.client.get(REPORT, headers=monitored.headers).get_data(as_text=True)
    assert "<th>labels rejected</th>" in html
    assert '<td class="num">25</td>\n<td class="num">5</td>' in html
