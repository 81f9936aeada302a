"""How figures, times and schedules read on the pages (pure functions, no app)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assay_server.web.formatting import duration, figure, schedule, share, span, when
from assay_server.web.report_tables import findings_table, performance_tables, summary_table


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (True, "yes"),
        (False, "no"),  # a bool is not shown as the int it also is
        (12345, "12,345"),
        (0.123456, "0.1235"),
        (1.5e-7, "1.5e-07"),  # a tiny p-value keeps its magnitude
        (123456.7, "123,457"),
        (float("nan"), "—"),
        (float("inf"), "∞"),
        (["age", "income"], "age, income"),
        ([], "—"),
        ({"warning": 0.3, "alert": 0.5}, "warning: 0.3, alert: 0.5"),
        ("psi", "psi"),
    ],
)
def test_figures_read_as_a_person_expects(value, shown):
    assert figure(value) == shown


def test_shares_are_percentages_and_times_are_utc_to_the_second():
    assert share(0.3175) == "31.8%"
    assert share(None) == "—"
    moment = datetime(2026, 11, 23, 9, 5, 7, 999, tzinfo=timezone.utc)
    assert when(moment) == "2026-11-23 09:05:07 UTC"
    assert when(None) == "—"
    assert span(moment, moment) == "2026-11-23 09:05:07 UTC → 2026-11-23 09:05:07 UTC"
    assert span(None, None) == "—"


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (None, "manual runs only"),
        ({"interval_seconds": 3600}, "every 1 h"),
        ({"interval_seconds": 86400 * 2}, "every 2 d"),
        ({"interval_seconds": 300}, "every 5 min"),
        ({"interval_seconds": 90}, "every 90 s"),
        ({"cron": "0 * * * *"}, "cron 0 * * * * (UTC)"),
    ],
)
def test_schedules_are_described_in_words(spec, shown):
    assert schedule(spec) == shown


def test_durations_use_the_largest_whole_unit():
    assert [duration(s) for s in (59, 60, 7200, 86400, 90000)] == [
        "59 s",
        "1 min",
        "2 h",
        "1 d",
        "25 h",
    ]


def test_the_summary_table_leaves_out_what_the_kinds_tables_show():
    summary = {"metrics": {"accuracy": 0.8}, "metric": "accuracy", "reason": "why"}
    rows = summary_table("performance", summary).rows
    assert [row.cells for row in rows] == [("metric", "accuracy")]


def test_findings_flag_alerts_and_say_what_else_was_found():
    table = findings_table(
        [
            {"subject": "dataset", "status": "alert", "value": 0.5, "threshold": 0.5,
             "message": "2 of 4 columns drifted", "columns": [{"feature": "age"}]},
            {"subject": "sex", "status": "warning", "metric": "demographic_parity_difference",
             "value": 0.12, "threshold": 0.1,
             "groups": [{"group": "F", "selection_rate": 0.6}]},
        ]
    )  # fmt: skip
    first, second = table.rows
    assert first.flagged and not second.flagged
    assert first.cells[5] == "2 of 4 columns drifted; columns: age"
    assert second.cells[2] == "demographic parity difference"
    assert second.cells[5] == "selection rates: F 0.6"


def test_performance_tables_put_metrics_beside_baseline_and_flag_the_degraded_one():
    summary = {
        "metrics": {"accuracy": 0.6, "f1": 0.5},
        "baseline": {"source": "training metrics", "metrics": {"accuracy": 0.8, "auc": 0.9}},
        "degradation": {"metric": "accuracy", "drop": 0.25, "status": "alert"},
        "realised": {"accuracy": 0.61},
    }
    metrics, degradation = performance_tables(summary)
    assert metrics.headers == ("Metric", "Current", "Baseline", "Realised")
    assert [(row.cells, row.flagged) for row in metrics.rows] == [
        (("accuracy", "0.6", "0.8", "0.61"), True),
        (("f1", "0.5", "—", "—"), False),
        (("auc", "—", "0.9", "—"), False),
    ]
    assert metrics.note == "Baseline: training metrics."
    assert ("status", "alert") in [row.cells for row in degradation.rows]


def test_a_performance_report_without_a_baseline_still_lists_its_metrics():
    [metrics] = performance_tables({"metrics": {"rmse": 1.5}, "baseline": None})
    assert [row.cells for row in metrics.rows] == [("rmse", "1.5", "—")]
    assert metrics.note == "Baseline: none."
