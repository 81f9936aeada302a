"""Benchmark: can one process's prediction logger keep up with a busy service?

    python tests/bench/sdk_throughput.py [--rates 10000,30000,60000] [--seconds 10]
        [--compress auto|always]

Starts one `assay-server run` (SQLite in a temporary directory, one gunicorn worker, no
scheduler), registers a version with 20 features, and measures in the same run:

- the anchor: the server's ingest ceiling — pre-encoded 1,000-row batches POSTed by four
  threads (``ingest_throughput.py``'s method), in rows/s — before the first rate and again
  after the last (the machine is shared: the two show how much it moved meanwhile);
- for each offered rate: one thread calls ``PredictionLogger.log()`` at that rate for
  ``--seconds`` (paced every millisecond), then ``flush()``; printed: delivered rows/s
  (from the first call to the end of the flush) and its share of the offered rate and of the
  ceiling (the mean of the two anchors), rows spooled to disk, rows dropped, the flush's time
  after the last call, ``log()``'s p50 and p99 in µs, and the largest batch sent.

``--compress always`` gzips every batch, as the logger does for a server on another host;
``auto`` (the logger's default) sends plain JSON to this loopback server.

Targets (the scale-out issue): at 30k/s offered, 0 spooled, 0 dropped, flush ≤ 1 s after the
last call, ``log()`` p99 ≤ 20 µs; at any rate, delivered/s ≥ 70% of the ceiling (of the
offered rate when that is below the ceiling).
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
from assay._batches import Batch  # noqa: E402
from assay._ingest import Answer, IngestEndpoint  # noqa: E402


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
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
    }


def ceiling(bodies: list[bytes]) -> float:
    """The server's ingest ceiling, rows/s (``ingest_throughput.py``'s method)."""
    rate, _ = ingest_rate(bodies, 100_000, senders=4, threads=8, database_url=None)
    return rate


def run_rate(rate: int, seconds: float, compress: bool | None) -> tuple[dict[str, float], int]:
    """One offered rate against a fresh server: the figures, and the largest batch sent."""
    largest = 0
    post = IngestEndpoint.post

    def post_and_note(
        endpoint: IngestEndpoint, batch: Batch, timeout: tuple[float, float]
    ) -> Answer:
        nonlocal largest
        largest = max(largest, batch.rows)
        return post(endpoint, batch, timeout)

    with tempfile.TemporaryDirectory() as tmp:
        process, url, token = start_server(Path(tmp) / "server")
        IngestEndpoint.post = post_and_note  # type: ignore[method-assign]
        try:
            with assay.Client(url, token) as client:
                client.create_model("bench", "binary_classification")
                client.register_version("bench", features=FEATURES)
                logger = client.prediction_logger("bench", 1, spool_dir=Path(tmp) / "spool")
                logger.compress = compress
                result = offer(logger, rate, seconds)
                logger.close()
        finally:
            IngestEndpoint.post = post  # type: ignore[method-assign]
            process.terminate()
            process.wait(timeout=30)
    return result, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10000,30000,60000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--compress", choices=["auto", "always"], default="auto")
    args = parser.parse_args()
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]
    bodies = [
        json.dumps(_batch(rng, start, 1000, run)).encode() for start in range(0, 100_000, 1000)
    ]
    compress = None if args.compress == "auto" else True
    before = ceiling(bodies)
    results = [
        (rate, *run_rate(rate, args.seconds, compress))
        for rate in (int(r) for r in args.rates.split(","))
    ]
    after = ceiling(bodies)
    anchor = (before + after) / 2
    print(
        "anchor: the server's ingest ceiling (4 POSTers, 1,000-row batches): "
        f"{before:,.0f} rows/s before, {after:,.0f} after"
    )
    print(f"log(): {args.seconds:g} s per rate, one thread; batches gzipped: {args.compress}")
    print(
        "offered/s  delivered/s  of offered  of ceiling  spooled  dropped  flush after last call"
        "  log() p50 / p99  largest batch"
    )
    for rate, result, largest in results:
        print(
            f"{rate:>9,}  {result['delivered_per_s']:>11,.0f}  "
            f"{result['delivered_per_s'] / rate:>10.0%}  "
            f"{result['delivered_per_s'] / anchor:>10.0%}  {result['spooled']:>7,.0f}  "
            f"{result['dropped']:>7,.0f}  {result['flush_s']:>19.2f} s  "
            f"{result['p50_us']:>5.1f} / {result['p99_us']:>5.1f} µs  {largest:>13,}"
            + ("" if result["flushed"] else "  (flush timed out)")
        )


if __name__ == "__main__":
    main()
