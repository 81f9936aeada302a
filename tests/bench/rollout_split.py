"""Benchmark: what ``client.rollout(model)`` costs serving code, from memory, from the server,
and with the server gone.

    python tests/bench/rollout_split.py [--threads 4] [--calls 20000]

Starts a real Assay server (``assay-server run``, SQLite in a temporary directory), starts a
rollout of v2 against v1, then times every call from ``--threads`` threads and prints p50 /
p99 / p99.9 / max in microseconds for:

- the anchor, timed the same way in the same run: ``dict(split)``, the copy every answer is;
- ``rollout()`` within ``split_ttl`` (from memory: what serving code pays per request);
- ``rollout(max_age=0)``, one HTTP request each (what every request would pay uncached);
- ``rollout(max_age=0)`` with the server stopped (the last known split, after the refused
  connection; ``max_retries=0``).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from logger_log_cost import report, start_server, timed

import assay


def _rollout(url: str, token: str) -> None:
    with assay.Client(url, token) as admin:
        admin.create_model("bench", "binary_classification")
        lineage = {"dataset_uri": "s3://bench/train.parquet", "dataset_hash": "sha256:b"}
        for version in (1, 2):  # what the bundled baseline policy asks
            admin.register_version("bench", features={"age": "numerical"}, lineage=lineage)
            admin.log_benchmark("bench", version, name="holdout", metrics={"accuracy": 0.9})
        admin.set_stage("bench", 1, "production", reason="bench")
        promotion = admin.request_promotion("bench", 2, "production", "bench", rollout=True)
        with assay.Client(url, admin.create_token("approver", "approver").token) as approver:
            approver.approve(promotion.id)
            approver.start_rollout("bench", promotion.id, [10, 100])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per thread (cached)")
    parser.add_argument("--http-calls", type=int, default=500, help="calls per thread (HTTP)")
    args = parser.parse_args()
    split = {1: 0.9, 2: 0.1}
    report("anchor: dict(split)", *timed(lambda _f: dict(split), args.threads, args.calls))
    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = start_server(Path(scratch) / "server")
        client = assay.Client(url, token, max_retries=0)
        try:
            _rollout(url, token)
            assert client.rollout("bench") == split
            report(
                "rollout(), from memory",
                *timed(lambda _f: client.rollout("bench"), args.threads, args.calls),
            )
            report(
                "rollout(max_age=0), HTTP each",
                *timed(
                    lambda _f: client.rollout("bench", max_age=0), args.threads, args.http_calls
                ),
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
        logging.getLogger("assay.rollouts").setLevel(logging.ERROR)  # one warning a call
        report(
            "rollout(max_age=0), server down",
            *timed(lambda _f: client.rollout("bench", max_age=0), args.threads, args.http_calls),
        )
        assert client.rollout("bench", max_age=0) == split
        client.close()


if __name__ == "__main__":
    main()
