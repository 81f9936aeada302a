"""The SDK and ``assay gate check --rollout`` against a live server: the split serving code
reads (cached, and still answered when Assay is down), steering a rollout, the exit codes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

import assay
from assay import cli
from assay_server.app import create_app
from assay_server.checks.comparison import Verdict

from .release import FakeComparison

Person = Callable[[str, str], assay.Client]


def _people(url: str, token_factory: Any) -> Iterator[Person]:
    made: dict[str, assay.Client] = {}

    def person(name: str, role: str) -> assay.Client:
        if name not in made:
            made[name] = assay.Client(url, token_factory(role, name), max_retries=0, timeout=5)
            made[name].token = token_factory(role, f"{name}-cli")  # type: ignore[attr-defined]
        return made[name]

    yield person
    for client in made.values():
        client.close()


@pytest.fixture
def person(live_server: Any, token_factory: Any) -> Iterator[Person]:
    """``person("alice", "approver")``: a client of the live server with a named token."""
    yield from _people(live_server.url, token_factory)


def release(person: Person, model: str = "churn", **plan: Any) -> assay.Rollout:
    """v1 in production, v2 approved to production with a rollout; the rollout started."""
    root = person("root", "admin")
    root.create_model(model, "binary_classification")
    dev = person("dev", "contributor")
    for _ in range(2):
        dev.register_version(model, features={"age": "numerical"}, target="churned")
    root.set_stage(model, 1, "production", reason="first release")
    promotion = person("ci", "contributor").request_promotion(
        model, 2, "production", "retrained", rollout=True
    )
    assert person("alice", "approver").approve(promotion.id).status == "approved"
    plan.setdefault("steps", [10, 50, 100])
    return person("alice", "approver").start_rollout(
        model, promotion.id, min_duration_minutes=0, min_predictions=0, **plan
    )


@pytest.mark.commits
def test_serving_code_reads_the_split_from_memory_and_from_the_last_answer_when_assay_is_down(
    migrated_database: Any, session_settings: Any, token_factory: Any, db: Any
) -> None:
    application = create_app(session_settings, database=migrated_database)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    people = _people(url, token_factory)
    person = next(people)
    try:
        rollout = release(person)
        serving = person("serving", "viewer")
        serving.split_ttl = 60.0
        assert serving.rollout("churn") == {1: 0.9, 2: 0.1}
        person("alice", "approver").rollback_rollout(rollout.id, "latency")
        assert serving.rollout("churn") == {1: 0.9, 2: 0.1}  # from memory, within split_ttl
        assert serving.rollout("churn", max_age=0) == {1: 1.0}  # asked again
        other = person("other-serving", "viewer")
        assert other.rollout("churn") == {1: 1.0}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    # Assay is down: the last split each client got is still the answer
    assert serving.rollout("churn", max_age=0) == {1: 1.0}
    with pytest.raises(assay.APIConnectionError):
        serving.rollout("fraud", max_age=0)  # nothing known of this model
    next(people, None)


def test_a_rollout_is_started_read_and_steered_from_the_sdk(
    person: Person, comparison: FakeComparison
) -> None:
    rollout = release(person, steps=[{"percent": 20, "min_predictions": 0}, 100])
    assert (rollout.status, rollout.percent, rollout.candidate_version) == ("running", 20.0, 2)
    assert [s.percent for s in rollout.steps] == [20.0, 100.0]
    status = person("reader", "viewer").rollout_status("churn")
    assert status.gate is not None and status.gate.passed
    assert {c.name for c in status.gate.checks} >= {"duration", "comparison", "incidents"}
    alice = person("alice", "approver")
    halted = alice.halt_rollout(rollout.id, "dashboards red")
    assert (halted.status, halted.percent) == ("rolled_back", 0.0)
    with pytest.raises(assay.Conflict):
        alice.resume_rollout(rollout.id, "fine now")
    assert [r.id for r in person("reader", "viewer").list_rollouts("churn")] == [rollout.id]
    with pytest.raises(assay.PermissionDenied):
        person("ci", "contributor").rollback_rollout(rollout.id, "no")


def test_gate_check_rollout_exits_0_on_a_step_1_while_it_waits_or_halts_2_on_errors(
    person: Person, comparison: FakeComparison, live_server: Any, capsys: Any
) -> None:
    rollout = release(person, rollback_on_halt=False)
    ci = person("ci", "contributor").token  # type: ignore[attr-defined]

    def check(*more: str, token: str = ci) -> int:
        return cli.main(["--url", live_server.url, "--token", token, "gate", "check", *more])

    comparison.verdict = Verdict.CHALLENGER_WORSE
    assert check("churn", "--rollout") == 1
    out = capsys.readouterr().out
    assert "WAITING at 10%" in out and "FAIL comparison" in out

    alice = person("alice", "approver")
    alice.halt_rollout(rollout.id, "on hold")
    assert check("churn", "--rollout") == 1
    assert "HALTED at 10%: on hold" in capsys.readouterr().out
    alice.resume_rollout(rollout.id, "go on")

    comparison.verdict = Verdict.NO_DIFFERENCE
    assert check("churn", "--rollout") == 0
    assert "ADVANCED to 50%" in capsys.readouterr().out
    assert check("churn", "--rollout", "--json") == 0
    assert '"status": "completed"' in capsys.readouterr().out
    assert check("churn", "--rollout") == 0  # completed stays a pass
    assert "COMPLETED; v2 is in production" in capsys.readouterr().out

    viewer = person("viewer", "viewer").token  # type: ignore[attr-defined]
    person("root", "admin").create_model("fraud", "binary_classification")
    assert check("fraud", "--rollout") == 2  # no rollout
    assert check("churn") == 2  # neither --rollout nor --version and --stage
    assert "needs --version and --stage" in capsys.readouterr().err
    second = release(person, model="spam")
    assert check("spam", "--rollout", token=viewer) == 2  # advancing needs a contributor
    assert person("reader", "viewer").rollout_status("spam").rollout.id == second.id
