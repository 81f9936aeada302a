"""``assay-server demo``: serve a fresh store seeded with the credit-risk story, so that the UI
shows a real model, its reports, an incident, approvals and the audit trail on first start.

The server runs as ``assay-server run`` in a child process (same settings, plus webhooks to
loopback allowed, for the story's own receiver); the story (``docs/examples/credit_risk.py``)
then runs here through the SDK, as a user's script would, and the server keeps serving until
Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import click
import requests

from ..settings import Settings
from .state import State, pass_state

DEMO_MODEL = "credit-risk"
_TOKEN = re.compile(r"\basy_[0-9A-Za-z]{43}\b")


@click.command()
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port [ASSAY_PORT, 8080]."
)
@pass_state
def demo(state: State, port: int | None) -> None:
    """Seed a fresh data directory with a credit-risk model's whole life, and serve it."""
    settings = state.settings
    _refuse_a_used_store(settings)
    port = settings.port if port is None else port
    url = f"http://{settings.host}:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "run", "--port", str(port)],
        env={**os.environ, "ASSAY_WEBHOOK_ALLOW_PRIVATE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = _first_admin_token(server)
        _wait_until_ready(url, server)
        click.secho(f"Seeding the demo on {url}: a credit-risk model's whole life", bold=True)
        _run_story(url, token)
        click.secho(f"\nThe demo is ready: open {url}/ and sign in with", bold=True)
        click.echo(f"\n    {token}\n")
        click.echo("Ctrl-C stops the server; the data stays in " + str(settings.data_dir))
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def _refuse_a_used_store(settings: Settings) -> None:
    if settings.is_sqlite and (settings.data_dir / "assay.db").exists():
        raise click.ClickException(
            f"{settings.data_dir} already holds a store: the demo seeds a fresh one. "
            "Run it elsewhere, e.g. ASSAY_DATA_DIR=./assay-demo assay-server demo"
        )


def _first_admin_token(server: subprocess.Popen[str]) -> str:
    """The admin token the first start prints; the server's output keeps flowing after."""
    assert server.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            break
        seen.append(line)
        found = _TOKEN.search(line)
        if found:
            threading.Thread(target=_drain, args=(server.stdout,), daemon=True).start()
            return found.group(0)
    raise click.ClickException("The server did not start:\n" + "".join(seen[-20:]))


def _drain(stream: object) -> None:
    for _line in stream:  # type: ignore[attr-defined]
        pass  # the server's access log: not the demo's output


def _wait_until_ready(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise click.ClickException("The server stopped while starting.")
        try:
            if requests.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"The server at {url} did not become ready in 120 s.")


def _run_story(url: str, token: str) -> None:
    from ..demo import credit_risk

    os.environ["ASSAY_URL"], os.environ["ASSAY_TOKEN"] = url, token
    try:
        credit_risk.main(DEMO_MODEL)
    except SystemExit as stopped:  # the story's own clear failure
        raise click.ClickException(f"The demo story stopped: {stopped}") from None
