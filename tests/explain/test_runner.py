"""Running explanations: each step in a unit of work of its own and none held while a worker
computes; a job handed over only once its row is committed; every outcome stored and audited.

A stand-in pool answers for the workers (``test_workers.py`` and the API tests use real ones).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from assay_server.explain.models import Explanation
from assay_server.explain.runner import ExplanationRunner
from assay_server.explain.work import ExplanationFailed
from assay_server.explain.workers import WorkerError
from assay_server.roles import Actor, Role
from assay_server.wiring import wire
from tests.api.factories import audit_events
from tests.explain import estimators as est
from tests.explain.conftest import register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


class StandInPool:
    """Answers each message with ``answer(message)``, noting the message and how many of the
    store's connections were checked out while it was being answered."""

    def __init__(self, db: Any, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.db = db
        self.answer = answer
        self.messages: list[dict[str, Any]] = []
        self.connections_held: list[int] = []

    def run(
        self,
        message: dict[str, Any],
        *,
        timeout: float,
        affinity: str = "",
        untrusted: bool = False,
    ) -> Any:
        self.connections_held.append(self.db.engine.pool.checkedout())
        self.messages.append(message)
        return self.answer(message)


def explained(message: dict[str, Any]) -> dict[str, Any]:
    """A worker's answer: every row explained, x5 weighing most and x0 least."""
    weights = [
        {"feature": name, "condition": f"{name} > 0", "weight": float(index + 1)}
        for index, name in enumerate(est.NUMERIC)
    ]
    result = {
        "prediction": {"label": 1, "probability": 0.9, "probabilities": {"0": 0.1, "1": 0.9}},
        "explained_label": 1,
        "intercept": 0.1,
        "score": 0.5,
        "weights": weights,
    }
    return {"ok": True, "results": [result for _row in message["rows"]]}


def worker_fails(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def fail(_message: dict[str, Any]) -> dict[str, Any]:
        raise WorkerError(kind, f"The worker says: {kind}.")

    return fail


@pytest.fixture
def signal(client, contributor_headers):
    """Version 1 of ``signal``, with a skops artifact and reference data (3 rows explained at
    once: the explain tests' ``max_sync_explain_rows``)."""
    frame = est.signal_frame()
    register(
        client,
        contributor_headers,
        "signal",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    return frame


@pytest.fixture
def ctx(settings, clock):
    """A request's context: a contributor asking."""
    return wire().context(Actor("data-scientist", Role.CONTRIBUTOR, None), settings, clock=clock)


def rows(frame, count: int) -> list[dict[str, float]]:
    return [{name: float(frame.iloc[i][name]) for name in est.NUMERIC} for i in range(count)]


def request(frame, count: int) -> dict[str, Any]:
    return {
        "rows": rows(frame, count),
        "num_features": 6,
        "num_samples": 500,
        "seed": 0,
        "label": None,
    }


def runner_with(db, ctx, pool: StandInPool, submit=None) -> ExplanationRunner:
    return ExplanationRunner(db, ctx, lambda: pool, submit=submit or (lambda _id: None))


def explanation_actions(client, headers) -> list[tuple[str, str]]:
    events = audit_events(client, headers, "model_version", "signal/1")
    return [(e["action"], e["actor_name"]) for e in events if e["action"].startswith("explanation")]


def test_rows_within_the_sync_limit_are_computed_with_no_connection_held_then_recorded(
    db, ctx, signal, client, contributor_headers
):
    pool = StandInPool(db, explained)
    submitted: list[int] = []
    explanation = runner_with(db, ctx, pool, submitted.append).explain(
        "signal", 1, request(signal, 3)
    )
    assert pool.connections_held == [0]
    assert (explanation.status, explanation.cached, submitted) == ("done", False, [])
    assert (explanation.model_name, explanation.version_number) == ("signal", 1)
    assert len(explanation.result["explanations"]) == 3 and explanation.rows is None
    assert explanation_actions(client, contributor_headers) == [
        ("explanation.requested", "data-scientist")
    ]


def test_a_repeated_request_is_answered_from_the_stored_result_without_a_worker(
    db, ctx, signal, client, contributor_headers
):
    pool = StandInPool(db, explained)
    runner = runner_with(db, ctx, pool)
    first = runner.explain("signal", 1, request(signal, 2))
    again = runner.explain("signal", 1, request(signal, 2))
    assert len(pool.messages) == 1
    assert (again.id, again.cached, again.model_name) == (first.id, True, "signal")
    assert again.result == first.result
    requested = [
        e["payload"]["cached"]
        for e in audit_events(client, contributor_headers, "model_version", "signal/1")
        if e["action"] == "explanation.requested"
    ]
    assert requested == [False, True]


def test_a_computation_that_fails_records_nothing(db, ctx, signal, client, contributor_headers):
    runner = runner_with(db, ctx, StandInPool(db, worker_fails("crashed")))
    with pytest.raises(ExplanationFailed):
        runner.explain("signal", 1, request(signal, 1))
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Explanation)) == 0
    assert explanation_actions(client, contributor_headers) == []


def test_more_rows_than_the_sync_limit_are_handed_over_once_their_row_is_committed(
    db, ctx, signal, client, contributor_headers
):
    pool = StandInPool(db, explained)
    seen_by_the_job: list[str] = []

    def submit(explanation_id: int) -> None:
        with db.unit_of_work(write=False) as session:  # a connection of its own, as a job's
            seen_by_the_job.append(session.get(Explanation, explanation_id).status)

    explanation = runner_with(db, ctx, pool, submit).explain("signal", 1, request(signal, 7))
    assert (explanation.status, seen_by_the_job, pool.messages) == ("queued", ["queued"], [])

    jobs = runner_with(db, ctx.acting_as(Actor.cli("explanation-jobs")), pool)
    jobs.run_job(explanation.id)
    assert [len(message["rows"]) for message in pool.messages] == [3, 3, 1]
    assert pool.connections_held == [0, 0, 0]
    with db.unit_of_work(write=False) as session:
        done = session.get(Explanation, explanation.id)
        assert (done.status, done.rows) == ("done", None)
        assert len(done.result["explanations"]) == 7
    assert explanation_actions(client, contributor_headers) == [
        ("explanation.requested", "data-scientist"),
        ("explanation.done", "data-scientist"),  # the job acts for whoever asked
    ]


def test_a_job_whose_worker_times_out_is_stored_as_failed_with_the_error(
    db, ctx, signal, client, contributor_headers
):
    queued = runner_with(db, ctx, StandInPool(db, explained)).explain(
        "signal", 1, request(signal, 4)
    )
    runner_with(db, ctx, StandInPool(db, worker_fails("timeout"))).run_job(queued.id)
    with db.unit_of_work(write=False) as session:
        failed = session.get(Explanation, queued.id)
        assert failed.status == "failed"
        assert failed.error["code"] == "explanation_timeout"
        assert failed.error["message"] == "The worker says: timeout."
    assert explanation_actions(client, contributor_headers)[-1][0] == "explanation.failed"


def test_a_job_runs_once_however_often_it_is_handed_over(db, ctx, signal):
    pool = StandInPool(db, explained)
    queued = runner_with(db, ctx, pool).explain("signal", 1, request(signal, 4))
    runner = runner_with(db, ctx, pool)
    runner.run_job(queued.id)
    runner.run_job(queued.id)
    assert len(pool.messages) == 2  # one job: its 4 rows in batches of 3 and 1, once


def test_a_global_explanation_is_queued_handed_over_and_summarised_by_its_job(db, ctx, signal):
    pool = StandInPool(db, explained)
    submitted: list[int] = []
    runner = runner_with(db, ctx, pool, submitted.append)
    explanation = runner.request_global(
        "signal", 1, {"sample_size": 5, "num_samples": 100, "seed": 0}
    )
    assert (explanation.status, explanation.kind, submitted) == (
        "queued",
        "global",
        [explanation.id],
    )
    assert explanation.params == {
        "num_features": 6,
        "num_samples": 100,
        "seed": 0,
        "sample_size": 5,
        "label": None,
    }
    runner.run_job(explanation.id)
    with db.unit_of_work(write=False) as session:
        result = session.get(Explanation, explanation.id).result
    assert result["rows"] == 5
    assert [f["feature"] for f in result["features"]] == list(reversed(est.NUMERIC))
    assert result["features"][0] == {"feature": "x5", "mean_abs_weight": 6.0, "rows_in_top": 5}
