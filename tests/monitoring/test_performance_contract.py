"""A performance report says how many labels it stands on, and too few are insufficient data."""

from __future__ import annotations

from .conftest import Monitored


def test_too_few_labels_are_insufficient_data_not_ok(monitored: Monitored) -> None:
    monitored.log(300)
    monitor = monitored.create_monitor(
        checks=["performance"], min_rows=50, options={"min_labelled": 500}
    )
    assert monitored.run(monitor["id"])["statuses"] == {"performance": "insufficient_data"}
    [report] = monitored.reports(kind="performance")
    summary = report["summary"]
    assert (summary["n_labelled"], summary["label_coverage"]) == (300, 1.0)
    assert summary["min_labelled"] == 500
    assert "300 labelled rows" in summary["reason"]


def test_enough_labels_give_a_verdict_that_states_them(monitored: Monitored) -> None:
    monitored.log(300)
    monitored.log(100, labelled=False, prefix="u")
    monitor = monitored.create_monitor(
        checks=["performance"], min_rows=50, options={"min_labelled": 200}
    )
    assert monitored.run(monitor["id"])["statuses"] == {"performance": "ok"}
    [report] = monitored.reports(kind="performance")
    summary = report["summary"]
    assert (summary["n_labelled"], summary["label_coverage"]) == (300, 0.75)
    assert summary["metrics"]["n_labelled"] == 300


def test_a_label_outside_the_classes_never_reaches_a_metric_and_is_counted(
    monitored: Monitored,
) -> None:
    ids = monitored.log(400)
    bad = {
        "prediction_id": "odd-one",
        "timestamp": monitored.clock().timestamp() - 60,
        "features": {"age": 40.0, "income": 20000.0, "plan": "pro"},
        "prediction": 1,
        "score": 1.7,
        "label": "yes",
    }
    response = monitored.client.post(
        monitored.url("/versions/1/predictions"), json={"rows": [bad]}, headers=monitored.headers
    )
    assert response.json["rejected"] == 1
    assert {e["field"] for e in response.json["errors"]} == {"score", "label"}
    late = monitored.client.post(
        monitored.url("/labels"),
        json={"labels": [{"prediction_id": ids[0], "label": "yes"}]},
        headers=monitored.headers,
    )
    assert (late.json["rejected"], late.json["updated"]) == (1, 0)
    monitored.clock.advance(seconds=1)  # the window ends before now: take in this second
    monitor = monitored.create_monitor(checks=["performance", "data_quality"], min_rows=50)
    run = monitored.run(monitor["id"])
    assert run["rows_total"] == 400
    quality = monitored.reports(kind="data_quality")[0]["summary"]
    assert quality["rejected_rows"] == 1
    metrics = monitored.reports(kind="performance")[0]["summary"]["metrics"]
    assert metrics["n_labelled"] == 400 and metrics["roc_auc"] is not None
