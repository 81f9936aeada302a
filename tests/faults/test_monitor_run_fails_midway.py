"""A monitor run that fails half-way — while computing its checks, or while storing their
reports — is recorded failed with nothing of it half-written (no report of it, no success in
the audit trail), and the next run of the monitor succeeds."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from assay_server.db import Database
from assay_server.monitoring import evaluate
from assay_server.monitoring.models import Report
from assay_server.monitoring.runner import FAILED_ON_THE_SERVER, MonitorRunner
from tests.api.factories import audit_actions
from tests.monitoring.conftest import Monitored

CHECKS = ["drift", "data_quality", "bias"]


def _monitor(monitored: Monitored) -> dict[str, Any]:
    monitored.log(400)
    return monitored.create_monitor(checks=CHECKS, sensitive_features=["sex"], min_rows=100)


def _stored_reports(db: Database) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def _assert_failed_then_succeeds(
    monitored: Monitored, db: Database, monitor: dict[str, Any], failed: dict[str, Any]
) -> None:
    assert failed["status"] == "failed", failed
    assert failed["error"] == FAILED_ON_THE_SERVER.format(run_id=failed["id"])
    assert failed["statuses"] == {}
    assert _stored_reports(db) == 0
    assert monitored.reports() == []

    succeeded = monitored.run(monitor["id"])

    assert succeeded["status"] == "succeeded", succeeded
    reports = monitored.reports()
    assert sorted(r["kind"] for r in reports) == sorted(CHECKS)
    assert {r["run_id"] for r in reports} == {succeeded["id"]}
    assert _stored_reports(db) == len(CHECKS)
    actions = audit_actions(
        monitored.client, monitored.headers, "monitor", f"churn/monitors/{monitor['id']}"
    )
    assert actions == [
        "monitor.created",
        "monitor.run_requested",
        "monitor.run_failed",
        "monitor.run_requested",
        "monitor.run_succeeded",
    ]


def test_a_check_that_raises_after_the_others_computed_stores_no_report(
    monitored: Monitored,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = _monitor(monitored)
    computed: list[str] = []

    def computing(kind: str) -> Any:
        real = evaluate.CHECK_FUNCTIONS[kind]

        def check(inputs: Any) -> Any:
            draft = real(inputs)
            computed.append(draft.kind)
            return draft

        return check

    def raises(inputs: Any) -> Any:
        raise RuntimeError("the bias check fell over, with stored data in its message")

    with monkeypatch.context() as patched:
        patched.setitem(evaluate.CHECK_FUNCTIONS, "drift", computing("drift"))
        patched.setitem(evaluate.CHECK_FUNCTIONS, "data_quality", computing("data_quality"))
        patched.setitem(evaluate.CHECK_FUNCTIONS, "bias", raises)
        failed = monitored.run(monitor["id"])

    assert computed == ["drift", "data_quality"]
    assert "stored data" not in failed["error"]
    _assert_failed_then_succeeds(monitored, db, monitor, failed)


def test_a_run_that_fails_after_its_reports_were_written_keeps_none_of_them(
    monitored: Monitored,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = _monitor(monitored)
    written: list[int] = []
    audit_outcome = MonitorRunner._audit_outcome

    def fails_once_written(self: MonitorRunner, session: Any, run: Any, reports: Any) -> None:
        audit_outcome(self, session, run, reports)
        if reports:  # flushed: they have ids, in the transaction that now fails
            written.extend(report.id for report in reports)
            raise RuntimeError("the store failed after the reports were written")

    with monkeypatch.context() as patched:
        patched.setattr(MonitorRunner, "_audit_outcome", fails_once_written)
        failed = monitored.run(monitor["id"])

    assert len(written) == len(CHECKS)
    _assert_failed_then_succeeds(monitored, db, monitor, failed)
