"""A version's retraining chain names its rollouts and the comparisons their step gates
recorded (``governance/report_chain.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from assay_server.governance.report_chain import retraining_chain
from assay_server.registry.models import ModelVersion
from assay_server.scheduler import MonitorScheduler
from tests.monitoring.conftest import Monitored

from .release import FakeComparison, plan, prepare_release, start


def _chain_of(db: Any, version: int) -> Any:
    with db.unit_of_work(write=False) as session:
        row = session.scalars(select(ModelVersion).where(ModelVersion.version == version)).one()
        return retraining_chain(session, row)


def test_the_chain_links_the_rollout_and_its_last_recorded_comparison(
    monitored: Monitored,
    api: Any,
    comparison: FakeComparison,
    db: Any,
    settings: Any,
    clock: Any,
) -> None:
    promotion = prepare_release(monitored, api)
    assert _chain_of(db, 2)["rollouts"] == []
    rollout = start(api, plan(promotion["id"])).json
    chain = _chain_of(db, 2)
    assert chain["rollouts"] == [
        {
            "id": rollout["id"],
            "status": "running",
            "step": 0,
            "percent": 10.0,
            "link": "/models/churn/rollout",
        }
    ]
    assert chain["comparisons"] == []  # no gate judged yet

    clock.advance(minutes=61)
    monitored.log(150, version=2, prefix="step1")
    assert MonitorScheduler(db, settings, clock=clock).advance_rollouts() == 1
    [link] = _chain_of(db, 2)["comparisons"]
    assert link == {
        "id": rollout["id"],
        "champion": 1,
        "verdict": comparison.verdict.value,
        "link": "/models/churn/comparison?champion=1&challenger=2&mode=ab",
    }
    assert _chain_of(db, 1)["rollouts"] == []  # the baseline is not the candidate
