"""The prediction logger's calls to the server: POST a batch, ask whether the server is ready.

Each answer is classified by :func:`assay._retries.verdict`, the definition the client uses
too. The logger retries through its spool rather than in place, so the session here has no
retry policy mounted and sends no ``Idempotency-Key``: the server already stores each
``(model version, prediction_id)`` once, and a re-sent batch must come back as
``duplicates`` for the counts to stay exact.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from assay._batches import Batch
from assay._http import Connection, http_error, network_error
from assay._paths import labels_path, predictions_path
from assay._retries import Verdict, retry_after_seconds, verdict
from assay.errors import AssayError

__all__ = ["Answer", "IngestEndpoint"]

# Prediction batches go gzipped (unless the server is on this host); labels as plain JSON.
_PLAIN_JSON = {"Content-Type": "application/json"}
_GZIPPED_JSON = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class Answer:
    """What became of one POST: its verdict, the answer's JSON (when done), or the error."""

    verdict: Verdict
    body: Mapping[str, object] = field(default_factory=dict)
    error: AssayError | None = None
    retry_after: float | None = None  # the server's Retry-After, in seconds


class IngestEndpoint:
    """Where one model version's batches go. Each of the logger's sender threads posts on a
    session (connections) of its own."""

    def __init__(
        self, connection: Connection, model: str, version: int, shadow_of: int | None = None
    ) -> None:
        self._connection = connection
        self._urls = {
            "predictions": connection.base_url + predictions_path(model, version, shadow_of),
            "labels": connection.base_url + labels_path(model),
        }
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def post(self, batch: Batch, timeout: tuple[float, float]) -> Answer:
        """Send one batch and say what the answer means; never raises for HTTP reasons."""
        url = self._urls[batch.kind]
        try:
            headers = _GZIPPED_JSON if batch.gzipped else _PLAIN_JSON
            response = self._open().post(url, data=batch.body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            return Answer(Verdict.RETRY, error=network_error(exc, "POST", url))
        judged = verdict(response.status_code)
        if judged is Verdict.RETRY:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            return Answer(judged, error=http_error(response), retry_after=retry_after)
        if judged is Verdict.FINAL:
            return Answer(judged, error=http_error(response))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            error = AssayError(f"POST {url}: the answer is not a JSON object", status=200)
            return Answer(Verdict.RETRY, error=error)
        return Answer(Verdict.DONE, body=body)

    @property
    def on_this_host(self) -> bool:
        """Whether the server's address is a loopback one (``localhost``, ``127.0.0.1``, …)."""
        host = urlsplit(self._connection.base_url).hostname or ""
        if host.lower() in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def ready(self, timeout: tuple[float, float]) -> bool:
        """Whether the server answers its readiness probe (``GET /ready``) with 200."""
        try:
            response = self._open().get(self._connection.base_url + "/ready", timeout=timeout)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def close(self) -> None:
        """Close every session's connections."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _open(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._connection.new_session()
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session
