"""The audit trail through the SDK: list, verify on the server, export, verify locally."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import assay
import assay.audit
from assay.auditsigning import Checkpoint, public_key_id


@pytest.fixture
def three_models(admin_client: assay.Client) -> list[assay.Model]:
    """Three models, so the trail holds three ``model.created`` events."""
    return [admin_client.create_model(name, "regression") for name in ("alpha", "beta", "gamma")]


def test_audit_events_record_who_created_which_model(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    events = admin_client.audit_events(target_type="model")

    assert [(e.action, e.target_id) for e in events] == [
        ("model.created", "alpha"),
        ("model.created", "beta"),
        ("model.created", "gamma"),
    ]
    assert all(isinstance(e, assay.AuditEvent) for e in events)
    assert {e.actor_name for e in events} == {admin_client.whoami().name}
    assert events[0].timestamp.tzinfo is not None
    assert events[1].prev_hash == events[0].hash


def test_audit_events_walk_the_cursor_page_by_page(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    everything = admin_client.audit_events()
    admin_client.page_size = 1

    assert admin_client.audit_events() == everything
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)


def test_audit_events_filter_by_target_action_and_actor(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    admin_client.update_model("beta", description="changed")

    assert [e.action for e in admin_client.audit_events(target_id="beta")] == [
        "model.created",
        "model.updated",
    ]
    assert [e.target_id for e in admin_client.audit_events(action="model.updated")] == ["beta"]
    assert admin_client.audit_events(actor="someone-else") == []


def test_audit_events_take_since_and_until_as_datetimes_or_strings(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    created = admin_client.audit_events(target_type="model")
    second = created[1].timestamp

    since = admin_client.audit_events(target_type="model", since=second)
    until = admin_client.audit_events(target_type="model", until=second.isoformat())
    naive = admin_client.audit_events(target_type="model", since=second.replace(tzinfo=None))

    assert [e.target_id for e in since] == ["beta", "gamma"]
    assert [e.target_id for e in until] == ["alpha"]
    assert naive == since


def test_verify_audit_asks_the_server_to_recompute_the_chain(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    result = admin_client.verify_audit()

    assert isinstance(result, assay.AuditVerification)
    assert result.ok and result.first_broken_seq is None
    assert result.checked == result.head_seq >= 3


def test_export_audit_writes_json_lines_ending_with_a_signed_head_and_the_chain_head(
    admin_client: assay.Client, three_models: list[assay.Model], tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"

    written = admin_client.export_audit(path)

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    events = [line for line in lines if "seq" in line]
    assert written == len(events) == len(admin_client.audit_events())
    head, signed = lines[-1]["chain_head"], lines[-2]["checkpoint"]
    assert head["seq"] == signed["seq"] == events[-1]["seq"]
    assert head["hash"] == signed["hash"] == events[-1]["hash"]


def test_export_audit_writes_to_open_binary_and_text_files(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    binary, text = io.BytesIO(), io.StringIO()

    assert admin_client.export_audit(binary) == admin_client.export_audit(text)
    assert binary.getvalue().decode() == text.getvalue()


def test_verify_audit_locally_recomputes_the_exported_chain(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    result = admin_client.verify_audit_locally()

    assert result.ok
    assert result.checked == result.head_seq == len(admin_client.audit_events())


def test_a_changed_event_in_an_export_is_found(
    admin_client: assay.Client, three_models: list[assay.Model], tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    admin_client.export_audit(path)
    lines = path.read_text().splitlines()
    victim = next(i for i, line in enumerate(lines) if '"beta"' in line)
    event = json.loads(lines[victim])
    event["actor_name"] = "somebody-else"
    lines[victim] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")

    result = assay.verify_audit_export(path)

    assert not result.ok
    assert result.first_broken_seq == event["seq"]
    assert "changed" in result.message


def test_an_export_cut_short_is_found_even_without_its_chain_head(
    admin_client: assay.Client, three_models: list[assay.Model], tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    events = admin_client.export_audit(path)
    lines = path.read_text().splitlines()
    last_event = max(i for i, line in enumerate(lines) if '"prev_hash"' in line)

    without_head = assay.verify_audit_export(lines[:-1])
    last_event_deleted = assay.verify_audit_export(lines[:last_event] + lines[last_event + 1 :])

    assert not without_head.ok and "chain_head" in without_head.message
    assert not last_event_deleted.ok
    assert last_event_deleted.first_broken_seq == events


def test_an_export_line_that_is_not_a_json_object_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="line 1"):
        assay.verify_audit_export(["[1, 2, 3]"])
    with pytest.raises(ValueError, match="line 2"):
        assay.verify_audit_export(['{"chain_head": {"seq": 0, "hash": "0"}}', "not json"])


def test_an_empty_trail_exports_just_its_head_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(json.dumps({"chain_head": {"seq": 0, "hash": "0" * 64}}) + "\n")

    result: Any = assay.verify_audit_export(path)

    assert result.ok and result.checked == 0


def test_the_server_signs_its_head_on_request_and_lists_its_checkpoints(
    admin_client: assay.Client, three_models: list[assay.Model]
) -> None:
    head = admin_client.verify_audit().head_seq

    signed = admin_client.checkpoint_audit()

    assert isinstance(signed, Checkpoint)
    assert signed.seq == head
    assert signed.key_id == public_key_id(admin_client.audit_public_key())
    assert admin_client.audit_checkpoints()[-1] == signed


def test_verify_audit_locally_checks_signatures_and_a_saved_checkpoint(
    admin_client: assay.Client, three_models: list[assay.Model], tmp_path: Path
) -> None:
    saved = tmp_path / "checkpoint.json"
    assay.audit.save_checkpoint(admin_client.checkpoint_audit(), saved)
    admin_client.create_model("delta", "regression")
    key = admin_client.audit_public_key()

    result = admin_client.verify_audit_locally(public_key=key, since=saved)

    assert result.ok, result.message
    assert "signed checkpoint(s) verified" in result.message
    assert assay.audit.load_checkpoint(saved).seq == result.head_seq - 1
