"""A batch the server calls permanently bad is set aside, never blocking the batches behind it;
a server that is down keeps every batch in the spool."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import assay
from assay import DeliveryError, PredictionLogger
from tests.sdk.logger_support import ManualClock, decoded, ids_in, spooled_ids, wait_for

Route = Callable[[str, str, bytes], tuple[int, Any]]
SERVER_ERROR = {"error": {"code": "internal_error", "message": "boom", "request_id": "r-500"}}
REFUSED = {"error": {"code": "validation_error", "message": "bad batch", "request_id": "r-422"}}


class RoutingServer:
    """A loopback HTTP server answering each request from ``route(method, path, body)``."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append((self.command, self.path))
                status, answer = outer.route(self.command, self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def poisoned_by(marker: str, *, ready: bool = True) -> Route:
    """500 for a predictions batch holding ``marker``; 200 for the others; /ready as told."""

    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path.endswith("/ready"):
            return (200, {"status": "ready"}) if ready else (503, {"error": {"code": "x"}})
        ids = ids_in(decoded(body))
        if any(marker in pid for pid in ids):
            return 500, SERVER_ERROR
        return 200, {"accepted": len(ids), "duplicates": 0, "rejected": 0, "errors": []}

    return route


@pytest.fixture
def serve() -> Iterator[Callable[[Route], RoutingServer]]:
    servers: list[RoutingServer] = []

    def start(route: Route) -> RoutingServer:
        servers.append(RoutingServer(route))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_logger(tmp_path: Path) -> Iterator[Callable[..., PredictionLogger]]:
    made: list[PredictionLogger] = []

    def make(url: str, **options: Any) -> PredictionLogger:
        with assay.Client(url, "asy_test") as client:
            logger = client.prediction_logger(
                "churn", 3, spool_dir=tmp_path / "spool", batch_size=10, **options
            )
        logger.initial_backoff = 0.01
        logger.max_backoff = 0.05
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.close(timeout=0)


def test_a_batch_the_server_keeps_failing_on_is_set_aside_and_the_rest_arrive(
    serve: Any, make_logger: Any
) -> None:
    server = serve(poisoned_by("poison"))
    seen: list[DeliveryError] = []
    logger = make_logger(server.url, on_error=seen.append)

    poisoned = [logger.log({"age": i}, 0, prediction_id=f"poison-{i}") for i in range(10)]
    assert logger.flush(timeout=10)
    behind = [logger.log({"age": i}, 0) for i in range(30)]
    assert logger.flush(timeout=10)

    stats = logger.stats
    assert (stats["sent"], stats["rejected"], stats["dead_lettered"]) == (30, 10, 1)
    assert stats["spool_batches"] == 0
    posts = [path for method, path in server.seen if method == "POST"]
    assert len(posts) == logger.poison_after + 3  # the poisoned batch 3 times, then 3 batches
    (entry,) = sorted(logger.dead_letter_dir.iterdir(), key=lambda p: p.name)[:1]
    assert ids_in(decoded(entry.read_bytes())) == poisoned
    reason = json.loads(Path(str(entry) + ".reason.json").read_text())
    assert (reason["status"], reason["code"], reason["request_id"]) == (
        500,
        "internal_error",
        "r-500",
    )
    (failure,) = seen
    assert failure.dead_letter == str(entry) and failure.rejected == 10
    assert len(behind) == 30


def retry_through(logger: PredictionLogger, clock: ManualClock, retries: int) -> None:
    """Let the logger fail ``retries`` times, moving its clock past each backoff."""
    assert not logger.flush(timeout=0)
    for done in range(1, retries + 1):
        assert wait_for(lambda done=done: logger.stats["retries"] >= done)
        clock.advance(logger.max_backoff)


def test_while_the_server_is_not_ready_nothing_is_set_aside(serve: Any, make_logger: Any) -> None:
    server = serve(poisoned_by("", ready=False))  # every batch fails, readiness too: an outage
    clock = ManualClock()
    logger = make_logger(server.url, clock=clock)

    ids = [logger.log({"age": i}, 0) for i in range(10)]
    retry_through(logger, clock, 2 * logger.poison_after)

    assert not logger.flush(timeout=0)
    stats = logger.stats
    assert (stats["dead_lettered"], stats["rejected"]) == (0, 0)
    assert stats["retries"] > logger.poison_after
    assert spooled_ids(logger.spool_dir) == ids
    assert not logger.dead_letter_dir.exists()


def test_a_gateway_error_is_an_outage_however_often_it_repeats(
    serve: Any, make_logger: Any
) -> None:
    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        return (200, {}) if path.endswith("/ready") else (503, SERVER_ERROR)

    server = serve(route)
    clock = ManualClock()
    logger = make_logger(server.url, clock=clock)
    logger.log({"age": 1}, 0)
    retry_through(logger, clock, 2 * logger.poison_after)

    assert not logger.flush(timeout=0)
    assert logger.stats["dead_lettered"] == 0
    assert not any(path.endswith("/ready") for _, path in server.seen)


def test_a_batch_refused_whole_is_set_aside_not_just_counted(serve: Any, make_logger: Any) -> None:
    server = serve(lambda method, path, body: (422, REFUSED))
    logger = make_logger(server.url)

    ids = [logger.log({"age": i}, 0) for i in range(10)]
    assert logger.flush(timeout=10)

    assert (logger.stats["rejected"], logger.stats["dead_lettered"]) == (10, 1)
    (entry,) = [p for p in logger.dead_letter_dir.iterdir() if not p.name.endswith(".reason.json")]
    assert ids_in(decoded(entry.read_bytes())) == ids
    assert len(server.seen) == 1  # a final answer: never retried, no readiness probe
