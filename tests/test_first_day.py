"""A new user's first day, end to end, against ``assay-server run`` started from a directory
of its own with default settings (SQLite under ``./.assay``), driven from another directory
through the SDK: register a triage model with a derived group, log 6,000 predictions with a
drifted batch and labels (some ahead of their predictions, one that is not a class), run every
check, hear the incident and the stage change on a signed webhook, explain a prediction,
download files, read Evidently's page, export and verify the audit trail, and read the
compliance report."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import assay
from assay_server.alerts.signing import generate_secret
from tests.alerts.receivers import WebhookReceiver
from tests.conftest import POSTGRES_URL_VAR
from tests.faults.conftest import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.commits,
    pytest.mark.skipif(
        bool(os.environ.get(POSTGRES_URL_VAR)),
        reason="default settings are SQLite's; the SQLite suite runs this scenario",
    ),
]
FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``assay-server run`` in a directory of its own, default settings: URL, admin token."""
    home = tmp_path / "server-home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["ASSAY_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver is on loopback
    process = subprocess.Popen(
        [sys.executable, "-m", "assay_server.cli", "run", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        token, lines = None, []
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            token = token or next(iter(re.findall(r"\basy_[0-9A-Za-z]{43}\b", line)), None)
            if token and f":{port}" in line:
                break
        assert token, "".join(lines)
        # keep reading what it prints, so a full pipe never blocks the server
        threading.Thread(target=lines.extend, args=(process.stdout,), daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url)
        yield url, token, home
    finally:  # also when it never became ready: no server outlives its test
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _wait_until_ready(url: str) -> None:
    import requests

    for _ in range(600):
        try:
            if requests.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never became ready")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load_breast_cancer(as_frame=True).frame
    data["group"] = np.where(data["mean radius"] > data["mean radius"].median(), "A", "B")
    data["malignant"] = 1 - data["target"]
    return data.iloc[:400].reset_index(drop=True), data.iloc[400:].reset_index(drop=True)


def test_a_new_users_first_day(server, tmp_path, monkeypatch) -> None:
    url, token, home = server
    monkeypatch.chdir(tmp_path)  # the user's own directory, not the server's
    train, holdout = _frames()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(train[FEATURES], train["malignant"])
    reference = train[[*FEATURES, "malignant"]].copy()
    reference["score"] = model.predict_proba(train[FEATURES])[:, 1]

    with (
        assay.Client(url, token) as client,
        WebhookReceiver(generate_secret()) as receiver,
    ):
        client.create_model("triage", "binary_classification", risk_tier="high", owner="onco")
        version = client.register_version(
            "triage", model, reference_data=reference, target="malignant"
        )
        assert [f.name for f in version.schema.features] == FEATURES  # score kept, not a feature
        channel = client.create_channel(
            "oncall",
            "webhook",
            url=receiver.url,
            secret=receiver.secret,
            events=["alert.*", "stage.changed", "version.registered"],
        )
        assert channel.events == ["alert.*", "stage.changed", "version.registered"]

        # a day of traffic: 6,000 predictions, the last 1,500 drifted; labels by another pipeline
        rows = holdout.sample(6000, replace=True, random_state=7).reset_index(drop=True)
        rows.loc[4500:, "mean radius"] *= 1.6
        rows.loc[4500:, "worst area"] *= 2.2
        scores = model.predict_proba(rows[FEATURES])[:, 1]
        ids = [f"case-{i}" for i in range(len(rows))]
        with client.prediction_logger("triage", 1) as labels_first:
            for i in range(0, 300):  # ground truth that overtakes its prediction
                labels_first.log_label(ids[i], int(rows["malignant"][i]))
        with client.prediction_logger("triage", 1) as logger:
            for i, row in rows.iterrows():
                logger.log(
                    {name: float(row[name]) for name in FEATURES},
                    prediction=int(scores[i] >= 0.5),
                    score=float(scores[i]),
                    prediction_id=ids[i],
                    sensitive={"group": row["group"]},
                )
            for i in range(300, 3000):
                logger.log_label(ids[i], int(rows["malignant"][i]))
            logger.log_label(ids[3000], "yes")  # not a class of a binary model
        stats = logger.stats
        assert stats.dropped == 0 and stats.labels_rejected == 1, stats

        monitor = client.create_monitor(
            "triage",
            checks=["drift", "data_quality", "bias", "performance"],
            window={"hours": 48},
            schedule=None,
            sensitive_features=["group"],
            channels=["oncall"],
        )
        run = client.run_monitor("triage", monitor.id)
        assert run.status == "succeeded", run
        reports = {r.kind: r for r in client.list_reports("triage")}
        assert reports["drift"].status in ("warning", "alert")
        performance = reports["performance"].summary
        assert performance["n_labelled"] == 3000 and performance["label_coverage"] == 0.5

        alerts = client.list_alerts(model="triage")
        assert len({(a.monitor_id, a.check) for a in alerts}) == len(alerts)  # one per check
        client.set_stage("triage", 1, "production", reason="first day: go live")
        firing = [a for a in alerts if a.status == "firing"]
        assert firing, "a drifted day raises at least one incident"
        assert receiver.wait_for(len(firing) + 1, timeout=90)  # each incident, the stage change
        assert all(verified for _h, _b, verified in receiver.received)
        kinds = [event["type"] for event in receiver.events]
        assert "alert.firing" in kinds and "stage.changed" in kinds

        one_case = {name: float(holdout[name][0]) for name in FEATURES}
        explanation = client.explain("triage", 1, one_case)
        assert {w.feature for w in explanation.weights} <= set(FEATURES)
        assert "drift report" in client.report_html(reports["drift"].id, timeout=120)

        verified = client.verify_audit_locally(public_key=client.audit_public_key())
        assert verified.ok, verified.message
        report = client.compliance_report("triage", 1, format="json")
        assert report["audit_chain"]["ok"] and report["ingest_daily"]

    # the operator, in another directory, gets a clear refusal instead of an empty store
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay_server.cli",
            "tokens",
            "create",
            "--role",
            "viewer",
            "--name",
            "me",
        ],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "No Assay store at" in result.stderr + result.stdout
    assert (home / ".assay" / "assay.db").exists() and not (tmp_path / ".assay").exists()
