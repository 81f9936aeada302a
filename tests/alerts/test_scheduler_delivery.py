"""End to end in a real scheduler process: a scheduled run fails a check, raises an alert, and
the notification reaches a webhook receiver on loopback, signed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver

pytestmark = pytest.mark.commits  # a scheduler process reads the store


def test_a_scheduled_failing_run_is_notified_by_the_scheduler_process(
    monitored: Monitored, webhook: WebhookReceiver, settings: Any, database_url: str
) -> None:
    add_webhook_channel(monitored, webhook)
    monitored.log(400, missing_age=0.5)
    monitor = monitored.create_monitor(
        checks=["data_quality"],
        window={"predictions": 400},
        schedule={"interval_seconds": 2},
        channels=["ops"],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(
        ASSAY_DATABASE_URL=database_url,
        ASSAY_DATA_DIR=str(settings.data_dir),
        ASSAY_WEBHOOK_ALLOW_PRIVATE="1",
        ASSAY_SCHEDULER_SYNC_SECONDS="1",
        ASSAY_OUTBOX_POLL_SECONDS="1",
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        delivered = webhook.wait_for(1, timeout=60)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        output = scheduler.communicate(timeout=60)[0].decode()
    assert delivered, output
    assert scheduler.returncode == 0, output
    event = webhook.events[0]
    assert all(verified for _headers, _body, verified in webhook.received)
    assert event["type"] == "alert.firing"
    assert (event["data"]["check"], event["data"]["subject"]) == ("data_quality", "age")
    runs = monitored.client.get(
        monitored.url(f"/monitors/{monitor['id']}/runs"), headers=monitored.headers
    ).json
    assert runs and runs[-1]["trigger"] == "schedule"
