"""A credit-risk model's whole life with Assay, from training to an audited production day.

Run it against a server you started (its first start prints an admin token):

    ASSAY_WEBHOOK_ALLOW_PRIVATE=1 assay-server run     # may call this script's receiver
    ASSAY_URL=http://127.0.0.1:8080 ASSAY_TOKEN=asy_… python docs/examples/credit_risk.py

It needs scikit-learn, pandas and skops beside the SDK. Each step prints one line. With the
admin token it makes the people of the story: Dana (data scientist, an approver herself),
and Alex and Sam (approvers). ``ASSAY_WEBHOOK_ALLOW_PRIVATE=1`` lets the server deliver to
the webhook receiver this script runs on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PowerTransformer, StandardScaler

import assay
from assay import webhooks

FEATURES = ["income", "debt_ratio", "age", "years_employed", "credit_lines", "purpose"]
NUMERIC = FEATURES[:-1]


def step(message: str) -> None:
    print(f"- {message}", flush=True)


def applicants(
    n: int, seed: int, *, income_shift: float = 1.0, skew_group_b: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic applicants: features, a group attribute (not a feature), and who defaulted."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B"], n)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10.6, 0.45, n) * income_shift,
            "debt_ratio": rng.beta(2, 5, n),
            "age": rng.integers(21, 70, n).astype(float),
            "years_employed": rng.exponential(6, n).round(1),
            "credit_lines": rng.poisson(4, n).astype(float),
            "purpose": rng.choice(["car", "home", "education", "business"], n),
        }
    )
    # In production, group B arrives with more debt: the model then declines it more often.
    frame.loc[group == "B", "debt_ratio"] = np.clip(
        frame.loc[group == "B", "debt_ratio"] + skew_group_b, 0, 1
    )
    risk = (
        -1.6
        - 4.5 * (np.log(frame["income"]) - 10.6)
        + 8.0 * (frame["debt_ratio"] - 0.28)
        - 0.1 * frame["years_employed"]
        + 0.3 * (frame["purpose"] == "business")
    )
    frame["default"] = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
    return frame, group


def validation_evidence(
    client: assay.Client,
    model: str,
    version: int,
    estimator: Any,
    holdout: pd.DataFrame,
    holdout_group: np.ndarray,
) -> None:
    """What the high-risk policy asks of a version before production: bias measured on
    validation traffic, and a global explanation."""
    scores = estimator.predict_proba(holdout[FEATURES])[:, 1]
    with client.prediction_logger(model, version) as logger:  # validation traffic
        for i, row in enumerate(holdout[FEATURES].to_dict("records")):
            pid = logger.log(
                row,
                int(scores[i] >= 0.5),
                score=float(scores[i]),
                sensitive={"group": holdout_group[i]},
            )
            logger.log_label(pid, int(holdout["default"][i]))
    validation = client.create_monitor(
        model,
        ["bias", "performance"],
        version=version,
        schedule=None,
        sensitive_features=["group"],
        name=f"validation-v{version}",
    )
    run = client.run_monitor(model, validation.id)
    bias = next(r for r in client.list_reports(model) if r.kind == "bias" and r.run_id == run.id)
    parity = bias.summary["features"]["group"]["demographic_parity_difference"]
    step(f"v{version} bias on validation traffic: demographic parity difference {parity:.3f}")
    client.global_explanation(model, version, sample_size=60, num_samples=300)
    step(f"v{version} global explanation computed (LIME over a reference sample)")


def holdout_benchmark(
    client: assay.Client,
    model: str,
    version: int,
    estimator: Any,
    holdout: pd.DataFrame,
    dataset_hash: str,
) -> None:
    """The version's accuracy and ROC AUC on the held-out applicants, logged as a benchmark."""
    scores = estimator.predict_proba(holdout[FEATURES])[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(holdout["default"], scores >= 0.5)),
        "roc_auc": float(roc_auc_score(holdout["default"], scores)),
    }
    client.log_benchmark(model, version, "holdout", metrics, dataset_hash=dataset_hash)
    step(
        f"v{version} holdout benchmark: accuracy {metrics['accuracy']:.3f}, "
        f"ROC AUC {metrics['roc_auc']:.3f}"
    )


def approve_by_two(people: dict[str, assay.Client], request_id: int) -> str:
    """Alex and Sam approve; the request's status after."""
    people["alex"].approve(request_id, "fairness and accuracy within policy")
    return people["sam"].approve(request_id, "reviewed the model card").status


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on loopback that keeps the events whose signature verifies."""

    def __init__(self, secret: str) -> None:
        self.secret, self.events = secret, list[dict[str, Any]]()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    headers = dict(self.headers.items())
                    receiver.events.append(webhooks.verify(headers, body, receiver.secret))
                    self.send_response(204)
                except webhooks.WebhookVerificationError:
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/assay"

    def wait_for(self, event_type: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["type"] == event_type:
                    return event
            time.sleep(0.5)
        raise SystemExit(f"no {event_type} event reached the receiver in {timeout:.0f} s")


def main(model: str | None = None) -> None:
    """The story, step by step, on the server of ``ASSAY_URL`` with the admin ``ASSAY_TOKEN``.
    ``model``: its name (by default a fresh ``credit-risk-…``, so that it can run again)."""
    model = model or f"credit-risk-{uuid.uuid4().hex[:6]}"
    url = os.environ.get("ASSAY_URL", "http://127.0.0.1:8080")
    admin = assay.Client(url, os.environ["ASSAY_TOKEN"])
    people = {
        name: assay.Client(url, admin.create_token(f"{name}-{model}", "approver").token)
        for name in ("dana", "alex", "sam")
    }
    dana = people["dana"]
    step(f"tokens made for dana, alex and sam (approvers) on {url}")

    # -- training ------------------------------------------------------------------------------
    train, _ = applicants(6000, seed=1)
    holdout, holdout_group = applicants(4000, seed=2)
    estimator = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["purpose"]),
            (StandardScaler(), NUMERIC),
        ),
        LogisticRegression(max_iter=1000),
    ).fit(train[FEATURES], train["default"])
    dataset_hash = hashlib.sha256(train.to_csv(index=False).encode()).hexdigest()
    step(f"trained a logistic regression on {len(train):,} applicants")

    dana.create_model(model, "binary_classification", risk_tier="high", owner="credit")
    version = dana.register_version(
        model,
        estimator,
        reference_data=train[[*FEATURES, "default"]],
        target="default",
        lineage={
            "git_commit": "9c1e2f7",
            "dataset_uri": "s3://credit/applicants-2026-11.csv",
            "dataset_hash": dataset_hash,
        },
        model_card={
            "intended_use": "rank consumer-credit applications for manual review",
            "limitations": "trained on one year of applications; not for business loans",
        },
    )
    assert version.artifact is not None
    step(f"registered {model} v{version.version} (artifact sha256 {version.artifact.sha256[:12]}…)")

    holdout_benchmark(dana, model, 1, estimator, holdout, dataset_hash)

    # -- the gate: blocked, then evidence, then approvals ------------------------------------
    request = dana.request_promotion(model, 1, "production", reason="first release")
    step(f"promotion to production requested: {request.status}")
    for rule in request.failing_rules:
        step(f"  {rule.policy}/{rule.id}: {rule.status} — {rule.message}")

    validation_evidence(dana, model, 1, estimator, holdout, holdout_group)

    request = dana.evaluate_promotion(request.id)
    step(f"re-evaluated: {request.status}, {request.required_approvals} approvals required")
    try:
        dana.approve(request.id, "looks good to me")
    except assay.AssayError as refused:
        step(f"dana may not approve her own request: {refused}")
    step(f"alex and sam approved: {approve_by_two(people, request.id)}")

    gate = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "gate",
            "check",
            model,
            "--version",
            "1",
            "--stage",
            "production",
        ],
        env={**os.environ, "ASSAY_URL": url, "ASSAY_TOKEN": os.environ["ASSAY_TOKEN"]},
        capture_output=True,
        text=True,
    )
    step(f"assay gate check exits {gate.returncode}: {gate.stdout.strip().splitlines()[0]}")
    if gate.returncode != 0:
        raise SystemExit(gate.stdout + gate.stderr)

    # -- a production day ----------------------------------------------------------------------
    receiver = Receiver("whsec_" + base64.b64encode(os.urandom(32)).decode())
    admin.create_channel(
        f"oncall-{model}",
        "webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=["alert.*"],
        models=[model],
    )
    step(f"webhook receiver listening on {receiver.url}")

    calm, calm_group = applicants(3000, seed=3)
    hard, hard_group = applicants(3000, seed=4, income_shift=0.6, skew_group_b=0.25)
    day = pd.concat([calm, hard], ignore_index=True)
    day_group = np.concatenate([calm_group, hard_group])
    day_scores = estimator.predict_proba(day[FEATURES])[:, 1]
    with dana.prediction_logger(model, 1) as logger:
        ids = [
            logger.log(
                row,
                int(day_scores[i] >= 0.5),
                score=float(day_scores[i]),
                sensitive={"group": day_group[i]},
            )
            for i, row in enumerate(day[FEATURES].to_dict("records"))
        ]
    step(f"logged {len(ids):,} production predictions; the second half after incomes fell")
    with dana.prediction_logger(model, 1) as labels:  # ground truth, a month later
        for i in range(0, len(ids), 2):
            labels.log_label(ids[i], int(day["default"][i]))
    step(f"logged {len(ids) // 2:,} late labels")

    monitor = dana.create_monitor(
        model,
        ["drift", "data_quality", "bias", "performance"],
        stage="production",
        window={"predictions": len(ids)},
        schedule=None,
        sensitive_features=["group"],
        channels=[f"oncall-{model}"],
        name="production",
    )
    run = dana.run_monitor(model, monitor.id)
    latest = {r.kind: r for r in dana.list_reports(model) if r.run_id == run.id}
    step("monitor run: " + ", ".join(f"{k} {r.status}" for k, r in sorted(latest.items())))
    event = receiver.wait_for("alert.firing")
    alert = event["data"]
    step(f"incident received and its signature verified: {alert['check']} {alert['severity']}")

    one = day[FEATURES].iloc[4500].to_dict()
    explanation = dana.explain(model, 1, one)
    top = max(explanation.weights, key=lambda w: abs(w.weight))
    step(f"explained one declined applicant: top feature {top.feature} ({top.weight:+.3f})")

    # -- a challenger: retrained for the alert, judged in shadow, rolled out in steps ---------
    recent = day.iloc[::2]  # the labelled half of the production day
    retrain = pd.concat([train, recent], ignore_index=True)
    challenger = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["purpose"]),
            (PowerTransformer(method="box-cox"), ["income"]),  # income acts on a log scale
            (StandardScaler(), NUMERIC[1:]),
        ),
        LogisticRegression(max_iter=1000),
    ).fit(retrain[FEATURES], retrain["default"])
    retrain_hash = hashlib.sha256(retrain.to_csv(index=False).encode()).hexdigest()
    v2 = dana.register_version(
        model,
        challenger,
        reference_data=retrain[[*FEATURES, "default"]],
        target="default",
        lineage={
            "git_commit": "4b7d0a3",
            "dataset_uri": "s3://credit/applicants-2026-11-plus-recent.csv",
            "dataset_hash": retrain_hash,
        },
        model_card={
            "intended_use": "rank consumer-credit applications for manual review",
            "limitations": "retrained on the year plus the latest labelled day",
        },
        triggered_by={"alert": alert["alert_id"]},
    )
    step(f"retrained as v{v2.version} for alert #{alert['alert_id']} (income on a log scale)")

    holdout_benchmark(dana, model, v2.version, challenger, holdout, retrain_hash)
    validation_evidence(dana, model, v2.version, challenger, holdout, holdout_group)

    shadow, _ = applicants(3000, seed=5, income_shift=0.6)
    champion_scores = estimator.predict_proba(shadow[FEATURES])[:, 1]
    challenger_scores = challenger.predict_proba(shadow[FEATURES])[:, 1]
    with (
        dana.prediction_logger(model, 1) as serving,
        dana.prediction_logger(model, v2.version, shadow_of=1) as in_shadow,
    ):
        for i, row in enumerate(shadow[FEATURES].to_dict("records")):
            pid = serving.log(row, int(champion_scores[i] >= 0.5), score=float(champion_scores[i]))
            in_shadow.log(
                row,
                int(challenger_scores[i] >= 0.5),
                score=float(challenger_scores[i]),
                prediction_id=pid,  # the same request: the two answers pair up
            )
            serving.log_label(pid, int(shadow["default"][i]))  # a label counts for both
    judged = dana.compare_versions(model, champion=1, challenger=v2.version, mode="shadow")
    step(
        f"v{v2.version} in v1's shadow on {judged.n:,} labelled requests: accuracy "
        f"{judged.champion_value:.3f} → {judged.challenger_value:.3f} "
        f"({judged.test}, p={judged.p_value:.2g}): {judged.verdict}"
    )

    incidents = [a.id for a in admin.list_alerts(model, status="open")]
    if incidents:
        admin.resolve_alerts(incidents, f"v{v2.version} was retrained for them; it rolls out next")
    step(f"on-call resolved {len(incidents)} incident(s): v{v2.version} answers them")
    release = dana.request_promotion(
        model, v2.version, "production", reason="retrained for the drift", rollout=True
    )
    for rule in release.failing_rules:
        raise SystemExit(f"v{v2.version} is blocked: {rule.policy}/{rule.id}: {rule.message}")
    step(f"v{v2.version} to production, as a phased rollout: {approve_by_two(people, release.id)}")

    rollout = dana.start_rollout(
        model, release.id, [20, 100], min_duration_minutes=0, min_predictions=200
    )
    step(f"rollout started: v{v2.version} takes {rollout.percent:g}% of the traffic")
    pick = np.random.default_rng(6)
    loggers = {
        1: dana.prediction_logger(model, 1),
        v2.version: dana.prediction_logger(model, v2.version),
    }
    traffic, _ = applicants(2000, seed=7, income_shift=0.6)
    answers = {  # what each version would answer, computed up front to keep the loop short
        1: estimator.predict_proba(traffic[FEATURES])[:, 1],
        v2.version: challenger.predict_proba(traffic[FEATURES])[:, 1],
    }
    for i, row in enumerate(traffic[FEATURES].to_dict("records")):
        split = dana.rollout(model)  # {version: weight}, cached for a few seconds
        serving_version = int(pick.choice(list(split), p=list(split.values())))
        score = float(answers[serving_version][i])
        pid = loggers[serving_version].log(row, int(score >= 0.5), score=score)
        loggers[serving_version].log_label(pid, int(traffic["default"][i]))
    for logger in loggers.values():
        logger.close()
    gate = subprocess.run(
        [sys.executable, "-m", "assay.cli", "gate", "check", model, "--rollout"],
        env={**os.environ, "ASSAY_URL": url, "ASSAY_TOKEN": os.environ["ASSAY_TOKEN"]},
        capture_output=True,
        text=True,
    )
    step(f"assay gate check --rollout exits {gate.returncode}: {gate.stdout.strip()[:110]}")
    if gate.returncode != 0:
        raise SystemExit(gate.stdout + gate.stderr)
    done = dana.rollout_status(model).rollout
    step(f"rollout {done.status}: production is now {dana.rollout(model, max_age=0)}")

    # -- evidence for the auditor ----------------------------------------------------------------
    out = Path(tempfile.mkdtemp(prefix="assay-credit-"))
    written = dana.compliance_report(model, v2.version, path=out / "compliance.html")
    step(f"compliance report written to {written} ({written.stat().st_size:,} bytes)")
    verified = admin.verify_audit_locally(public_key=admin.audit_public_key())
    if not verified.ok:
        raise SystemExit(f"the audit trail did not verify: {verified.message}")
    step(f"audit trail verified on this machine: {verified.message}")
    print(json.dumps({"model": model, "out": str(out)}))


if __name__ == "__main__":
    main()
