"""The rollout rule kinds judged on their own: ``rollout_min_duration`` on the version's
latest rollout, ``no_open_incident`` on the incidents open on the version."""

from __future__ import annotations

from typing import Any

from assay_server.governance.evidence import EvidenceContext
from assay_server.governance.rule_schemas import RULE_SCHEMAS
from assay_server.governance.rules import evaluate_rule
from assay_server.registry.service import RegistryService
from tests.governance.conftest import Store
from tests.monitoring.conftest import Monitored

from .release import plan, prepare_release, start

SOAK = {"id": "soak", "check": "rollout_min_duration", "hours": 1.5}
CALM = {"id": "calm", "check": "no_open_incident"}


def judge(store: Store, rule: dict[str, Any], version: int = 2) -> dict[str, Any]:
    loaded = RULE_SCHEMAS[rule["check"]]().load(rule)
    with store.session() as (session, ctx):
        row = RegistryService(session, ctx).get_version("churn", version)
        return dict(evaluate_rule(EvidenceContext(session, row, ctx.clock(), ctx.evidence), loaded))


def test_rollout_min_duration_counts_the_rollout_and_fails_a_rolled_back_one(
    monitored: Monitored, api: Any, store: Store, clock: Any
) -> None:
    promotion = prepare_release(monitored, api)
    waiting = judge(store, SOAK)
    assert (waiting["status"], waiting["observed"]) == ("pass", None)
    rollout = start(api, plan(promotion["id"])).json
    clock.advance(hours=1)
    early = judge(store, SOAK)
    assert (early["status"], early["observed"], early["threshold"]) == (
        "fail",
        1.0,
        ">= 1.5 hours of rollout",
    )
    clock.advance(minutes=30)
    assert judge(store, SOAK)["status"] == "pass"
    api.post(f"/rollouts/{rollout['id']}/rollback", ("alice", "approver"), {"reason": "no"})
    clock.advance(hours=5)
    rolled_back = judge(store, SOAK)
    assert (
        rolled_back["status"] == "fail" and "rolled back after 1.5 hours" in rolled_back["message"]
    )


def test_no_open_incident_fails_while_one_is_open_on_the_version_only(
    monitored: Monitored, api: Any, store: Store
) -> None:
    prepare_release(monitored, api)
    assert judge(store, CALM)["status"] == "pass"
    monitor = monitored.create_monitor(checks=["drift"], window={"hours": 1}, version=2)
    monitored.clock.advance(hours=1)
    monitored.log(400, version=2, shift=60.0, prefix="drifted")
    monitored.run(monitor["id"])
    failed = judge(store, CALM)
    assert (failed["status"], failed["observed"]) == ("fail", 1)
    assert "drift" in failed["message"] and failed["evidence"]["ids"]
    assert judge(store, CALM, version=1)["status"] == "pass"  # v1 has no incident
    warned = judge(store, {**CALM, "severity": "warning"})
    assert warned["status"] == "fail"  # warning or worse counts the critical one
