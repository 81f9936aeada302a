"""Fixtures for the SDK tests: clients of the live server, training data, a scripted server.

``live_server``, ``admin_token`` and ``token_factory`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import assay


@pytest.fixture
def admin_client(live_server: Any, admin_token: str) -> Iterator[assay.Client]:
    """A client of the live server calling with an admin token."""
    with assay.Client(live_server.url, admin_token) as admin:
        yield admin


@pytest.fixture
def client_as(live_server: Any, token_factory: Any) -> Iterator[Any]:
    """Make a client of the live server calling with a fresh token of the given role."""
    made: list[assay.Client] = []

    def make(role: str) -> assay.Client:
        made.append(assay.Client(live_server.url, token_factory(role)))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def churn_model(admin_client: assay.Client) -> assay.Model:
    """A binary-classification model named ``churn``."""
    return admin_client.create_model("churn", "binary_classification", risk_tier="high", owner="ds")


@pytest.fixture
def training_frame() -> Any:
    """Twelve rows of features (age, plan) and a target (churned)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "age": [23, 35, 47, 52, 61, 19, 33, 44, 58, 29, 38, 66],
            "plan": ["basic", "pro", "pro", "basic", "team", "basic"] * 2,
            "churned": [0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1],
        }
    )


@pytest.fixture
def fitted_estimator(training_frame: Any) -> Any:
    """A logistic regression fitted on the numeric feature of ``training_frame``."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(training_frame[["age"]], training_frame["churned"])


@pytest.fixture
def skops_bytes(fitted_estimator: Any) -> bytes:
    """``fitted_estimator`` saved with skops: a zip archive, as the server expects."""
    import skops.io

    return skops.io.dumps(fitted_estimator)


@dataclass
class Reply:
    """One scripted answer: status, headers, JSON body; ``hold`` blocks until released."""

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None


@dataclass
class SeenRequest:
    """What the scripted server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """A real HTTP server on loopback that answers from a script, one reply per request."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(
        self,
        status: int = 200,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        hold: threading.Event | None = None,
        times: int = 1,
    ) -> None:
        """Queue a reply ``times`` times; the last reply repeats once the script runs out."""
        reply = Reply(status, {} if body is None else body, dict(headers or {}), hold)
        self.script.extend([reply] * times)

    def _next(self, seen: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(seen)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = server._next(SeenRequest(self.command, self.path, dict(self.headers), body))
                if reply.hold is not None:
                    reply.hold.wait(timeout=10)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting: nothing to answer
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        for reply in self.script:
            if reply.hold is not None:
                reply.hold.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A loopback HTTP server answering from a script of :class:`Reply` objects."""
    server = ScriptedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def recorded_sleeps() -> Any:
    """Make a client record its backoff delays instead of sleeping; return the record."""

    def record(client: assay.Client) -> list[float]:
        delays: list[float] = []
        client._transport.sleep = delays.append
        return delays

    return record


@pytest.fixture
def sdk_env() -> dict[str, str]:
    """An environment (no ASSAY_* variables) for a child Python that imports this ``assay``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    sdk_root = str(Path(assay.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [sdk_root, env.get("PYTHONPATH")]))
    return env
