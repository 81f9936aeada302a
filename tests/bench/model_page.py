"""Benchmark: the model page with 30 days of hourly runs of five checks (3,600 reports).

    python tests/bench/model_page.py [--days 30] [--features 10] [--repeat 30]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Seeds a fresh store (a temporary SQLite file unless --database-url names another) with one
model, its version and a monitor through the services, then bulk-inserts one run per hour and
one report per check and run — drift (a column per feature), data quality, bias (a sensitive
feature of three groups), realised and estimated performance against a baseline — with the
summary and detail the checks write. Then, through the Flask test client signed in as a
viewer, it times the model page (server time: the request, its queries and the template)
for the 7-, 30- and 90-day ranges, and the model list, and prints median and p95 next to the
anchor: a page of the same app behind the same sign-in that runs one plain ``SELECT 1``.
Beside the wall time it prints the median CPU time of the request (the server's own work,
steadier than wall time on a shared machine) and the page's size.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "sdk"), str(ROOT)]

from assay_server.access import browser_page, requires  # noqa: E402
from assay_server.app import create_app  # noqa: E402
from assay_server.auth.service import TokenService  # noqa: E402
from assay_server.db import Database  # noqa: E402
from assay_server.migrate import upgrade  # noqa: E402
from assay_server.monitoring.models import MonitorRun, Report  # noqa: E402
from assay_server.monitoring.service import MonitorService  # noqa: E402
from assay_server.registry.models import ModelVersion  # noqa: E402
from assay_server.registry.service import RegistryService, VersionSpec  # noqa: E402
from assay_server.request_scope import db_session  # noqa: E402
from assay_server.roles import Actor, Role  # noqa: E402
from assay_server.settings import Settings  # noqa: E402
from assay_server.wiring import wire  # noqa: E402
from tests.web.forms import sign_in  # noqa: E402

CHECKS = ["drift", "data_quality", "bias", "performance", "estimated_performance"]
GROUPS = ["a", "b", "c"]
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def _drift(rng: random.Random, features: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    columns = []
    for name in features:
        score = rng.uniform(0, 0.2)
        columns.append(
            {
                "feature": name,
                "kind": "numerical",
                "method": "wasserstein",
                "score": score,
                "threshold": 0.1,
                "drifted": score >= 0.1,
                "n_reference": 10_000,
                "n_current": 1_000,
            }
        )
    drifted = [c["feature"] for c in columns if c["drifted"]]
    share = len(drifted) / len(columns)
    summary = {
        "share_drifted": share,
        "n_drifted": len(drifted),
        "n_columns": len(columns),
        "dataset_drift": share >= 0.5,
        "drift_share": 0.5,
        "drifted_columns": drifted,
        "levels": {"warning": 0.3, "alert": 0.5},
    }
    return summary, {"columns": columns}


def _quality(rng: random.Random, features: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    columns = [
        {
            "feature": name,
            "missing_share": rng.uniform(0, 0.02),
            "reference_missing_share": 0.0,
            "out_of_range_share": rng.uniform(0, 0.01),
        }
        for name in features
    ]
    summary = {"rows": 1000, "rejected_share": 0.0, "worst_share": 0.02, "levels": {}}
    return summary, {"columns": columns}


def _bias(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    groups = [
        {
            "group": group,
            "count": 330,
            "labelled": 300,
            "selection_rate": rng.uniform(0.3, 0.6),
            "accuracy": rng.uniform(0.7, 0.9),
            "tpr": rng.uniform(0.6, 0.9),
            "fpr": rng.uniform(0.1, 0.3),
            "below_min_count": False,
        }
        for group in GROUPS
    ]
    rates = [g["selection_rate"] for g in groups]
    figures = {
        "demographic_parity_difference": max(rates) - min(rates),
        "demographic_parity_ratio": min(rates) / max(rates),
        "equalized_odds_difference": 0.1,
        "equalized_odds_ratio": 0.8,
    }
    summary = {
        "metric": "demographic_parity_difference",
        "levels": {"warning": 0.1, "alert": 0.2},
        "features": {"group": figures},
        "absent": [],
    }
    return summary, {"features": [{"feature": "group", **figures, "groups": groups}]}


def _performance(rng: random.Random, hour: int) -> dict[str, Any]:
    metrics = {
        name: 0.8 - 0.05 * math.sin(hour / 24) + rng.uniform(-0.02, 0.02) for name in METRICS
    }
    return {
        "metrics": metrics,
        "metric": "accuracy",
        "levels": {"warning": 0.02, "alert": 0.05, "metric": "accuracy", "mode": "absolute"},
        "baseline": {"source": "benchmark:holdout", "metrics": dict.fromkeys(METRICS, 0.8)},
        "degradation": {"current": metrics["accuracy"], "baseline": 0.8, "status": "ok"},
        "n_labelled": 600,
        "label_coverage": 0.6,
        "min_labelled": 100,
    }


def seed(database: Database, ctx: Any, days: int, features: int) -> None:
    """One model, version and monitor through the services; the runs and reports in bulk."""
    names = [f"feature_{i:02d}" for i in range(features)]
    with database.unit_of_work() as session:
        registry = RegistryService(session, ctx)
        registry.create_model(name="bench", task="binary_classification")
        registry.register_version(
            "bench",
            VersionSpec(features=[{"name": n, "kind": "numerical"} for n in names], target="y"),
        )
        monitor = MonitorService(session, ctx).create(
            "bench",
            {"checks": CHECKS, "window": {"hours": 1}, "sensitive_features": ["group"]},
        )
        monitor_id, model_id = monitor.id, monitor.model_id
        version_id = session.scalar(
            select(ModelVersion.id).where(ModelVersion.model_id == model_id)
        )
    rng = random.Random(7)
    start = NOW - timedelta(days=days)
    hours = days * 24
    with database.unit_of_work() as session:
        runs = [
            {
                "monitor_id": monitor_id,
                "trigger": "schedule",
                "scheduled_for": start + timedelta(hours=h),
                "attempt": 1,
                "status": "succeeded",
                "requested_by": "scheduler",
                "created_at": start + timedelta(hours=h),
                "started_at": start + timedelta(hours=h),
                "finished_at": start + timedelta(hours=h, seconds=2),
                "duration_seconds": 2.0,
                "version_id": version_id,
                "window_start": start + timedelta(hours=h - 1),
                "window_end": start + timedelta(hours=h),
                "rows_total": 1000 + rng.randint(-200, 200),
                "rows_used": 1000,
                "sampled": False,
                "statuses": dict.fromkeys(CHECKS, "ok"),
            }
            for h in range(hours)
        ]
        session.execute(insert(MonitorRun), runs)
        run_ids = list(
            session.scalars(
                select(MonitorRun.id)
                .where(MonitorRun.monitor_id == monitor_id)
                .order_by(MonitorRun.id)
            )
        )
        reports = []
        for hour, (run, run_id) in enumerate(zip(runs, run_ids, strict=True)):
            made = {
                "drift": _drift(rng, names),
                "data_quality": _quality(rng, names),
                "bias": _bias(rng),
                "performance": (_performance(rng, hour), {}),
                "estimated_performance": (_performance(rng, hour), {}),
            }
            for kind, (summary, detail) in made.items():
                reports.append(
                    {
                        "run_id": run_id,
                        "monitor_id": monitor_id,
                        "model_id": model_id,
                        "version_id": version_id,
                        "kind": kind,
                        "status": "ok",
                        "window_start": run["window_start"],
                        "window_end": run["window_end"],
                        "rows_total": run["rows_total"],
                        "rows_used": run["rows_used"],
                        "sampled": False,
                        "summary": summary,
                        "detail": detail,
                        "findings": [],
                        "created_at": run["created_at"],
                    }
                )
        session.execute(insert(Report), reports)
    print(f"seeded {len(run_ids):,} runs and {len(reports):,} reports over {days} days")


def _timed(client: Any, path: str, repeat: int) -> dict[str, float]:
    """Median and p95 of wall time, and median of this process's CPU time (what the server
    spent, whatever else the machine runs), in milliseconds."""
    client.get(path)  # warm: templates compiled, statements cached
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
    wall.sort()
    p95 = wall[min(len(wall) - 1, math.ceil(0.95 * len(wall)) - 1)]
    return {
        "median": statistics.median(wall) * 1000,
        "p95": p95 * 1000,
        "cpu": statistics.median(cpu) * 1000,
        "kb": len(response.data) / 1024,
    }


def _fresh_postgres(url: str) -> tuple[str, Any]:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"assay_bench_{int(time.time())}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{url.rsplit('/', 1)[0]}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        drop = None
        url = ""
        if args.database_url and not args.database_url.startswith("sqlite"):
            url, drop = _fresh_postgres(args.database_url)
        settings = Settings(data_dir=Path(workdir), database_url=url, secret_key="bench")
        database = Database.from_settings(settings)
        try:
            upgrade(database.engine)
            ctx = wire().context(Actor.cli("bench"), settings, clock=lambda: NOW)
            seed(database, ctx, args.days, args.features)
            with database.unit_of_work() as session:
                token = TokenService(session, ctx).create("bench-viewer", "viewer").secret
            app = create_app(settings, database=database, clock=lambda: NOW)

            @requires(Role.VIEWER)
            @browser_page
            def anchor() -> str:
                return str(db_session().execute(text("SELECT 1")).scalar())

            app.add_url_rule("/bench-anchor", "bench_anchor", anchor)
            client = sign_in(app.test_client(), token)
            print(f"store: {database.engine.dialect.name}; {args.repeat} requests each, ms")
            print(f"{'page':<34}{'median':>9}{'p95':>9}{'cpu':>9}{'KiB':>8}")
            for label, path in (
                ("anchor: SELECT 1 page", "/bench-anchor"),
                ("model page, 7 days", "/models/bench?days=7"),
                ("model page, 30 days (default)", "/models/bench"),
                ("model page, 90 days", "/models/bench?days=90"),
                ("model list", "/"),
            ):
                t = _timed(client, path, args.repeat)
                print(
                    f"{label:<34}{t['median']:>9.1f}{t['p95']:>9.1f}{t['cpu']:>9.1f}{t['kb']:>8.0f}"
                )
        finally:
            database.dispose()
            if drop is not None:
                drop()


if __name__ == "__main__":
    main()
