"""A release to roll out: ``churn`` v1 in production, v2 (with a reference dataset)
approved to production and waiting for a rollout; the fake comparison; request helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assay_server.checks.comparison import Verdict
from tests.api.factories import parquet_bytes, register_version, stage
from tests.monitoring.conftest import FEATURES, Monitored, reference

DEV = ("dev", "contributor")
CI = ("ci", "contributor")
ALICE = ("alice", "approver")
BOB = ("bob", "approver")
METADATA = {"features": FEATURES, "target": "churned", "prediction": "predicted"}


class FakeComparison:
    """Stands in for monitoring's ``compare_versions``: answers ``verdict``, records calls."""

    def __init__(self) -> None:
        self.verdict = Verdict.NO_DIFFERENCE
        self.calls: list[tuple[str, int, int, datetime, datetime]] = []

    def __call__(
        self,
        _session: Any,
        _ctx: Any,
        model: str,
        champion: int,
        challenger: int,
        start: datetime,
        end: datetime,
    ) -> Verdict:
        self.calls.append((model, champion, challenger, start, end))
        return self.verdict


def prepare_release(
    monitored: Monitored, api: Any, *, rollout: bool = True, approve: bool = True
) -> dict[str, Any]:
    """v1 in production, v2 registered by ``dev`` and requested to production by ``ci``
    (approved by ``alice`` unless ``approve`` is False); returns the promotion."""
    moved = stage(monitored.client, monitored.headers, 1, stage="production", reason="first")
    assert moved.status_code == 200, moved.get_data(as_text=True)
    registered = register_version(
        monitored.client,
        api.as_(*DEV),
        "churn",
        metadata=METADATA,
        reference=(parquet_bytes(reference()), "reference.parquet"),
    )
    assert registered.status_code == 201, registered.get_data(as_text=True)
    body = {"stage": "production", "reason": "retrained", "rollout": rollout}
    requested = api.post("/models/churn/versions/2/promotions", CI, body)
    assert requested.status_code == 201, requested.json
    promotion: dict[str, Any] = requested.json
    if approve:
        approved = api.post(f"/promotions/{promotion['id']}/approve", ALICE, {"comment": "ok"})
        assert approved.status_code == 200, approved.json
        promotion = approved.json
    return promotion


def plan(promotion_id: int, steps: tuple[float, ...] = (10, 50, 100), **more: Any) -> dict:
    """A plan body: one hour and 100 predictions per step unless ``more`` says otherwise."""
    return {
        "promotion_id": promotion_id,
        "steps": [{"percent": share} for share in steps],
        "min_duration_minutes": 60,
        "min_predictions": 100,
        **more,
    }


def start(api: Any, body: dict[str, Any], who: tuple[str, str] = ALICE) -> Any:
    """POST the plan as ``who``; the response."""
    return api.post("/models/churn/rollouts", who, body)


def split_of(api: Any) -> dict[str, float]:
    """The split serving code reads now."""
    response = api.get("/models/churn/rollout")
    assert response.status_code == 200, response.json
    return dict(response.json)


def status_of(api: Any, rollout_id: int) -> dict[str, Any]:
    """A rollout and its current gate."""
    response = api.get(f"/rollouts/{rollout_id}")
    assert response.status_code == 200, response.json
    return dict(response.json)


def checks_of(status: dict[str, Any]) -> dict[str, bool]:
    """``{check name: passed}`` of the current gate."""
    return {check["name"]: check["passed"] for check in status["gate"]["checks"]}
