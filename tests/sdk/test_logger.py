"""PredictionLogger against scripted and misbehaving loopback servers (no database needed)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay import DeliveryError, PredictionLogger
from assay._batches import new_prediction_id
from assay._spool import Spool
from tests.sdk.conftest import ScriptedServer
from tests.sdk.logger_support import (
    ManualClock,
    RawServer,
    accepted,
    decoded,
    ids_in,
    spooled_ids,
    wait_for,
)

PREDICTIONS = "/api/v1/models/churn/versions/3/predictions"
LABELS = "/api/v1/models/churn/labels"


@pytest.fixture
def hanging_server() -> Iterator[RawServer]:
    """A server that accepts connections and never answers."""
    server = RawServer("hang")
    yield server
    server.stop()


@pytest.fixture
def resetting_server() -> Iterator[RawServer]:
    """A server that resets every connection it accepts."""
    server = RawServer("reset")
    yield server
    server.stop()


@pytest.fixture
def make_logger(tmp_path: Path) -> Iterator[Any]:
    """Make a fast-retrying logger of churn v3 on a server URL, spooling under tmp_path."""
    made: list[PredictionLogger] = []

    def make(url: str, **options: Any) -> PredictionLogger:
        options.setdefault("spool_dir", tmp_path / "spool")
        with assay.Client(url, "asy_test") as client:
            logger = client.prediction_logger("churn", 3, **options)
        logger.initial_backoff = 0.01
        logger.max_backoff = 0.05
        logger.request_timeout = (1.0, 1.0)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.close(timeout=0)


def _posted(server: ScriptedServer, path: str = PREDICTIONS) -> list[Any]:
    return [decoded(r.body) for r in list(server.requests) if r.path == path]


def _posted_ids(server: ScriptedServer) -> list[str]:
    return [pid for document in _posted(server) for pid in ids_in(document)]


def test_log_returns_a_uuid7_hex_and_the_batch_goes_gzipped_and_column_wise(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(2))
    logger = make_logger(scripted_server.url)
    logger.compress = True  # as to any server not on this host

    first = logger.log({"age": 30, "plan": "pro"}, 1, score=0.8, sensitive={"sex": "F"})
    second = logger.log({"age": 41, "plan": "basic"}, 0, score=0.1, sensitive={"sex": "M"})

    assert logger.flush(timeout=10)
    assert re.fullmatch(r"[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}", first)
    (request,) = scripted_server.requests
    assert request.method == "POST" and request.path == PREDICTIONS
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Bearer asy_test"
    columns = decoded(request.body)["columns"]
    assert columns["prediction_id"] == [first, second]
    assert columns["features"] == {"age": [30, 41], "plan": ["pro", "basic"]}
    assert columns["prediction"] == [1, 0]
    assert columns["score"] == [0.8, 0.1]
    assert columns["sensitive"] == {"sex": ["F", "M"]}
    assert all(isinstance(ts, float) for ts in columns["timestamp"])
    assert logger.stats["sent"] == 2


def test_made_ids_are_uuid7_and_sort_in_the_order_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    made = []
    for _ in range(3):
        made.append(new_prediction_id())
        time.sleep(0.002)  # another millisecond: the ids' time part grows

    assert made == sorted(made) and len(set(made)) == 3
    parsed = [uuid.UUID(hex=each) for each in made]
    assert {(each.version, each.variant) for each in parsed} == {(7, uuid.RFC_4122)}
    assert before <= int(made[0][:12], 16) <= time.time_ns() // 1_000_000


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_batches_to_a_server_on_this_host_go_as_plain_json(
    scripted_server: ScriptedServer, make_logger: Any, host: str
) -> None:
    scripted_server.answer(200, accepted(1))
    url = scripted_server.url.replace("127.0.0.1", host)
    if host == "[::1]":  # the scripted server listens on IPv4: only the decision is checked
        assert make_logger(url)._worker.endpoint.on_this_host
        return
    logger = make_logger(url)

    pid = logger.log({"age": 30}, 1)

    assert logger.flush(timeout=10)
    (request,) = scripted_server.requests
    assert "Content-Encoding" not in request.headers
    assert json.loads(request.body)["columns"]["prediction_id"] == [pid]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.2:8080", True),
        ("http://localhost", True),
        ("https://assay.example.com", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_only_a_loopback_address_counts_as_this_host(
    make_logger: Any, url: str, local: bool
) -> None:
    assert make_logger(url)._worker.endpoint.on_this_host is local


def test_stats_read_by_attribute_or_by_key_as_the_dict_they_were(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(2, duplicates=1))
    logger = make_logger(scripted_server.url)
    logger.log({"age": 1}, 0)
    logger.log({"age": 2}, 0)

    assert logger.flush(timeout=10)
    stats = logger.stats
    assert (stats.sent, stats.duplicates, stats.batches_sent) == (1, 1, 1)
    assert stats["sent"] == stats.sent and stats["errors"] == [] and stats["last_error"] is None
    assert dict(stats)["duplicates"] == 1 and set(dict(stats)) >= {"sent", "spool_bytes"}
    with pytest.raises(KeyError):
        stats["nonsense"]


def test_log_keeps_the_callers_prediction_id_and_timestamp(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(1))
    logger = make_logger(scripted_server.url)

    assert logger.log({"age": 1}, 1, prediction_id="order-17", timestamp=1700000000.0) == "order-17"
    assert logger.flush(timeout=10)

    columns = _posted(scripted_server)[0]["columns"]
    assert (columns["prediction_id"], columns["timestamp"]) == (["order-17"], [1700000000.0])


def test_batches_are_cut_at_batch_size(scripted_server: ScriptedServer, make_logger: Any) -> None:
    scripted_server.answer(200, accepted(3))
    logger = make_logger(scripted_server.url, batch_size=3, flush_interval=60)

    ids = [logger.log({"age": i}, 0) for i in range(7)]

    assert wait_for(lambda: len(scripted_server.requests) >= 2)  # two full batches, unasked
    assert logger.flush(timeout=10)
    # two senders post at once: the batches may arrive in either order
    assert sorted(len(ids_in(d)) for d in _posted(scripted_server)) == [1, 3, 3]
    assert sorted(_posted_ids(scripted_server)) == sorted(ids)


def test_a_partial_batch_waits_for_the_flush_interval_and_goes_when_it_passes(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(1))
    clock = ManualClock()
    logger = make_logger(scripted_server.url, flush_interval=60, clock=clock)

    pid = logger.log({"age": 1}, 0)
    clock.settle()
    clock.advance(59)
    clock.settle()

    assert logger.stats["queued"] == 1 and scripted_server.requests == []
    clock.advance(1)
    assert wait_for(lambda: _posted_ids(scripted_server) == [pid])


def test_labels_go_to_the_model_labels_endpoint_after_the_predictions(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, {**accepted(1), "updated": 2, "unknown": 0, "unknown_ids": []})
    logger = make_logger(scripted_server.url)

    pid = logger.log({"age": 1}, 0)
    logger.log_label(pid, 1)
    logger.log_labels({"earlier": 0})

    assert logger.flush(timeout=10)
    assert [r.path for r in scripted_server.requests] == [PREDICTIONS, LABELS]
    labels = scripted_server.requests[1]
    assert "Content-Encoding" not in labels.headers
    assert decoded(labels.body) == {
        "labels": [{"prediction_id": pid, "label": 1}, {"prediction_id": "earlier", "label": 0}]
    }
    assert logger.stats["labels_sent"] == 2


def test_server_errors_are_retried_from_the_spool_with_a_doubling_backoff(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    # fewer 500s than poison_after: the batch is retried, never set aside
    scripted_server.answer(500, {"error": {"code": "internal_error", "message": "boom"}}, times=2)
    scripted_server.answer(200, accepted(5))
    clock = ManualClock()
    logger = make_logger(scripted_server.url, clock=clock)
    logger.initial_backoff, logger.max_backoff = 0.5, 30.0

    ids = [logger.log({"age": i}, 0) for i in range(5)]
    assert not logger.flush(timeout=0)
    assert wait_for(lambda: logger.stats["retries"] == 1)
    _assert_next_attempt_within(clock, scripted_server, 0.375, 0.5)
    assert wait_for(lambda: logger.stats["retries"] == 2)
    _assert_next_attempt_within(clock, scripted_server, 0.75, 1.0)

    assert wait_for(lambda: logger.flush(timeout=0))
    stats = logger.stats
    assert stats["retries"] == 2
    assert stats["spooled"] == 5
    assert (stats["sent"], stats["spool_batches"], stats["dropped"]) == (5, 0, 0)
    assert stats["dead_lettered"] == 0
    assert _posted_ids(scripted_server) == ids * 3  # the same batch, re-sent until taken
    assert "boom" in stats["last_error"]


def _assert_next_attempt_within(
    clock: ManualClock, server: ScriptedServer, earliest: float, latest: float
) -> None:
    """The sender tries again no sooner than ``earliest`` and no later than ``latest`` s."""
    sent = len(server.requests)
    clock.advance(earliest - 0.001)
    clock.settle("assay-logger-sender")
    assert len(server.requests) == sent, f"tried again before {earliest} s"
    clock.advance(latest - earliest + 0.002)  # just past ``latest``
    assert wait_for(lambda: len(server.requests) == sent + 1), f"not tried again by {latest} s"


def test_the_backoff_doubles_up_to_max_backoff(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(503, {})
    clock = ManualClock()
    logger = make_logger(scripted_server.url, clock=clock)
    logger.initial_backoff, logger.max_backoff = 0.5, 30.0

    logger.log({"age": 1}, 0)
    assert not logger.flush(timeout=0)
    for retries, full in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], start=1):
        assert wait_for(lambda retries=retries: logger.stats["retries"] == retries)
        _assert_next_attempt_within(clock, scripted_server, 0.75 * full, full)


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_retryable_statuses_are_retried(
    scripted_server: ScriptedServer, make_logger: Any, status: int
) -> None:
    scripted_server.answer(status, {})
    scripted_server.answer(200, accepted(1))
    logger = make_logger(scripted_server.url)

    logger.log({"age": 1}, 0)

    assert logger.flush(timeout=20)
    assert logger.stats["retries"] == 1 and logger.stats["sent"] == 1


def test_retry_after_sets_the_backoff(scripted_server: ScriptedServer, make_logger: Any) -> None:
    scripted_server.answer(429, {}, headers={"Retry-After": "7"})
    scripted_server.answer(200, accepted(1))
    clock = ManualClock()
    logger = make_logger(scripted_server.url, clock=clock)
    logger.max_backoff = 30.0

    logger.log({"age": 1}, 0)
    assert not logger.flush(timeout=0)
    assert wait_for(lambda: logger.stats["retries"] == 1)

    _assert_next_attempt_within(clock, scripted_server, 7.0, 7.0)
    assert wait_for(lambda: logger.stats["sent"] == 1)


def test_a_flush_cuts_a_running_backoff_short(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(503, {}, headers={"Retry-After": "30"})
    scripted_server.answer(200, accepted(1))
    clock = ManualClock()
    logger = make_logger(scripted_server.url, clock=clock)
    logger.max_backoff = 30.0

    logger.log({"age": 1}, 0)
    assert not logger.flush(timeout=0)
    assert wait_for(lambda: logger.stats["retries"] == 1)

    assert logger.flush(timeout=10)  # tries at once: the clock has not moved
    assert clock.monotonic() == ManualClock().monotonic()
    assert logger.stats["sent"] == 1


def test_a_refused_batch_is_counted_as_rejected_and_never_retried(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    error = {"error": {"code": "not_found", "message": "no version 3", "request_id": "r-1"}}
    scripted_server.answer(404, error)
    seen: list[DeliveryError] = []
    logger = make_logger(scripted_server.url, on_error=seen.append)

    for i in range(4):
        logger.log({"age": i}, 0)

    assert logger.flush(timeout=10)
    assert len(scripted_server.requests) == 1
    stats = logger.stats
    assert (stats["rejected"], stats["retries"], stats["sent"], stats["spooled"]) == (4, 0, 0, 0)
    (failure,) = seen
    assert (failure.kind, failure.status, failure.code) == ("predictions", 404, "not_found")
    assert failure.rejected == 4 and failure.request_id == "r-1"
    assert stats["errors"] == [failure]


def test_row_errors_are_reported_with_their_prediction_ids(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    row_error = {"index": 1, "field": "features.age", "message": "Not a number."}
    scripted_server.answer(
        200, {"accepted": 1, "duplicates": 1, "rejected": 1, "errors": [row_error]}
    )
    seen: list[DeliveryError] = []
    logger = make_logger(scripted_server.url, on_error=seen.append)

    logger.log({"age": 1}, 0)
    bad = logger.log({"age": "old"}, 0)
    logger.log({"age": 3}, 0)

    assert logger.flush(timeout=10)
    assert (logger.stats["sent"], logger.stats["duplicates"], logger.stats["rejected"]) == (1, 1, 1)
    assert seen[0].errors == [{**row_error, "prediction_id": bad}]
    assert len(scripted_server.requests) == 1


def test_labels_of_unknown_predictions_are_reported(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, {"updated": 0, "unknown": 1, "unknown_ids": ["nope"]})
    seen: list[DeliveryError] = []
    logger = make_logger(scripted_server.url, on_error=seen.append)

    logger.log_label("nope", 1)

    assert logger.flush(timeout=10)
    assert logger.stats["labels_unknown"] == 1
    assert seen[0].kind == "labels" and seen[0].errors[0]["prediction_id"] == "nope"


def test_a_failing_on_error_callback_does_not_stop_delivery(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(422, {"error": {"code": "validation_error", "message": "bad"}})
    scripted_server.answer(200, accepted(1))

    def explode(error: DeliveryError) -> None:
        raise RuntimeError("callback bug")

    logger = make_logger(scripted_server.url, on_error=explode, batch_size=1)
    logger.log({"age": 1}, 0)
    assert logger.flush(timeout=10)
    logger.log({"age": 2}, 0)

    assert logger.flush(timeout=10)
    assert (logger.stats["rejected"], logger.stats["sent"]) == (1, 1)


def test_log_never_raises_whatever_it_is_given(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(1))
    logger = make_logger(scripted_server.url)

    assert logger.log(None, 0)  # type: ignore[arg-type]
    assert logger.log(42, 0)  # type: ignore[arg-type]
    assert logger.log({"age": 1}, object(), prediction_id=12345) == "12345"
    logger.log_labels(None)  # type: ignore[arg-type]

    assert logger.flush(timeout=10)
    assert logger.stats["dropped"] == 2  # the two rows without a features mapping
    assert _posted(scripted_server)[0]["columns"]["prediction_id"] == ["12345"]


def test_a_full_memory_queue_drops_the_oldest_rows_and_counts_them(
    scripted_server: ScriptedServer, make_logger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.answer(200, accepted(10))
    logger = make_logger(scripted_server.url, max_queue=10)
    monkeypatch.setattr(logger._worker, "start", lambda: None)  # no thread drains the queue

    ids = [logger.log({"age": i}, 0) for i in range(15)]

    assert logger.stats["dropped"] == 5
    assert [row[0] for row in logger._worker.queue] == ids[5:]


def test_when_memory_and_spool_are_full_the_oldest_are_dropped_with_one_warning(
    closed_port_url: str, make_logger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[DeliveryError] = []
    logger = make_logger(
        closed_port_url, batch_size=50, max_spool_mb=0.004, on_error=told.append
    )  # a spool of about 4 KB

    with caplog.at_level(logging.WARNING, logger="assay.logger"):
        ids = [logger.log({"age": i, "plan": f"plan-{i}"}, i) for i in range(2000)]
        assert not logger.close(timeout=5)

    stats = logger.stats
    on_disk = spooled_ids(logger.spool_dir)
    assert stats["dropped"] > 0
    assert stats["dropped"] + len(on_disk) == 2000
    assert on_disk == ids[-len(on_disk) :]  # the newest survive, in order
    drop_warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drop_warnings) == 1
    (drops,) = [error for error in told if error.dropped]
    assert 0 < drops.dropped <= stats["dropped"] and drops.rejected == 0


def test_past_the_memory_bound_a_sender_writes_batches_to_the_spool_and_all_arrive(
    scripted_server: ScriptedServer, make_logger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.answer(200, accepted(10))
    writers: list[str] = []
    write = Spool.write

    def noting_writer(spool: Spool, batch: Any) -> int:
        writers.append(threading.current_thread().name)
        return write(spool, batch)

    monkeypatch.setattr(Spool, "write", noting_writer)
    logger = make_logger(scripted_server.url, batch_size=10, flush_interval=60)
    logger.max_memory_mb = 1e-6  # one batch waits in memory; the others go to disk

    ids = [logger.log({"age": i}, 0) for i in range(200)]

    assert logger.flush(timeout=20)
    assert sorted(_posted_ids(scripted_server)) == sorted(ids)
    assert logger.stats["spooled"] > 0 and logger.stats["dropped"] == 0
    # the senders write (and fsync) them; the batcher only when eight wait for the senders
    assert any(name.startswith("assay-logger-sender") for name in writers)


def test_an_unreachable_server_sends_batches_to_the_spool(
    closed_port_url: str, make_logger: Any
) -> None:
    logger = make_logger(closed_port_url, batch_size=100, clock=ManualClock())

    ids = [logger.log({"age": i}, 0) for i in range(1000)]

    assert wait_for(lambda: logger.stats["spooled"] >= 1000)
    assert not logger.flush(timeout=0)
    assert logger.stats["retries"] >= 1
    assert sorted(spooled_ids(logger.spool_dir)) == sorted(ids)


def test_a_hanging_server_does_not_hold_up_log_and_close_spools_what_is_left(
    hanging_server: RawServer, make_logger: Any
) -> None:
    logger = make_logger(hanging_server.url, batch_size=100, clock=ManualClock())
    logger.request_timeout = (1.0, 60.0)

    ids = [logger.log({"age": i}, 0) for i in range(5000)]

    assert len(set(ids)) == 5000  # every call came back with its id
    assert wait_for(lambda: hanging_server.accepted >= 1)
    assert not logger.flush(timeout=0)
    assert not logger.close(timeout=0)
    assert set(spooled_ids(logger.spool_dir)) == set(ids)  # the batch in flight included


def test_close_waits_exit_timeout_on_its_clock_then_spools_the_batch_in_flight(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    release = threading.Event()
    scripted_server.answer(200, accepted(3), hold=release)
    clock = ManualClock()
    logger = make_logger(scripted_server.url, clock=clock)
    logger.request_timeout = (1.0, 60.0)
    ids = [logger.log({"age": i}, 0) for i in range(3)]
    assert not logger.flush(timeout=0)
    assert wait_for(lambda: len(scripted_server.requests) == 1)  # the answer is held
    closed: list[bool] = []
    closing = threading.Thread(target=lambda: closed.append(logger.close()), name="closing")

    try:
        closing.start()
        clock.settle("closing")  # waiting, with its deadline taken from the clock
        clock.advance(logger.exit_timeout - 0.1)
        clock.settle("closing")
        assert closing.is_alive() and closed == []
        clock.advance(0.1)
        closing.join(timeout=10)
        assert closed == [False]
        assert spooled_ids(logger.spool_dir) == ids
    finally:
        release.set()


def test_connection_resets_send_batches_to_the_spool(
    resetting_server: RawServer, make_logger: Any
) -> None:
    logger = make_logger(resetting_server.url, batch_size=100)

    ids = [logger.log({"age": i}, 0) for i in range(1000)]

    assert wait_for(lambda: logger.stats["spooled"] >= 1000 and logger.stats["retries"] >= 1)
    assert resetting_server.accepted >= 1
    assert sorted(spooled_ids(logger.spool_dir)) == sorted(ids)
    assert "cannot reach" in logger.stats["last_error"] or "reset" in logger.stats["last_error"]


def test_a_new_logger_delivers_what_an_earlier_one_left_in_the_spool_in_order(
    closed_port_url: str, scripted_server: ScriptedServer, make_logger: Any
) -> None:
    first = make_logger(closed_port_url, batch_size=10)
    ids = [first.log({"age": i}, 0) for i in range(35)]
    assert not first.close(timeout=5)
    assert len(spooled_ids(first.spool_dir)) == 35
    scripted_server.answer(200, accepted(10))

    second = make_logger(scripted_server.url)  # no log() call: it replays on its own

    assert wait_for(lambda: len(_posted_ids(scripted_server)) == 35)
    assert _posted_ids(scripted_server) == ids
    assert second.flush(timeout=10)
    assert spooled_ids(second.spool_dir) == []


def test_close_stops_logging_and_later_calls_are_dropped(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(1))
    logger = make_logger(scripted_server.url)
    logger.log({"age": 1}, 0)

    assert logger.close()
    assert logger.log({"age": 2}, 0)

    assert logger.stats["dropped"] == 1
    assert len(_posted_ids(scripted_server)) == 1


def test_many_threads_log_concurrently_and_every_row_is_sent_once(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, accepted(250))
    logger = make_logger(scripted_server.url, batch_size=250)
    ids: list[list[str]] = [[] for _ in range(8)]

    def serve(slot: int) -> None:
        for i in range(2000):
            ids[slot].append(logger.log({"age": i}, slot))

    threads = [threading.Thread(target=serve, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert logger.flush(timeout=30)
    sent = _posted_ids(scripted_server)
    assert len(sent) == 16_000
    assert sorted(sent) == sorted(pid for slot in ids for pid in slot)


_FORKING_PROCESS = """
import os, sys
import assay

url, spool = sys.argv[1:3]
with assay.Client(url, "asy_test") as client:
    logger = client.prediction_logger("churn", 3, spool_dir=spool)
logger.log({"age": 1}, 0, prediction_id="parent-before-fork")
assert logger.flush(timeout=10)
logger.log({"age": 2}, 0, prediction_id="queued-at-fork")
child = os.fork()
if child == 0:
    logger.log({"age": 3}, 0, prediction_id="child")
    os._exit(0 if logger.flush(timeout=10) else 1)
_, status = os.waitpid(child, 0)
logger.log({"age": 4}, 0, prediction_id="parent-after-fork")
sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 and logger.flush(timeout=10) else 1)
"""


def test_a_forked_child_sends_through_its_own_thread_and_the_parent_keeps_its_queue(
    scripted_server: ScriptedServer, tmp_path: Path, sdk_env: dict[str, str]
) -> None:
    scripted_server.answer(200, accepted(1))

    result = subprocess.run(
        [sys.executable, "-c", _FORKING_PROCESS, scripted_server.url, str(tmp_path)],
        env=sdk_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    sent = _posted_ids(scripted_server)
    assert sorted(sent) == ["child", "parent-after-fork", "parent-before-fork", "queued-at-fork"]


_EXITING_PROCESS = """
import sys
import assay

url, spool = sys.argv[1:3]
with assay.Client(url, "asy_test") as client:
    logger = client.prediction_logger("churn", 3, spool_dir=spool, flush_interval=3600)
logger.exit_timeout = 2.0
for i in range(3):
    logger.log({"age": i}, 0, prediction_id=f"row-{i}")
# no flush, no close: atexit must deliver (or spool) these
"""


def test_atexit_delivers_what_is_still_queued(
    scripted_server: ScriptedServer, tmp_path: Path, sdk_env: dict[str, str]
) -> None:
    scripted_server.answer(200, accepted(3))

    subprocess.run(
        [sys.executable, "-c", _EXITING_PROCESS, scripted_server.url, str(tmp_path)],
        env=sdk_env,
        check=True,
        timeout=60,
    )

    assert _posted_ids(scripted_server) == ["row-0", "row-1", "row-2"]


def test_atexit_spools_what_it_cannot_deliver_and_does_not_hang(
    closed_port_url: str, tmp_path: Path, sdk_env: dict[str, str]
) -> None:
    subprocess.run(
        [sys.executable, "-c", _EXITING_PROCESS, closed_port_url, str(tmp_path)],
        env=sdk_env,
        check=True,
        timeout=60,
    )

    assert spooled_ids(tmp_path / "churn-3") == ["row-0", "row-1", "row-2"]


def test_log_prediction_before_init_drops_the_row_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import assay.logger

    monkeypatch.setattr(assay.logger, "_default_logger", None)
    monkeypatch.setattr(assay.logger, "_not_initialised_warned", False)

    with caplog.at_level(logging.WARNING, logger="assay.logger"):
        pid = assay.log_prediction({"age": 1}, 0)
        assay.log_label(pid, 1)

    assert len(pid) == 32
    assert [r.getMessage() for r in caplog.records] == [
        "assay.log_prediction() before assay.init(): the prediction is dropped"
    ]


def test_init_needs_a_model_and_a_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_MODEL", raising=False)
    monkeypatch.delenv("ASSAY_VERSION", raising=False)

    with pytest.raises(assay.ConfigurationError, match="ASSAY_MODEL"):
        assay.init("http://127.0.0.1:1", "asy_test")


def test_the_spool_directory_is_per_model_version_under_the_given_root(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    with assay.Client(scripted_server.url, "asy_test") as client:
        logger = client.prediction_logger("churn", 3, spool_dir=tmp_path)

    assert logger.spool_dir == tmp_path / "churn-3"
    logger.close(timeout=0)


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"batch_size": 10_001}, {"flush_interval": 0}, {"max_queue": 0}],
)
def test_unusable_options_are_refused_when_the_logger_is_made(
    scripted_server: ScriptedServer, tmp_path: Path, options: dict[str, Any]
) -> None:
    with (
        assay.Client(scripted_server.url, "asy_test") as client,
        pytest.raises(assay.ConfigurationError),
    ):
        client.prediction_logger("churn", 3, spool_dir=tmp_path, **options)


def test_a_batch_refused_as_too_large_is_sent_in_halves_and_later_batches_are_smaller(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(413, {"error": {"code": "payload_too_large", "message": "too big"}})
    scripted_server.answer(200, accepted(2))
    logger = make_logger(scripted_server.url, batch_size=4)

    ids = [logger.log({"age": i}, 0, sensitive={"sex": "F"}) for i in range(4)]
    assert logger.flush(timeout=10)
    ids += [logger.log({"age": i}, 0, sensitive={"sex": "F"}) for i in range(4)]
    assert logger.flush(timeout=10)

    assert [len(ids_in(d)) for d in _posted(scripted_server)] == [4, 2, 2, 2, 2]
    assert sorted(_posted_ids(scripted_server)[4:]) == sorted(ids)  # two senders: any order
    assert _posted(scripted_server)[1]["columns"]["sensitive"] == {"sex": ["F", "F"]}
    assert (logger.stats["sent"], logger.stats["rejected"], logger.batch_size) == (8, 0, 2)


def test_labels_wait_for_the_predictions_logged_before_them(
    scripted_server: ScriptedServer, make_logger: Any
) -> None:
    scripted_server.answer(200, {**accepted(1), "updated": 2, "unknown": 0, "unknown_ids": []})
    logger = make_logger(scripted_server.url, batch_size=2, flush_interval=60)

    pid = logger.log({"age": 1}, 0)  # a partial batch of predictions
    logger.log_labels({pid: 1, "other": 0})  # a full batch of labels

    assert wait_for(lambda: len(scripted_server.requests) == 2)
    assert [r.path for r in scripted_server.requests] == [PREDICTIONS, LABELS]


def test_when_the_spool_cannot_be_written_batches_wait_in_memory(
    scripted_server: ScriptedServer, make_logger: Any, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    scripted_server.answer(503, {})
    scripted_server.answer(200, accepted(3))
    logger = make_logger(scripted_server.url, spool_dir=tmp_path / "a-file")

    ids = [logger.log({"age": i}, 0) for i in range(3)]

    assert logger.flush(timeout=10)
    assert _posted_ids(scripted_server) == ids * 2
    assert (logger.stats["spooled"], logger.stats["sent"], logger.stats["retries"]) == (0, 3, 1)
