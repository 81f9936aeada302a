"""What the fault tests serve with and how they watch it: a log of every answer the app gave,
and light serving processes (``python -m tests.faults.serving``) for a test that needs
settings the ``assay-server run`` command does not take, such as a short SQLite busy timeout.

Like gunicorn, it builds the app once and then forks one serving process per port, so that
two processes cost one start (importing the server takes seconds). Each prints
``{"listening": port}`` once it serves, then one JSON line per answer. Started in a session of
its own, the whole group is stopped with one ``killpg``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One response: to what, its status, its ``Retry-After``, and its error code and message
    when it is an error."""

    method: str
    path: str
    status: int
    retry_after: str | None = None
    code: str | None = None
    message: str | None = None
    body: str = ""
    pid: int = 0


class AnswerLog:
    """WSGI middleware handing every answer of ``app`` to ``record`` (errors with their body)."""

    def __init__(self, app: Any, record: Callable[[Answer], None]) -> None:
        self.app = app
        self.record = record

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        seen: dict[str, Any] = {}

        def remember(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen["status"] = int(status.split()[0])
            seen["retry_after"] = dict(headers).get("Retry-After")
            return start_response(status, headers, *args)

        body = self.app(environ, remember)
        if seen.get("status", 500) < 400:
            self._record(environ, seen, b"")
            return body
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        self._record(environ, seen, data)
        return [data]

    def _record(self, environ: dict[str, Any], seen: dict[str, Any], data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        error: dict[str, Any] = {}
        if text:
            try:
                error = json.loads(text).get("error") or {}
            except (ValueError, AttributeError):
                error = {}
        self.record(
            Answer(
                environ["REQUEST_METHOD"],
                environ.get("PATH_INFO", ""),
                seen.get("status", 0),
                seen.get("retry_after"),
                error.get("code"),
                error.get("message"),
                text,
                os.getpid(),
            )
        )


class Answers:
    """The answers an :class:`AnswerLog` recorded in this process, safe to read while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: list[Answer] = []

    def __call__(self, answer: Answer) -> None:
        with self._lock:
            self._answers.append(answer)

    def __iter__(self) -> Iterator[Answer]:
        with self._lock:
            return iter(list(self._answers))

    def with_status(self, status: int) -> list[Answer]:
        """The answers of one status."""
        return [answer for answer in self if answer.status == status]


def read_answers(lines: Iterable[str]) -> list[Answer]:
    """The answers a serving process printed (its other lines skipped)."""
    answers = []
    for line in lines:
        if line.startswith('{"method"'):
            answers.append(Answer(**json.loads(line)))
    return answers


def main(argv: list[str] | None = None) -> None:
    """Serve the app on each loopback port, a process each, until killed; print every answer."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults.serving")
    parser.add_argument("database_url")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("ports", type=int, nargs="+")
    parser.add_argument("--busy-timeout-ms", type=int, default=30_000)
    args = parser.parse_args(argv)

    from werkzeug.serving import make_server

    from assay_server.app import create_app
    from assay_server.db import Database
    from assay_server.settings import Settings

    settings = Settings(
        data_dir=args.data_dir,
        database_url=args.database_url,
        sqlite_busy_timeout_ms=args.busy_timeout_ms,
    )
    database = Database.from_settings(settings)
    app = create_app(settings, database=database)
    database.dispose()  # no connection may be shared by the processes forked below
    for port in args.ports:
        if os.fork() == 0:
            _serve(make_server, app, port)
    for _ in args.ports:
        os.wait()


def _serve(make_server: Callable[..., Any], app: Any, port: int) -> None:
    lock = threading.Lock()

    def print_answer(answer: Answer) -> None:
        with lock:
            sys.stdout.write(json.dumps(asdict(answer)) + "\n")
            sys.stdout.flush()

    server = make_server("127.0.0.1", port, AnswerLog(app, print_answer), threaded=True)
    print(json.dumps({"listening": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
