"""The rollout page through the Flask test client: the plan, the step's gate, the split and
the history for everyone; Halt / Resume / Roll back forms (with CSRF) for approvers only."""

from __future__ import annotations

from typing import Any

from tests.monitoring.conftest import Monitored
from tests.web.html_tables import table_rows
from tests.web.test_version_pages import flashes

from .release import FakeComparison, plan, prepare_release, split_of, start


def _page(browser: Any, name: str = "churn") -> str:
    response = browser.get(f"/models/{name}/rollout")
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def test_the_page_shows_plan_gate_split_and_history_and_approvers_steer_from_it(
    monitored: Monitored, api: Any, comparison: FakeComparison, signed_in: Any
) -> None:
    promotion = prepare_release(monitored, api)
    rollout = start(api, plan(promotion["id"], rollback_on_halt=False)).json

    viewer = _page(signed_in("viewer", "ann"))
    assert [row.cells for row in table_rows(viewer, "split")] == [["v1", "90%"], ["v2", "10%"]]
    steps = table_rows(viewer, "plan")
    assert [row.cells[1] for row in steps] == ["10%", "50%", "100%"]
    assert "now" in steps[0].cells[4]
    gate = {row.cells[0]: row.cells[1] for row in table_rows(viewer, "gate")}
    assert gate == {
        "duration": "fail",
        "predictions": "fail",
        "comparison": "pass",
        "incidents": "pass",
    }
    assert [row.cells[1] for row in table_rows(viewer, "rollout-history")] == ["started"]
    assert "Halt</button>" not in viewer

    alice = signed_in("approver", "alice")
    page = _page(alice)
    assert "Halt</button>" in page and "Roll back</button>" in page
    refused = alice.post(f"/rollouts/{rollout['id']}/halt", data={"reason": " "})
    assert refused.status_code == 302
    assert any("Say why" in message for message in flashes(_page(alice)))
    halted = alice.post(f"/rollouts/{rollout['id']}/halt", data={"reason": "error budget"})
    assert halted.status_code == 302 and halted.location.endswith("/models/churn/rollout")
    page = _page(alice)
    assert f"Rollout {rollout['id']} halted." in flashes(page)
    assert "error budget" in page and "Resume</button>" in page
    alice.post(f"/rollouts/{rollout['id']}/rollback", data={"reason": "give up"})
    assert split_of(api) == {"1": 1.0}
    kinds = [row.cells[1] for row in table_rows(_page(alice), "rollout-history")]
    assert kinds == ["started", "halted", "rolled back"]

    no_csrf = alice.client.post(f"/rollouts/{rollout['id']}/resume", data={"reason": "x"})
    assert no_csrf.status_code == 400


def test_a_model_without_a_rollout_says_so_and_an_unknown_model_is_a_404(
    monitored: Monitored, signed_in: Any
) -> None:
    viewer = signed_in("viewer", "ann")
    assert "churn has no rollout" in _page(viewer)
    assert viewer.get("/models/nope/rollout").status_code == 404
