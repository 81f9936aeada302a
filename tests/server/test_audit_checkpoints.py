"""Signed checkpoints of the audit chain: a rewrite that rehashes every later event, or events
cut from the end with the head moved back, no longer verify as intact."""

from __future__ import annotations

import json
import logging
import stat
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import delete, func, select, update

from assay.auditchain import (
    GENESIS_HASH,
    ChainVerification,
    Checkpoint,
    event_hash,
    verify_chain,
    verify_export_lines,
)
from assay_server.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from assay_server.audit.service import AuditTrail, export_trail
from assay_server.audit.signing import signing_key
from assay_server.context import ServiceContext
from assay_server.db import Database
from assay_server.errors import Unavailable
from assay_server.roles import Actor
from assay_server.settings import Settings, SettingsError
from assay_server.wiring import wire

EVERY = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, checkpointing every third event so a few events make some."""
    return settings.with_overrides(audit_checkpoint_every=EVERY)


def _append(db: Database, ctx: ServiceContext, count: int) -> None:
    for n in range(count):
        with db.unit_of_work() as session:
            AuditTrail(session, ctx).append("model.created", "model", f"m{n}", {"n": n})


def _export(db: Database, ctx: ServiceContext) -> list[str]:
    return list(export_trail(db, ctx))


def _verify_offline(lines: list[str], settings: Settings, **options: Any) -> ChainVerification:
    return verify_export_lines(lines, public_keys=[signing_key(settings).public_pem], **options)


def _verify_on_server(db: Database, ctx: ServiceContext) -> ChainVerification:
    with db.unit_of_work(write=False) as session:
        return AuditTrail(session, ctx).verify()


def _sign_head(db: Database, ctx: ServiceContext) -> Checkpoint:
    with db.unit_of_work() as session:
        return AuditTrail(session, ctx).sign_head()


def _rewrite(db: Database, seq: int, payload: dict[str, Any]) -> None:
    """What whoever can write to the database can do: change an event, rehash every later
    one and move the head's hash."""
    with db.unit_of_work() as session:
        prev = GENESIS_HASH
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            if event.seq == seq:
                event.payload = payload
            event.prev_hash = prev
            event.hash = prev = event_hash(prev, event.chain_fields())
        session.execute(update(AuditChainHead).values(hash=prev))


def _cut_last_event(db: Database) -> int:
    """Delete the newest event and move the head back to the one before; return its seq."""
    with db.unit_of_work() as session:
        last = session.scalar(select(func.max(AuditEvent.seq)))
        before = session.get_one(AuditEvent, last - 1)
        session.execute(delete(AuditEvent).where(AuditEvent.seq == last))
        session.execute(update(AuditChainHead).values(seq=before.seq, hash=before.hash))
        return last


def _forget_checkpoints(db: Database, *, from_seq: int = 0) -> None:
    with db.unit_of_work() as session:
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq >= from_seq))


def _stored_checkpoints(db: Database) -> list[int]:
    with db.unit_of_work(write=False) as session:
        return list(session.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))


def _other_public_key() -> str:
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_every_nth_event_is_checkpointed_in_the_transaction_that_appends_it(db, cli_context):
    _append(db, cli_context, 7)
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        for _ in range(2):  # events 8 and 9: the checkpoint of 9 goes with them
            AuditTrail(session, cli_context).append("model.created", "model", "gone")
        raise RuntimeError("the change failed")

    assert _stored_checkpoints(db) == [3, 6]
    outcome = _verify_on_server(db, cli_context)
    assert (outcome.ok, outcome.checkpoints, outcome.signed_seq) == (True, 2, 6)


def test_a_chain_rewritten_and_rehashed_fails_at_the_first_checkpoint_after_the_change(
    db, cli_context, settings
):
    _append(db, cli_context, 7)
    _rewrite(db, 2, {"n": "forged"})

    with db.unit_of_work(write=False) as session:
        events = list(AuditTrail(session, cli_context).iter_events())
        head = AuditTrail(session, cli_context).head()
    assert verify_chain(events, head=head).ok  # the hashes alone cannot tell
    server = _verify_on_server(db, cli_context)
    offline = _verify_offline(_export(db, cli_context), settings)
    for outcome in (server, offline):
        assert (outcome.ok, outcome.first_broken_seq) == (False, 3)
        assert "rewritten after they were signed" in outcome.message


def test_a_rewrite_that_also_deletes_the_checkpoints_fails_against_a_saved_checkpoint(
    db, cli_context, settings
):
    _append(db, cli_context, 4)
    saved = _sign_head(db, cli_context)  # what `assay audit checkpoint` keeps elsewhere
    _append(db, cli_context, 2)
    _rewrite(db, 2, {"n": "forged"})
    _forget_checkpoints(db)

    lines = _export(db, cli_context)  # the server signs the forged head: it cannot know
    assert _verify_offline(lines, settings).ok
    outcome = _verify_offline(lines, settings, since=saved)
    assert (outcome.ok, outcome.first_broken_seq) == (False, saved.seq)
    assert "your saved checkpoint of seq 4" in outcome.message
    assert "rewritten after it was saved" in outcome.message


def test_the_last_event_deleted_and_the_head_moved_back_fails_against_an_earlier_checkpoint(
    db, cli_context, settings
):
    _append(db, cli_context, 5)
    saved = _sign_head(db, cli_context)
    cut = _cut_last_event(db)
    assert cut == saved.seq == 5

    server = _verify_on_server(db, cli_context)  # the stored checkpoint of seq 5 is past the head
    assert (server.ok, server.first_broken_seq) == (False, 5)
    assert "events were deleted from its end" in server.message

    _forget_checkpoints(db, from_seq=cut)  # the thorough forger removes that evidence too
    lines = _export(db, cli_context)
    assert _verify_offline(lines, settings).ok
    outcome = _verify_offline(lines, settings, since=saved)
    assert (outcome.ok, outcome.first_broken_seq) == (False, 5)
    assert "trail ends at seq 4: events were deleted since it was saved" in outcome.message


def test_a_trail_that_only_grew_since_a_saved_checkpoint_verifies(db, cli_context, settings):
    _append(db, cli_context, 2)
    saved = _sign_head(db, cli_context)
    _append(db, cli_context, 5)

    outcome = _verify_offline(_export(db, cli_context), settings, since=saved)

    assert outcome.ok, outcome.message
    assert outcome.signed_seq == outcome.head_seq == 7


@pytest.mark.parametrize(
    "forgery",
    [
        {"signature": "A" * 86 + "=="},
        {"hash": "f" * 64},
        {"timestamp": "2020-01-01T00:00:00.000000Z"},
    ],
    ids=["signature", "hash", "timestamp"],
)
def test_a_tampered_checkpoint_fails_its_signature(db, cli_context, settings, client, forgery):
    _append(db, cli_context, 4)
    with db.unit_of_work() as session:
        stored = session.get_one(AuditCheckpoint, (3, signing_key(settings).key_id))
        for field, value in forgery.items():
            setattr(stored, field, value if field != "timestamp" else _parse(value))

    server = _verify_on_server(db, cli_context)
    offline = _verify_offline(_export(db, cli_context), settings)
    for outcome in (server, offline):
        assert (outcome.ok, outcome.first_broken_seq) == (False, 3)
        assert "does not carry a valid signature" in outcome.message


def _parse(text: str) -> Any:
    from datetime import datetime, timezone

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_a_trail_verified_with_the_wrong_public_key_fails(db, cli_context):
    _append(db, cli_context, 4)

    outcome = verify_export_lines(_export(db, cli_context), public_keys=[_other_public_key()])

    assert (outcome.ok, outcome.first_broken_seq) == (False, 3)
    assert "not by the public key given" in outcome.message


def test_an_export_stripped_of_its_checkpoints_fails_when_a_key_is_given(db, cli_context, settings):
    _append(db, cli_context, 4)
    lines = [line for line in _export(db, cli_context) if '"checkpoint"' not in line]

    assert verify_export_lines(lines).ok  # without a key, only the hashes are checked
    outcome = _verify_offline(lines, settings)
    assert (outcome.ok, outcome.first_broken_seq) == (False, 1)
    assert "the chain head (seq 4) carries no signed checkpoint" in outcome.message


def test_the_servers_own_verify_checks_the_signatures(db, cli_context, client, admin_headers):
    _append(db, cli_context, 4)
    assert client.get("/api/v1/audit/verify", headers=admin_headers).json["checkpoints"] == 1
    with db.unit_of_work() as session:
        session.execute(update(AuditCheckpoint).values(signature="B" * 86 + "=="))

    answer = client.get("/api/v1/audit/verify", headers=admin_headers).json

    assert (answer["ok"], answer["first_broken_seq"]) == (False, 3)
    assert "does not carry a valid signature" in answer["message"]


def test_the_export_of_an_intact_trail_verifies_offline_with_the_downloaded_key(
    db, cli_context, client, admin_headers, clock
):
    _append(db, cli_context, 4)  # with the admin token's creation: 5 events
    key = client.get("/api/v1/audit/public-key")  # public: no token needed
    assert key.status_code == 200
    assert key.json["algorithm"] == "Ed25519"
    assert "PRIVATE" not in key.get_data(as_text=True)
    clock.advance(minutes=5)

    export = client.get("/api/v1/audit/export", headers=admin_headers)
    lines = export.get_data(as_text=True).splitlines()

    outcome = verify_export_lines(lines, public_keys=[key.json["public_key"]])
    assert outcome.ok, outcome.message
    assert (outcome.checked, outcome.signed_seq) == (5, 5)
    signed = json.loads(lines[-2])["checkpoint"]
    assert signed["key_id"] == key.json["key_id"]
    assert signed["timestamp"] == clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert json.loads(lines[-1])["chain_head"]["seq"] == signed["seq"] == 5
    assert [json.loads(line)["checkpoint"]["seq"] for line in lines if "checkpoint" in line] == [
        3,
        5,
    ]


def test_exports_without_new_events_sign_the_head_once(db, cli_context):
    _append(db, cli_context, 4)
    first, second = _export(db, cli_context), _export(db, cli_context)

    assert first == second
    assert _stored_checkpoints(db) == [3, 4]


def test_a_viewer_signs_the_head_and_lists_the_checkpoints_by_cursor(
    db, cli_context, client, headers_for
):
    viewer = headers_for("viewer")  # the token's creation is event 1
    _append(db, cli_context, 6)

    signed = client.post("/api/v1/audit/checkpoints", headers=viewer)
    first = client.get("/api/v1/audit/checkpoints?limit=2", headers=viewer).json
    rest = client.get(
        f"/api/v1/audit/checkpoints?after_seq={first['next_cursor']}", headers=viewer
    ).json

    assert signed.status_code == 200 and signed.json["seq"] == 7
    assert first["total"] == 3
    assert [c["seq"] for c in first["items"] + rest["items"]] == [3, 6, 7]
    assert rest["next_cursor"] is None
    assert Checkpoint.from_json(rest["items"][0]) == Checkpoint.from_json(signed.json)


def test_an_empty_trail_exports_a_signed_genesis_head(db, cli_context, settings):
    lines = _export(db, cli_context)

    assert json.loads(lines[0])["checkpoint"]["hash"] == GENESIS_HASH
    outcome = _verify_offline(lines, settings)
    assert (outcome.ok, outcome.checked, outcome.signed_seq) == (True, 0, 0)


def test_the_signing_key_is_made_once_readable_by_its_owner_only(settings):
    path = settings.audit_signing_key_path
    assert not path.exists()
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(signing_key(settings).key_id)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(keys)) == 1 and len(keys) == 8
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no drafts left
    assert "PRIVATE" not in repr(signing_key(settings))


def test_the_app_makes_the_key_at_its_first_start(tmp_path):
    from assay_server.app import create_app

    settings = Settings(data_dir=tmp_path, secret_key="x")
    create_app(settings)
    assert settings.audit_signing_key_path.stat().st_size > 0


def test_a_key_that_cannot_be_used_costs_the_checkpoint_not_the_change(db, settings, clock, caplog):
    broken = settings.data_dir / "not-a-key.pem"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    ctx = wire().context(
        Actor.cli("cli:test"), settings.with_overrides(audit_signing_key_file=broken), clock=clock
    )

    with caplog.at_level(logging.ERROR, logger="assay_server.audit"):
        _append(db, ctx, 3)

    assert _stored_checkpoints(db) == []
    assert "checkpoint of seq 3 skipped" in caplog.text
    assert "AAAA" not in caplog.text
    with pytest.raises(Unavailable, match="signing key cannot be used"):
        _export(db, ctx)


def test_checkpoint_settings_come_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {
            "ASSAY_DATA_DIR": str(tmp_path),
            "ASSAY_AUDIT_CHECKPOINT_EVERY": "50",
            "ASSAY_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "keys" / "audit.pem"),
        }
    )
    assert settings.audit_checkpoint_every == 50
    assert settings.audit_signing_key_path == tmp_path / "keys" / "audit.pem"
    default = Settings.from_env({"ASSAY_DATA_DIR": str(tmp_path)})
    assert default.audit_checkpoint_every == 1000
    assert default.audit_signing_key_path == tmp_path / "audit_signing_key.pem"
    with pytest.raises(SettingsError, match="ASSAY_AUDIT_CHECKPOINT_EVERY"):
        Settings.from_env({"ASSAY_AUDIT_CHECKPOINT_EVERY": "-1"})


def test_zero_makes_checkpoints_only_at_export(db, settings, clock):
    ctx = wire().context(
        Actor.cli("cli:test"), settings.with_overrides(audit_checkpoint_every=0), clock=clock
    )
    _append(db, ctx, 7)
    assert _stored_checkpoints(db) == []
    assert _verify_offline(_export(db, ctx), settings).ok
    assert _stored_checkpoints(db) == [7]


def test_the_signed_bytes_are_frozen_by_a_known_answer():
    """docs/audit.md promises these bytes (and openssl checks this very signature)."""
    from datetime import datetime, timezone

    from assay_server.audit.signing import SigningKey

    key = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    signed = key.sign(7, "a" * 64, datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=timezone.utc))

    assert signed.key_id == "a050837d85070582ccf7394b0988847cc312cb88259b894899f6f239cf1791a5"
    assert signed.signed_bytes() == (
        b"assay-audit-checkpoint/v1\n7\n" + b"a" * 64 + b"\n2026-11-30T12:00:00.123456Z\n"
        b"a050837d85070582ccf7394b0988847cc312cb88259b894899f6f239cf1791a5\n"
    )
    assert signed.signature == (
        "BzgrinVUYYPgmF6gWJh+rCZ/yAWNrw98gAGiusVTRXpvGCYZHcxddxV+y7CEhy/kxjVB2N0nXtYGzdSh+ojcAA=="
    )
