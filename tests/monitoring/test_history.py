"""The model pages' series, aggregated in SQL, say what the reports themselves say.

Real runs are the oracle for the JSON reads (each series against the reports' own JSON from
the API); hand-made reports pin the rules: the time range, the model, insufficient reports,
groups too small to judge, the newest status per check, the sparkline's choice of figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from assay_server.db import Database
from assay_server.monitoring import history
from assay_server.monitoring.models import MonitorRun, Report
from assay_server.registry.models import ModelVersion, RegisteredModel
from tests.api.factories import create_model, register_version
from tests.monitoring.conftest import Monitored

CHECKS = ["drift", "data_quality", "bias", "performance", "estimated_performance"]
LONG_AGO = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _ids(db: Database, name: str) -> tuple[int, int]:
    with db.unit_of_work(write=False) as session:
        model = session.query(RegisteredModel).filter_by(name=name).one()
        version = session.query(ModelVersion).filter_by(model_id=model.id, version=1).one()
        return model.id, version.id


def _by_kind(monitored: Monitored, kind: str) -> list[dict[str, Any]]:
    """The model's reports of ``kind`` with their detail, oldest first."""
    listed = monitored.reports(kind=kind, limit=100)
    return [monitored.report(r["id"]) for r in reversed(listed)]


def test_each_series_reads_the_figures_of_the_reports(monitored: Monitored, db: Database) -> None:
    monitor = monitored.create_monitor(
        checks=CHECKS, window={"hours": 1}, sensitive_features=["sex"]
    )
    for hour, shift in enumerate((0.0, 6.0, 12.0)):
        monitored.log(400, seed=hour + 3, shift=shift, prefix=f"h{hour}")
        assert monitored.run(monitor["id"])["status"] == "succeeded"
        monitored.clock.advance(hours=1)
    model_id, _ = _ids(db, monitored.model)

    with db.unit_of_work(write=False) as session:
        shares = history.drift_shares(session, model_id, LONG_AGO)
        columns = history.feature_drift(session, model_id, LONG_AGO)
        points = history.performance(session, model_id, LONG_AGO)
        groups = history.group_rates(session, model_id, LONG_AGO)
        volumes = history.volumes(session, model_id, LONG_AGO)

    drift = _by_kind(monitored, "drift")
    assert len(drift) == 3
    assert shares.share == pytest.approx([r["summary"]["share_drifted"] for r in drift])
    assert shares.share[-1] > shares.share[0]  # the shift grows run by run
    assert shares.alert_level == drift[-1]["summary"]["levels"]["alert"]
    assert [(c.feature, c.method, c.score, c.threshold, c.drifted) for c in columns] == [
        (c["feature"], c["method"], pytest.approx(c["score"]), c["threshold"], c["drifted"])
        for r in drift
        for c in r["detail"]["columns"]
    ]

    for kind in history.PERFORMANCE_KINDS:
        reports = _by_kind(monitored, kind)
        mine = [p for p in points if p.kind == kind]
        assert len(mine) == len(reports) == 3
        for point, report in zip(mine, reports, strict=True):
            summary = report["summary"]
            assert point.metric == summary["metric"] == "accuracy"
            assert point.value == pytest.approx(summary["metrics"]["accuracy"])
            assert point.baseline == pytest.approx(summary["baseline"]["metrics"]["accuracy"])

    bias = _by_kind(monitored, "bias")
    expected = [
        (f["feature"], g["group"], g["selection_rate"], g["tpr"])
        for r in bias
        for f in r["detail"]["features"]
        for g in f["groups"]
        if not g["below_min_count"]
    ]
    assert expected and [(p.feature, p.group, p.selection_rate, p.tpr) for p in groups] == [
        (f, g, pytest.approx(s), pytest.approx(t)) for f, g, s, t in expected
    ]

    performance = _by_kind(monitored, "performance")
    assert [v.rows for v in volumes] == [r["rows_total"] for r in performance]
    assert [v.label_coverage for v in volumes] == pytest.approx(
        [r["summary"]["label_coverage"] for r in performance]
    )


class Seeder:
    """Reports written straight into the store, one run each, for the rules below."""

    def __init__(self, db: Database, monitored: Monitored) -> None:
        self.db = db
        self.model_id, self.version_id = _ids(db, monitored.model)
        self.monitor_id = monitored.create_monitor(checks=["drift"])["id"]

    def report(
        self,
        at: datetime,
        kind: str,
        status: str = "ok",
        summary: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        rows: int = 100,
    ) -> None:
        with self.db.unit_of_work() as session:
            run = MonitorRun(
                monitor_id=self.monitor_id,
                trigger="manual",
                attempt=1,
                status="succeeded",
                requested_by="test",
                created_at=at,
                sampled=False,
                statuses={kind: status},
            )
            session.add(run)
            session.flush()
            session.add(
                Report(
                    run_id=run.id,
                    monitor_id=self.monitor_id,
                    model_id=self.model_id,
                    version_id=self.version_id,
                    kind=kind,
                    status=status,
                    rows_total=rows,
                    rows_used=rows,
                    sampled=False,
                    summary=summary or {},
                    detail=detail or {},
                    findings=[],
                    created_at=at,
                )
            )


def _drift(share: float) -> dict[str, Any]:
    return {"share_drifted": share, "levels": {"warning": 0.2, "alert": 0.4}}


def _accuracy(value: float) -> dict[str, Any]:
    return {"metric": "accuracy", "metrics": {"accuracy": value, "f1": 0.1}}


def test_series_keep_to_the_model_the_time_range_and_judged_reports(
    monitored: Monitored, db: Database
) -> None:
    churn = Seeder(db, monitored)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    churn.report(start - timedelta(days=1), "drift", summary=_drift(0.9))  # before the range
    churn.report(start, "drift", summary=_drift(0.1))
    churn.report(start + timedelta(hours=1), "drift", "insufficient_data", {"reason": "few"})
    churn.report(start + timedelta(hours=2), "drift", "alert", _drift(0.5))
    groups = [
        {"group": "F", "selection_rate": 0.5, "tpr": 0.6, "below_min_count": False},
        {"group": "M", "selection_rate": 0.3, "tpr": None, "below_min_count": False},
        {"group": "X", "selection_rate": 1.0, "tpr": 1.0, "below_min_count": True},
    ]
    churn.report(start, "bias", detail={"features": [{"feature": "sex", "groups": groups}]})

    with db.unit_of_work(write=False) as session:
        shares = history.drift_shares(session, churn.model_id, start)
        rates = history.group_rates(session, churn.model_id, start)
        statuses = history.latest_statuses(session, [churn.model_id])
        volumes = history.volumes(session, churn.model_id, start)

    assert shares.share == [0.1, 0.5]
    assert shares.at == [start, start + timedelta(hours=2)]
    assert shares.alert_level == 0.4
    assert [(r.group, r.selection_rate, r.tpr) for r in rates] == [
        ("F", 0.5, 0.6),
        ("M", 0.3, None),
    ]
    assert statuses == {churn.model_id: {"drift": "alert", "bias": "ok"}}
    assert len(volumes) == 4  # one per run in the range, whatever its verdict


def test_a_trend_follows_the_best_figure_a_model_has_as_daily_means(
    monitored: Monitored, db: Database, client: Any, admin_headers: dict[str, str]
) -> None:
    create_model(client, admin_headers, "other")
    features = {"features": [{"name": "age", "kind": "numerical"}]}
    assert register_version(client, admin_headers, "other", metadata=features).status_code == 201
    churn = Seeder(db, monitored)
    other = Seeder(db, Monitored(client, admin_headers, monitored.clock, "other"))
    day = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
    for hours, accuracy in ((0, 0.8), (1, 0.6), (24, 0.5)):
        churn.report(day + timedelta(hours=hours), "performance", summary=_accuracy(accuracy))
        churn.report(day + timedelta(hours=hours), "drift", summary=_drift(0.3))
    churn.report(day, "performance", "insufficient_data", {"reason": "no labels"})
    for hours, share in ((0, 0.2), (30, 0.4), (31, 0.6)):
        other.report(day + timedelta(hours=hours), "drift", summary=_drift(share))

    with db.unit_of_work(write=False) as session:
        trends = history.trends(session, [churn.model_id, other.model_id], day)
        assert history.trends(session, [], day) == {}

    assert trends[churn.model_id].kind == "performance"
    assert trends[churn.model_id].values == pytest.approx([0.7, 0.5])
    assert trends[other.model_id].kind == "drift"
    assert trends[other.model_id].values == pytest.approx([0.2, 0.5])
