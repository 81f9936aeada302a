"""Benchmark: can one process's prediction logger keep up with a busy service?

    python tests/bench/sdk_throughput.py [--rates 10000,30000,60000] [--seconds 10]

Starts one `assay-server run` (SQLite in a temporary directory, one gunicorn worker, no
scheduler), registers a version with 20 features, and measures in the same run:

- the anchor: the server's ingest ceiling — pre-encoded 1,000-row batches POSTed by four
  threads (``ingest_throughput.py``'s method), in rows/s;
- for each offered rate: one thread calls ``PredictionLogger.log()`` at that rate for
  ``--seconds`` (paced every millisecond), then ``flush()``; printed: delivered rows/s
  (from the first call to the end of the flush), rows spooled to disk, rows dropped, the
  flush's time after the last call, and ``log()``'s p99 in µs.

Targets (the scale-out issue): at 30k/s offered, 0 spooled, 0 dropped, flush ≤ 1 s after the
last call, ``log()`` p99 ≤ 20 µs; at any rate, delivered/s ≥ 70% of the ceiling.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk"), str(Path(__file__).resolve().parent)]

from ingest_throughput import FEATURES, _batch, ingest_rate  # noqa: E402
from logger_log_cost import start_server  # noqa: E402

import assay  # noqa: E402


def _rows(count: int) -> list[dict[str, object]]:
    rng = random.Random(3)
    rows = []
    for _ in range(count):
        row: dict[str, object] = {f"n{i}": rng.gauss(0, 1) for i in range(15)}
        row.update({f"c{i}": rng.choice("abcde") for i in range(5)})
        rows.append(row)
    return rows


def offer(logger: assay.PredictionLogger, rate: int, seconds: float) -> dict[str, float]:
    """Call ``log()`` ``rate`` times a second for ``seconds``; what came of it."""
    rows = _rows(1000)
    per_tick = max(1, rate // 1000)
    samples: list[int] = []
    total = int(rate * seconds)
    started = time.perf_counter()
    sent = 0
    while sent < total:
        due = started + (sent // per_tick) / 1000
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        for _ in range(min(per_tick, total - sent)):
            before = time.perf_counter_ns()
            logger.log(rows[sent % 1000], sent & 1, score=0.5)
            samples.append(time.perf_counter_ns() - before)
            sent += 1
    last_call = time.perf_counter()
    flushed = logger.flush(timeout=120)
    done = time.perf_counter()
    stats = logger.stats
    samples.sort()
    return {
        "offered": rate,
        "delivered_per_s": stats["sent"] / (done - started),
        "spooled": stats["spooled"],
        "dropped": stats["dropped"],
        "flush_s": done - last_call,
        "flushed": float(flushed),
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10000,30000,60000")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]
    bodies = [
        json.dumps(_batch(rng, start, 1000, run)).encode() for start in range(0, 100_000, 1000)
    ]
    ceiling, _ = ingest_rate(bodies, 100_000, senders=4, threads=8, database_url=None)
    print(
        f"anchor: the server's ingest ceiling (4 POSTers, 1,000-row batches): {ceiling:,.0f} rows/s"
    )
    print("offered/s  delivered/s  of ceiling  spooled  dropped  flush after last call  log() p99")
    for rate in (int(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            process, url, token = start_server(Path(tmp) / "server")
            try:
                with assay.Client(url, token) as client:
                    client.create_model("bench", "binary_classification")
                    client.register_version("bench", features=FEATURES)
                    logger = client.prediction_logger("bench", 1, spool_dir=Path(tmp) / "spool")
                    result = offer(logger, rate, args.seconds)
                    logger.close()
            finally:
                process.terminate()
                process.wait(timeout=30)
        print(
            f"{rate:>9,}  {result['delivered_per_s']:>11,.0f}  "
            f"{result['delivered_per_s'] / ceiling:>10.0%}  {result['spooled']:>7,.0f}  "
            f"{result['dropped']:>7,.0f}  {result['flush_s']:>19.2f} s  "
            f"{result['p99_us']:>7.1f} µs" + ("" if result["flushed"] else "  (flush timed out)")
        )


if __name__ == "__main__":
    main()
