"""Benchmark: one LIME explanation through the API, with a warm worker, and under load.

    python tests/bench/explain_latency.py [--requests 60] [--clients 8] [--workers 2]

A random forest of 100 trees on 10 features is registered (skops, its tree type trusted by an
admin) on a real server on a loopback port, then explained with 5,000 LIME samples and
``num_features=10``. Prints, in the same run:
- the anchor: the same explanation computed in this process by LIME directly (no HTTP, no
  database, no worker): what the model and LIME cost by themselves;
- p50 / p95 of one explanation through the SDK with a warm worker (a new seed per request,
  so the stored-result cache never answers), target p50 <= 150 ms;
- throughput with ``--clients`` concurrent SDK clients.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "sdk")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import assay  # noqa: E402
from assay_server.app import create_app  # noqa: E402
from assay_server.auth.service import TokenService  # noqa: E402
from assay_server.db import Database  # noqa: E402
from assay_server.explain import routes as explain_routes  # noqa: E402
from assay_server.migrate import upgrade  # noqa: E402
from assay_server.models import import_all_models  # noqa: E402
from assay_server.roles import Actor  # noqa: E402
from assay_server.settings import Settings  # noqa: E402
from assay_server.wiring import wire  # noqa: E402

FEATURES = [f"f{i}" for i in range(10)]
NUM_SAMPLES = 5000


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 10)), columns=FEATURES)
    frame["y"] = (frame["f0"] + frame["f1"] - frame["f2"] > 0).astype(int)
    return frame


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _anchor(model, frame: pd.DataFrame, rows: list[dict], count: int) -> list[float]:
    from lime.lime_tabular import LimeTabularExplainer

    explainer = LimeTabularExplainer(
        frame[FEATURES].to_numpy(), mode="classification", feature_names=FEATURES, random_state=0
    )

    def predict(matrix):
        return model.predict_proba(pd.DataFrame(matrix, columns=FEATURES))

    timings = []
    for i in range(count):
        row = np.asarray([rows[i % len(rows)][f] for f in FEATURES])
        start = time.perf_counter()
        explainer.explain_instance(row, predict, num_features=10, num_samples=NUM_SAMPLES)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    frame = _data()
    model = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(
        frame[FEATURES], frame["y"]
    )
    rows = [{f: float(frame.iloc[i][f]) for f in FEATURES} for i in range(20)]

    with tempfile.TemporaryDirectory() as workdir:
        settings = Settings(
            data_dir=Path(workdir), explain_workers=args.workers, log_level="WARNING"
        )
        import_all_models()
        database = Database.from_settings(settings)
        upgrade(database.engine)
        with database.unit_of_work() as session:
            ctx = wire().context(Actor.cli("bench"), settings)
            token = TokenService(session, ctx).create("bench", "admin").secret
        app = create_app(settings, database=database)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        try:
            with assay.Client(url, token) as client:
                client.create_model("forest", "binary_classification")
                client.register_version("forest", model, reference_data=frame, target="y")
                client._transport.json(
                    "POST",
                    "/models/forest/versions/1/trusted-types",
                    json={"types": ["sklearn.tree._tree.Tree"]},
                )
                started = time.perf_counter()
                client.explain("forest", 1, rows[0], seed=10_000)  # starts the pool, loads
                cold = time.perf_counter() - started
                for worker in range(args.workers * 2):  # warm every worker's cache
                    client.explain("forest", 1, rows[1], seed=20_000 + worker)

                warm = []
                for i in range(args.requests):
                    start = time.perf_counter()
                    client.explain("forest", 1, rows[i % len(rows)], seed=i)
                    warm.append(time.perf_counter() - start)

            per_client = max(1, args.requests // args.clients)

            def client_run(index: int) -> int:
                with assay.Client(url, token) as own:
                    for j in range(per_client):
                        own.explain(
                            "forest", 1, rows[j % len(rows)], seed=100_000 + index * 1000 + j
                        )
                return per_client

            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as executor:
                done = sum(executor.map(client_run, range(args.clients)))
            elapsed = time.perf_counter() - start
        finally:
            server.shutdown()
            explain_routes.shutdown(app)
            database.dispose()

    anchor = _anchor(model, frame, rows, min(args.requests, 30))
    print(
        f"random forest 100 trees, 10 features, {NUM_SAMPLES} LIME samples, {args.workers} workers"
    )
    print(
        f"anchor (LIME in-process, no server): p50 {1000 * _percentile(anchor, 50):7.1f} ms"
        f"   p95 {1000 * _percentile(anchor, 95):7.1f} ms"
    )
    print(
        f"API, warm worker ({args.requests} requests):   p50 {1000 * _percentile(warm, 50):7.1f} ms"
        f"   p95 {1000 * _percentile(warm, 95):7.1f} ms   (target p50 <= 150 ms)"
    )
    print(f"first explanation (starts the pool, loads the model): {cold:.2f} s")
    print(
        f"throughput, {args.clients} concurrent clients: {done / elapsed:6.1f} explanations/s "
        f"({done} in {elapsed:.2f} s; anchor one core: {1 / statistics.mean(anchor):.1f}/s)"
    )


if __name__ == "__main__":
    main()
