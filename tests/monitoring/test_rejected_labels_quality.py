"""Data quality reports the labels refused at the labels endpoint, as a share of those received."""

from __future__ import annotations

from typing import Any

import pytest

from tests.monitoring.conftest import Monitored


def _send_labels(monitored: Monitored, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = {"labels": [{"prediction_id": pid, "label": label} for pid, label in pairs]}
    response = monitored.client.post(monitored.url("/labels"), json=body, headers=monitored.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _quality_report(monitored: Monitored) -> dict[str, Any]:
    monitor = monitored.create_monitor(checks=["data_quality"], window={"hours": 2})
    monitored.run(monitor["id"])
    [report] = monitored.reports(monitor_id=monitor["id"])
    return report


@pytest.mark.parametrize(
    ("refused", "status"), [(60, "alert"), (20, "warning")], ids=["alert", "warning"]
)
def test_refused_labels_are_a_data_quality_finding_with_its_threshold(
    monitored: Monitored, refused: int, status: str
) -> None:
    ids = monitored.log(400, labelled=False)
    valid = [(pid, i % 2) for i, pid in enumerate(ids[:200])]
    bad = [(pid, "yes") for pid in ids[200 : 200 + refused]]
    assert _send_labels(monitored, valid + bad)["rejected"] == refused

    report = _quality_report(monitored)

    received = 200 + refused
    summary = report["summary"]
    assert (summary["labels_received"], summary["labels_rejected"]) == (received, refused)
    assert summary["rejected_label_share"] == pytest.approx(refused / received)
    [finding] = [f for f in report["findings"] if f["subject"] == "rejected_labels"]
    assert finding["status"] == status
    assert finding["metric"] == "rejected_label_share"
    assert finding["value"] == pytest.approx(refused / received)
    assert finding["threshold"] == {"warning": 0.05, "alert": 0.2}[status]
    assert (finding["count"], finding["received"]) == (refused, received)
    assert report["status"] == status


def test_valid_labels_raise_no_finding(monitored: Monitored) -> None:
    ids = monitored.log(300, labelled=False)
    _send_labels(monitored, [(pid, i % 2) for i, pid in enumerate(ids)])

    report = _quality_report(monitored)

    assert report["status"] == "ok"
    assert (report["summary"]["labels_received"], report["summary"]["labels_rejected"]) == (300, 0)
    assert report["summary"]["rejected_label_share"] == 0.0
    assert not [f for f in report["findings"] if f["subject"] == "rejected_labels"]


def test_the_monitor_thresholds_apply_to_refused_labels(monitored: Monitored) -> None:
    ids = monitored.log(300, labelled=False)
    _send_labels(monitored, [(pid, 1) for pid in ids[:95]] + [(ids[99], "no")] * 5)

    monitor = monitored.create_monitor(
        checks=["data_quality"], thresholds={"data_quality": {"warning": 0.01, "alert": 0.04}}
    )
    monitored.run(monitor["id"])
    [report] = monitored.reports(monitor_id=monitor["id"])

    [finding] = [f for f in report["findings"] if f["subject"] == "rejected_labels"]
    assert (finding["status"], finding["value"], finding["threshold"]) == ("alert", 0.05, 0.04)
