"""What the UI tests look at, made through the API and the outbox as in production:
a monitored model with a report of each kind, firing alerts, and failed deliveries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from assay_server.alerts.outbox import RETRY_DELAYS, Outbox
from tests.alerts.conftest import add_webhook_channel
from tests.alerts.receivers import WebhookReceiver
from tests.api.factories import API, create_model, parquet_bytes, register_version
from tests.monitoring.conftest import Monitored

CHECKS = ["drift", "data_quality", "bias", "performance"]
QUALITY_LEVELS = {"warning": 0.05, "alert": 0.2}
HOSTILE = '<img src=x onerror="alert(1)">'
# Closes the <script> element Evidently keeps its data in, if it is written there verbatim.
BREAKOUT = "</script><script>alert(4)</script>"


@dataclass(frozen=True)
class Scenario:
    """Ids of what was made: the monitor, a report per kind, the alerts, the deliveries."""

    model: str
    monitor_id: int
    reports: dict[str, int]
    alerts: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]

    @property
    def quality_alert(self) -> dict[str, Any]:
        """The critical data-quality alert about ``age`` (30% of ages missing)."""
        [alert] = [a for a in self.alerts if (a["check"], a["subject"]) == ("data_quality", "age")]
        return alert


def monitor_and_alert(monitored: Monitored, receiver: WebhookReceiver) -> Scenario:
    """A monitor of four checks over a window with 30% of ages missing and older customers."""
    add_webhook_channel(monitored, receiver, name="ops")
    monitor = monitored.create_monitor(
        name="hourly",
        checks=CHECKS,
        window={"hours": 1},
        sensitive_features=["sex"],
        channels=["ops"],
        thresholds={"data_quality": QUALITY_LEVELS},
    )
    monitored.log(400, missing_age=0.3, shift=8.0, seed=3)
    run = monitored.run(monitor["id"])
    assert run["status"] == "succeeded", run
    reports = {report["kind"]: report["id"] for report in monitored.reports()}
    assert set(reports) == set(CHECKS), reports
    alerts = _get(monitored, "/alerts", status="open")
    return Scenario(monitored.model, monitor["id"], reports, alerts, [])


def fail_every_delivery(
    scenario: Scenario, monitored: Monitored, receiver: WebhookReceiver, outbox: Outbox
) -> Scenario:
    """Make the receiver answer 500 and run the outbox past every retry: the deliveries fail."""
    receiver.fail_next(10_000, status=500)
    attempts = 0
    for _ in range(len(RETRY_DELAYS) + 1):
        attempts += outbox.run_once()
        monitored.clock.advance(hours=12)  # past the longest retry delay (10 h + 10% jitter)
    deliveries = _get(monitored, "/deliveries")
    assert deliveries and all(d["status"] == "failed" for d in deliveries), deliveries
    assert attempts == len(deliveries) * (len(RETRY_DELAYS) + 1)
    return Scenario(
        scenario.model, scenario.monitor_id, scenario.reports, scenario.alerts, deliveries
    )


def hostile_alert(client: Any, headers: dict[str, str], now: datetime) -> dict[str, Any]:
    """A model whose description and only feature's name are HTML, and an alert about it."""
    model = "hostile"
    create_model(client, headers, model, description=f"<script>alert('d')</script>{HOSTILE}")
    rng = np.random.default_rng(5)
    reference = pd.DataFrame(
        {HOSTILE: rng.normal(0, 1, 300), "y": rng.integers(0, 2, 300), "p": rng.integers(0, 2, 300)}
    )
    metadata = {
        "features": [{"name": HOSTILE, "kind": "numerical"}],
        "target": "y",
        "prediction": "p",
    }
    values = [None if i % 2 else float(i) for i in range(200)]  # half of them missing
    _logged_and_run(
        client, headers, model, metadata, reference, {HOSTILE: values}, now, "data_quality"
    )
    alerts = client.get(f"{API}/alerts", headers=headers, query_string={"model": model}).json
    [alert] = [a for a in alerts if a["subject"] == HOSTILE]
    return alert


def breakout_drift_report(client: Any, headers: dict[str, str], now: datetime) -> int:
    """A drift report whose feature name and logged category values are `BREAKOUT`."""
    model = "breakout"
    create_model(client, headers, model)
    rng = np.random.default_rng(7)
    reference = pd.DataFrame(
        {
            BREAKOUT: rng.choice(["a", "b", BREAKOUT], 300),
            "plan": rng.choice(["basic", BREAKOUT], 300),
            "y": rng.integers(0, 2, 300),
        }
    )
    metadata = {
        "features": [
            {"name": BREAKOUT, "kind": "categorical"},
            {"name": "plan", "kind": "categorical"},
        ],
        "target": "y",
    }
    features = {BREAKOUT: [BREAKOUT] * 200, "plan": [BREAKOUT, "basic"] * 100}
    _logged_and_run(client, headers, model, metadata, reference, features, now, "drift")
    [report] = client.get(f"{API}/models/{model}/reports", headers=headers).json
    return int(report["id"])


def _logged_and_run(
    client: Any,
    headers: dict[str, str],
    model: str,
    metadata: dict[str, Any],
    reference: pd.DataFrame,
    features: dict[str, list[Any]],
    now: datetime,
    check: str,
) -> None:
    """Register version 1 with ``reference``, log 200 rows of ``features`` ten minutes ago,
    and run a manual monitor of one ``check`` over them."""
    response = register_version(
        client,
        headers,
        model,
        metadata=metadata,
        reference=(parquet_bytes(reference), "reference.parquet"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = {
        "columns": {
            "prediction_id": [f"{model}-{i}" for i in range(200)],
            "timestamp": [(now - timedelta(minutes=10)).timestamp()] * 200,
            "features": features,
            "prediction": [i % 2 for i in range(200)],
        }
    }
    logged = client.post(
        f"{API}/models/{model}/versions/1/predictions",
        data=json.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert logged.json["accepted"] == 200, logged.get_data(as_text=True)
    monitor = client.post(
        f"{API}/models/{model}/monitors",
        json={"checks": [check], "window": {"predictions": 1000}, "schedule": None},
        headers=headers,
    ).json
    ran = client.post(f"{API}/models/{model}/monitors/{monitor['id']}/run", headers=headers)
    assert ran.status_code == 201, ran.get_data(as_text=True)


def _get(monitored: Monitored, path: str, **query: Any) -> Any:
    response = monitored.client.get(f"{API}{path}", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json
