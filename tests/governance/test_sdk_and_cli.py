"""The SDK and the ``assay`` command against a live server: benchmarks, policies, the gate."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay import _cli_gate, cli

from .test_policies import EVERY_FIELD_WRONG
from .test_promotions_api import GATE


@pytest.fixture
def person(live_server: Any, token_factory: Any) -> Iterator[Callable[[str, str], assay.Client]]:
    """``person("alice", "approver")``: a client of the live server with a named token."""
    made: dict[str, tuple[assay.Client, str]] = {}

    def make(name: str, role: str) -> assay.Client:
        if name not in made:
            token = token_factory(role, name)
            made[name] = (assay.Client(live_server.url, token), token)
        return made[name][0]

    make.token = lambda name: made[name][1]  # type: ignore[attr-defined]
    yield make
    for client, _ in made.values():
        client.close()


def run(live_server: Any, token: str, *argv: str) -> int:
    return cli.main(["--url", live_server.url, "--token", token, *argv])


@pytest.fixture
def churn(person: Any, tmp_path: Path) -> dict[str, Any]:
    """A model with one version registered by ``dev`` and the gate policy (two approvers)."""
    root = person("root", "admin")
    (tmp_path / "gate.yaml").write_text(GATE % 2)
    root.apply_policies(tmp_path)
    root.create_model("churn", "binary_classification")
    dev = person("dev", "contributor")
    dev.register_version(
        "churn", features={"age": "numerical"}, target="churned", lineage={"dataset_hash": "d1"}
    )
    return {"root": root, "dev": dev}


def test_evaluate_computes_scikit_learn_metrics_on_the_client() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    X = [[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]
    y = [0, 0, 1, 0, 1, 1]
    classifier = LogisticRegression().fit(X, y)
    metrics = assay.evaluate(classifier, X, y)
    assert metrics["accuracy"] == accuracy_score(y, classifier.predict(X))
    assert metrics["roc_auc"] == roc_auc_score(y, classifier.predict_proba(X)[:, 1])
    assert {"precision", "recall", "f1", "log_loss", "balanced_accuracy"} <= metrics.keys()
    regression = LinearRegression().fit(X, [0.1, 1.2, 1.9, 3.2, 3.9, 5.1])
    scores = assay.evaluate(regression, X, [0.1, 1.2, 1.9, 3.2, 3.9, 5.1])
    assert scores["r2"] == pytest.approx(
        r2_score([0.1, 1.2, 1.9, 3.2, 3.9, 5.1], regression.predict(X))
    )
    assert set(scores) == {"rmse", "mae", "r2", "explained_variance"}
    multi = LogisticRegression().fit(X, [0, 1, 2, 0, 1, 2])
    assert "roc_auc_ovr" in assay.evaluate(multi, X, [0, 1, 2, 0, 1, 2])


def test_benchmarks_and_the_leaderboard_through_the_sdk(churn: dict[str, Any]) -> None:
    dev = churn["dev"]
    dev.register_version("churn", features={"age": "numerical"}, target="churned")
    first = dev.log_benchmark("churn", 1, "holdout", {"accuracy": 0.81}, dataset_hash="h")
    dev.log_benchmark("churn", 2, "holdout", {"accuracy": 0.93})
    assert (first.model, first.version, first.dataset_hash) == ("churn", 1, "h")
    assert [b.name for b in dev.list_benchmarks("churn", 1)] == ["holdout"]
    board = dev.leaderboard("churn", "holdout", sort="-accuracy")
    assert [r.version for r in board.rows] == [2, 1] and board.metrics == ("accuracy",)


def test_the_promotion_workflow_through_the_sdk(churn: dict[str, Any], person: Any) -> None:
    dev, ci = churn["dev"], person("ci", "contributor")
    alice, bob = person("alice", "approver"), person("bob", "approver")
    request = ci.request_promotion("churn", 1, "production", reason="Q3 release")
    assert request.status == "blocked"
    assert request.failing_rules[0].status == "missing_evidence"
    with pytest.raises(assay.Conflict, match="gate/acc"):
        alice.approve(request.id)
    dev.log_benchmark("churn", 1, "holdout", {"accuracy": 0.9})
    assert ci.evaluate_promotion(request.id).status == "pending_approval"
    assert alice.approve(request.id, comment="fine").approvals == 1
    done = bob.approve(request.id)
    assert done.status == "approved"
    assert [d.approver for d in done.decisions] == ["alice", "bob"]
    assert [p.id for p in ci.list_promotions(model="churn", status="approved")] == [request.id]
    assert ci.get_promotion(request.id).stage == "production"
    history = ci.stage_history("churn", stage="production")
    assert [(h.version, h.left_at) for h in history] == [(1, None)]


def test_an_approver_who_requested_is_refused_through_the_sdk(
    churn: dict[str, Any], person: Any
) -> None:
    churn["dev"].log_benchmark("churn", 1, "holdout", {"accuracy": 0.9})
    carol = person("carol", "approver")
    request = carol.request_promotion("churn", 1, "production")
    with pytest.raises(assay.PermissionDenied, match="requested this promotion"):
        carol.approve(request.id)
    with pytest.raises(assay.ValidationError):
        carol.reject(request.id, "")
    assert carol.reject(request.id, "not convinced").status == "rejected"


def test_gate_check_exit_codes_against_a_live_server(
    churn: dict[str, Any], person: Any, live_server: Any, capsys: Any, monkeypatch: Any
) -> None:
    person("ci", "contributor")
    ci = person.token("ci")
    check = ("gate", "check", "churn", "--version", "1", "--stage", "production")
    assert run(live_server, ci, *check) == 1
    out = capsys.readouterr().out
    assert "NOT REQUESTED" in out and "gate/acc [benchmark_metric] missing_evidence" in out
    assert (
        run(live_server, ci, "gate", "request", "churn", "--version", "1", "--stage", "production")
        == 0
    )
    assert "blocked" in capsys.readouterr().out
    churn["dev"].log_benchmark("churn", 1, "holdout", {"accuracy": 0.7})
    [request] = person("ci", "contributor").list_promotions(model="churn")
    person("ci", "contributor").evaluate_promotion(request.id)
    assert run(live_server, ci, *check, "--json") == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "blocked"
    assert (answer["failing_rules"][0]["observed"], answer["failing_rules"][0]["threshold"]) == (
        0.7,
        ">= 0.8",
    )
    churn["dev"].log_benchmark("churn", 1, "holdout", {"accuracy": 0.95})
    person("ci", "contributor").evaluate_promotion(request.id)
    person("alice", "approver").approve(request.id)
    monkeypatch.setattr(_cli_gate, "POLL_SECONDS", 0.01)
    assert run(live_server, ci, *check, "--wait", "0.05s") == 1  # pending: 1 of 2 approvals
    assert "approvals: 1 of 2" in capsys.readouterr().out
    person("bob", "approver").approve(request.id)
    assert run(live_server, ci, *check) == 0
    assert "APPROVED" in capsys.readouterr().out
    assert run(live_server, ci, "gate", "check", "churn", "--version", "1") == 2  # no --stage
    assert run(live_server, ci, *check, "--wait", "soon") == 2
    assert cli.main(["--url", "http://127.0.0.1:9", "--token", ci, *check]) == 2
    assert "cannot reach" in capsys.readouterr().err
    assert run(live_server, "asy_not-a-token", *check) == 2


CHAMPION = """
name: champion-gate
applies_to: {risk_tier: [medium]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
approvals: {required: 1}
governed_aliases: [champion]
"""


def test_gate_check_and_request_for_a_governed_alias(
    churn: dict[str, Any], person: Any, live_server: Any, tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "champion.yaml").write_text(CHAMPION)
    churn["root"].apply_policies(tmp_path)
    churn["root"].create_model("ranker", "binary_classification", risk_tier="medium")
    churn["dev"].register_version(
        "ranker", features={"age": "numerical"}, lineage={"git_commit": "a1b2c3d"}
    )
    person("ci", "contributor")
    ci = person.token("ci")
    check = ("gate", "check", "ranker", "--version", "1", "--alias", "champion")
    assert run(live_server, ci, *check) == 1
    assert "ranker v1 -> alias champion: NOT REQUESTED" in capsys.readouterr().out

    request = ("gate", "request", "ranker", "--version", "1", "--alias", "champion")
    assert run(live_server, ci, *request, "--reason", "won the A/B test") == 0
    assert "-> alias champion: pending_approval" in capsys.readouterr().out
    [opened] = person("ci", "contributor").list_promotions(model="ranker", alias="champion")
    person("alice", "approver").approve(opened.id)

    assert run(live_server, ci, *check, "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["alias"], answer["stage"], answer["status"]) == ("champion", None, "approved")
    assert churn["root"].get_version("ranker", alias="champion").version == 1
    assert run(live_server, ci, *check, "--stage", "production") == 2  # one or the other


def test_policies_apply_and_compliance_report_commands(
    churn: dict[str, Any], person: Any, live_server: Any, tmp_path: Path, capsys: Any
) -> None:
    root = person.token("root")
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "gate.yaml").write_text(GATE % 1)
    assert run(live_server, root, "policies", "apply", str(packs)) == 0
    assert "updated   gate v2 (gate.yaml)" in capsys.readouterr().out
    (packs / "bad.yaml").write_text(EVERY_FIELD_WRONG)
    assert run(live_server, root, "policies", "apply", str(packs)) == 2
    err = capsys.readouterr().err
    assert "bad.yaml, rule acc, field op:" in err and "nothing was applied" in err
    assert [p.current_version for p in churn["root"].list_policies()] == [2]
    out = tmp_path / "report.html"
    assert (
        run(live_server, root, "compliance-report", "churn", "--version", "1", "--out", str(out))
        == 0
    )
    assert "Compliance report: churn, version 1" in out.read_text()
    bundle = churn["root"].compliance_report("churn", 1, format="json")
    assert bundle["model"]["name"] == "churn" and bundle["audit_chain"]["ok"] is True


def test_rollback_through_the_sdk(churn: dict[str, Any], person: Any) -> None:
    root, dev = churn["root"], churn["dev"]
    dev.register_version("churn", features={"age": "numerical"}, target="churned")
    root.set_stage("churn", 1, "production", reason="launch")
    root.set_stage("churn", 2, "production", reason="hotfix", archive_existing=True)
    result = person("alice", "approver").rollback("churn", "production", 1, "v2 regressed")
    assert (result.from_versions, result.to_version) == ((2,), 1)
    now = root.stage_history("churn", at="2030-01-01T00:00:00Z", stage="production")
    assert [h.version for h in now] == [1]


def test_gate_check_wait_re_evaluates_a_blocked_request_as_evidence_arrives(
    churn: dict[str, Any], person: Any, live_server: Any, capsys: Any, monkeypatch: Any
) -> None:
    ci = person("ci", "contributor")
    request = ci.request_promotion("churn", 1, "production")
    assert request.status == "blocked"
    churn["dev"].log_benchmark("churn", 1, "holdout", {"accuracy": 0.95})
    monkeypatch.setattr(_cli_gate, "POLL_SECONDS", 0.01)
    check = ("gate", "check", "churn", "--version", "1", "--stage", "production")
    assert run(live_server, person.token("ci"), *check, "--wait", "0.2s") == 1
    assert "PENDING APPROVAL" in capsys.readouterr().out
    assert ci.get_promotion(request.id).status == "pending_approval"


def test_gate_check_says_override_and_stops_waiting_on_it(
    churn: dict[str, Any], person: Any, live_server: Any, capsys: Any, monkeypatch: Any
) -> None:
    churn["root"].set_stage("churn", 1, "production", reason="hotfix for the outage")
    monkeypatch.setattr(_cli_gate, "POLL_SECONDS", 0.01)
    check = ("gate", "check", "churn", "--version", "1", "--stage", "production")
    started = time.monotonic()
    assert run(live_server, person.token("root"), *check, "--wait", "30s") == 1
    assert time.monotonic() - started < 10  # an override is final: no waiting
    out = capsys.readouterr().out
    assert "OVERRIDE" in out and "does not pass" in out and "APPROVED" not in out
