"""Benchmark: the audit trail's cost per change, and how fast a trail verifies.

    python tests/bench/audit_chain.py [--events 20000] [--database-url URL]

Prints, for one store (a temporary SQLite file unless --database-url names another, e.g.
PostgreSQL), in the same run:
- the anchor: plain inserts of the same rows, one transaction each, no hash and no lock;
- chained appends through AuditTrail.append, one transaction each (what a request pays),
  without checkpoints and with one signed every 1,000 events (the default), in alternating
  blocks so that both see the same machine;
- signing the head once (AuditTrail.sign_head: read the key, sign, store);
- what one checkpoint adds to the append that makes it (every event signed, against none);
- verification on the server (AuditTrail.verify, signatures included) and offline from the
  JSON Lines export (assay.auditchain.verify_export_lines with the public key, what
  `assay audit verify --public-key` runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "sdk")]

from assay.auditchain import verify_export_lines  # noqa: E402
from assay_server.audit.models import AuditEvent  # noqa: E402
from assay_server.audit.service import AuditTrail  # noqa: E402
from assay_server.audit.signing import signing_key  # noqa: E402
from assay_server.db import Database, utcnow  # noqa: E402
from assay_server.migrate import upgrade  # noqa: E402
from assay_server.roles import Actor  # noqa: E402
from assay_server.settings import Settings  # noqa: E402
from assay_server.wiring import wire  # noqa: E402

PAYLOAD = {
    "task": "binary_classification",
    "risk_tier": "high",
    "owner": "growth",
    "tags": ["retail", "q4"],
}


def _fresh_database(url: str | None, workdir: Path) -> tuple[Database, callable]:
    if url is None or url.startswith("sqlite"):
        settings = Settings(data_dir=workdir)
        return Database.from_settings(settings), lambda: None
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"assay_bench_{int(time.time())}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = url.rsplit("/", 1)[0]
    database = Database.from_settings(Settings(data_dir=workdir, database_url=f"{base}/{name}"))

    def drop() -> None:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return database, drop


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s  ({seconds * 1000 / count:.3f} ms each)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database, drop = _fresh_database(args.database_url, Path(tmp))
        try:
            upgrade(database.engine)
            ctx = wire().context(Actor.cli("bench"), Settings(data_dir=tmp))
            n = args.events
            print(f"store: {database.engine.dialect.name}, events: {n:,}")

            started = time.perf_counter()
            for i in range(n):
                with database.unit_of_work() as session:
                    session.add(
                        AuditEvent(
                            seq=1_000_000_000 + i,
                            timestamp=utcnow(),
                            actor_token_id=None,
                            actor_name="bench",
                            action="model.created",
                            target_type="model",
                            target_id=f"m{i}",
                            request_id=None,
                            payload=PAYLOAD,
                            prev_hash="0" * 64,
                            hash="0" * 64,
                        )
                    )
            anchor = time.perf_counter() - started
            with database.engine.begin() as connection:
                connection.execute(text("DELETE FROM audit_events WHERE seq >= 1000000000"))
            print(f"anchor, plain insert per transaction: {_rate(n, anchor)}")

            every = {0: 0.0, 1000: 0.0}
            blocks, per_block = 10, n // 10
            for block in range(blocks):
                for interval in every:
                    context = replace(
                        ctx, settings=ctx.settings.with_overrides(audit_checkpoint_every=interval)
                    )
                    started = time.perf_counter()
                    for i in range(per_block):
                        with database.unit_of_work() as session:
                            AuditTrail(session, context).append(
                                "model.created", "model", f"m{block}-{i}", PAYLOAD
                            )
                    every[interval] += time.perf_counter() - started
            appended = blocks * per_block
            plain, checkpointed = every[0], every[1000]
            print(
                f"chained append, no checkpoints:      {_rate(appended, plain)}"
                f"  = {plain / anchor * n / appended:.2f}x the anchor"
            )
            extra = (checkpointed - plain) * 1000 / appended
            print(
                f"chained append, checkpoint /1,000:   {_rate(appended, checkpointed)}"
                f"  = {checkpointed / anchor * n / appended:.2f}x the anchor, "
                f"{extra:+.3f} ms each against none"
            )

            started = time.perf_counter()
            for _ in range(100):
                with database.unit_of_work() as session:
                    AuditTrail(session, ctx).append("model.created", "model", "head", PAYLOAD)
                    AuditTrail(session, ctx).sign_head()
            signing = time.perf_counter() - started
            print(f"append + sign the head, 100 times:   {_rate(100, signing)}")
            total = 2 * appended + 100

            with database.unit_of_work(write=False) as session:
                started = time.perf_counter()
                outcome = AuditTrail(session, ctx).verify()
                server = time.perf_counter() - started
                assert outcome.ok and outcome.checked == total, outcome
                started = time.perf_counter()
                lines = list(AuditTrail(session, ctx).export_lines())
                export = time.perf_counter() - started
            public_key = signing_key(ctx.settings).public_pem
            started = time.perf_counter()
            offline = verify_export_lines(lines, public_keys=[public_key])
            client = time.perf_counter() - started
            assert offline.ok and offline.checked == total, offline
            size = sum(len(line) for line in lines)
            print(f"checkpoints checked:                 {outcome.checkpoints:,}")
            print(f"verify on the server:                {_rate(total, server)}")
            print(f"export (JSON Lines, {size / 1e6:.1f} MB):         {_rate(total, export)}")
            print(f"verify the export offline:           {_rate(total, client)}")

            # What one checkpoint adds to the append that makes it: every event signed,
            # against none, in alternating blocks (after the figures above, which these
            # thousands of checkpoints would otherwise weigh on).
            signed_each = {0: 0.0, 1: 0.0}
            for block in range(5):
                for interval in signed_each:
                    context = replace(
                        ctx, settings=ctx.settings.with_overrides(audit_checkpoint_every=interval)
                    )
                    started = time.perf_counter()
                    for i in range(200):
                        with database.unit_of_work() as session:
                            AuditTrail(session, context).append(
                                "model.created", "model", f"s{block}-{i}", PAYLOAD
                            )
                    signed_each[interval] += time.perf_counter() - started
            per_checkpoint = (signed_each[1] - signed_each[0]) * 1000 / 1000
            print(
                f"one checkpoint in an append:         {per_checkpoint:+.3f} ms "
                f"(every event signed: {_rate(1000, signed_each[1])})"
            )
        finally:
            drop()


if __name__ == "__main__":
    main()
