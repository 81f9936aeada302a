"""Benchmark: what the approval gate costs — evaluating policies, and a request + approval.

    python tests/bench/promotion_gate.py [--rounds 200] [--policies 20]

On a temporary SQLite store, in the same run:
- the anchor: reading the version (RegistryService.get_version), one unit of work each;
- evaluating the version for production against the three bundled packs plus --policies
  extra policies of five rules each (governance.evaluation.evaluate_version, read-only);
- a promotion request followed by its approval, one unit of work each (what CI and an
  approver pay, with the evaluation stored and every step audited).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "sdk")]

from assay_server.context import ServiceContext  # noqa: E402
from assay_server.db import Database  # noqa: E402
from assay_server.governance.decisions import approve_promotion  # noqa: E402
from assay_server.governance.evaluation import evaluate_version  # noqa: E402
from assay_server.governance.policies import PolicyFile, bundled_policies  # noqa: E402
from assay_server.governance.promotions import PromotionService  # noqa: E402
from assay_server.governance.service import PolicyService  # noqa: E402
from assay_server.migrate import upgrade  # noqa: E402
from assay_server.models import import_all_models  # noqa: E402
from assay_server.registry.benchmarks import BenchmarkService  # noqa: E402
from assay_server.registry.service import RegistryService, VersionSpec  # noqa: E402
from assay_server.roles import Actor, Role  # noqa: E402
from assay_server.settings import Settings  # noqa: E402
from assay_server.wiring import wire  # noqa: E402

EXTRA = """
name: extra-{n}
applies_to: {{stage: [production]}}
rules:
  - {{id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: ">=", value: 0.5}}
  - {{id: f1, check: benchmark_metric, benchmark: holdout, metric: f1, op: ">=", value: 0.5}}
  - {{id: lineage, check: lineage_present, fields: [dataset_uri, dataset_hash]}}
  - {{id: card, check: metadata_present, fields: [intended_use]}}
  - {{id: drift, check: drift_share, op: "<", value: 0.3}}
approvals: {{required: 1}}
"""


def ctx(settings: Settings, name: str, role: Role) -> ServiceContext:
    return wire().context(Actor(name=name, role=role), settings)


def per_op(label: str, rounds: int, action) -> float:
    start = time.perf_counter()
    for i in range(rounds):
        action(i)
    ms = (time.perf_counter() - start) * 1000 / rounds
    print(f"{label:<58} {ms:8.2f} ms")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--policies", type=int, default=20)
    args = parser.parse_args()
    import_all_models()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        db = Database.from_settings(settings)
        upgrade(db.engine)
        admin = ctx(settings, "admin", Role.ADMIN)
        with db.unit_of_work() as s:
            files = bundled_policies() + [
                PolicyFile(f"extra-{n}.yaml", EXTRA.format(n=n)) for n in range(args.policies)
            ]
            PolicyService(s, admin).apply(files)
            registry = RegistryService(s, admin)
            registry.create_model(name="churn", task="binary_classification", risk_tier="high")
            for _ in range(args.rounds):
                registry.register_version(
                    "churn",
                    VersionSpec(
                        features=[{"name": "age", "kind": "numerical"}],
                        target="y",
                        lineage={"dataset_uri": "s3://d", "dataset_hash": "h"},
                        model_card={"intended_use": "scoring churn risk"},
                    ),
                )
            for version in range(1, args.rounds + 1):
                BenchmarkService(s, admin).log(
                    "churn", version, name="holdout", metrics={"accuracy": 0.9, "f1": 0.8}
                )
        rules = sum(len(f.source.split("check:")) - 1 for f in files)
        print(f"{len(files)} policies, {rules} rules; {args.rounds} rounds; SQLite\n")

        def read(i: int) -> None:
            with db.unit_of_work(write=False) as s:
                RegistryService(s, admin).get_version("churn", i + 1)

        def evaluate(i: int) -> None:
            with db.unit_of_work(write=False) as s:
                row = RegistryService(s, admin).get_version("churn", i + 1)
                evaluate_version(s, admin, row, "production")

        def request_and_approve(i: int) -> None:
            with db.unit_of_work() as s:
                request = PromotionService(s, ctx(settings, "ci", Role.CONTRIBUTOR)).request(
                    "churn", i + 1, stage="staging"
                )
            with db.unit_of_work() as s:
                approve_promotion(db, s, ctx(settings, "alice", Role.APPROVER), request.id, "")

        anchor = per_op("anchor: read one version", args.rounds, read)
        judged = per_op("evaluate one version for production (all policies)", args.rounds, evaluate)
        cycle = per_op(
            "request (staging) + approve, stored and audited", args.rounds, request_and_approve
        )
        print(
            f"\nevaluation = {judged / anchor:.1f}x the anchor read; "
            f"request + approval = {cycle / anchor:.1f}x"
        )


if __name__ == "__main__":
    main()
