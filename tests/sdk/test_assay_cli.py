"""The ``assay`` command: audit verify, export, checkpoint and public-key, its messages and
exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.auditsigning import public_key_id
from assay.cli import main


@pytest.fixture
def server_args(live_server: Any, admin_token: str, admin_client: assay.Client) -> list[str]:
    """Global options pointing at the live server, with a couple of events in its trail."""
    admin_client.create_model("churn", "binary_classification")
    admin_client.create_model("fraud", "binary_classification")
    return ["--url", live_server.url, "--token", admin_token]


@pytest.fixture(autouse=True)
def no_assay_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI must not pick up a URL or token from the developer's shell."""
    monkeypatch.delenv("ASSAY_URL", raising=False)
    monkeypatch.delenv("ASSAY_TOKEN", raising=False)


def test_help_describes_the_commands_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "audit" in out and "ASSAY_URL" in out and "ASSAY_TOKEN" in out


def test_audit_verify_from_the_server_prints_intact_and_exits_zero(
    server_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*server_args, "audit", "verify"]) == 0
    assert "audit chain intact" in capsys.readouterr().out


def test_audit_verify_takes_url_and_token_from_the_environment(
    server_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_URL", server_args[1])
    monkeypatch.setenv("ASSAY_TOKEN", server_args[3])

    assert main(["audit", "verify"]) == 0


def test_audit_export_writes_the_file_and_prints_how_many_events(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.jsonl"

    assert main([*server_args, "audit", "export", "--out", str(out)]) == 0

    events = sum('"prev_hash"' in line for line in out.read_text().splitlines())
    assert capsys.readouterr().out.strip() == f"exported {events} audit events to {out}"


def test_audit_verify_of_an_intact_file_needs_no_server(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    main([*server_args, "audit", "export", "--out", str(export)])
    capsys.readouterr()

    assert main(["audit", "verify", "--file", str(export)]) == 0
    assert "intact" in capsys.readouterr().out


def test_audit_verify_of_a_tampered_file_prints_broken_and_exits_one(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    main([*server_args, "audit", "export", "--out", str(export)])
    lines = export.read_text().splitlines()
    first = json.loads(lines[0])
    first["payload"] = {"rewritten": True}
    export.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    capsys.readouterr()

    assert main(["audit", "verify", "--file", str(export)]) == 1
    out = capsys.readouterr().out
    assert f"BROKEN at seq {first['seq']}" in out


def test_a_missing_token_exits_two_naming_assay_token(
    live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", live_server.url, "audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("assay: error:") and "ASSAY_TOKEN" in err


def test_a_missing_url_exits_two_naming_assay_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--token", "asy_x", "audit", "export", "--out", "x.jsonl"]) == 2
    assert "ASSAY_URL" in capsys.readouterr().err


def test_a_refused_token_exits_two_with_the_servers_message(
    live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", live_server.url, "--token", "asy_wrong", "audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert "401" in err and "request id" in err


def test_a_missing_export_file_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--file", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


def test_a_file_that_is_not_json_lines_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    export.write_text("this is not json\n")

    assert main(["audit", "verify", "--file", str(export)]) == 2
    assert "line 1 is not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["audit"], ["audit", "export"], ["audit", "frobnicate"], ["--bogus"]]
)
def test_usage_errors_exit_two(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: assay" in capsys.readouterr().err


def test_an_unreachable_server_exits_two_with_one_line_and_no_traceback(
    closed_port_url: str, sdk_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assay.cli", "audit", "verify"],
        env={**sdk_env, "ASSAY_URL": closed_port_url, "ASSAY_TOKEN": "asy_x"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("assay: error: cannot reach the Assay server")


@pytest.fixture
def saved(server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """The server's public key and a checkpoint of its head, saved; then one more event."""
    key, checkpoint = tmp_path / "audit-key.pem", tmp_path / "checkpoint.json"
    assert main([*server_args, "audit", "public-key", "--out", str(key)]) == 0
    assert main([*server_args, "audit", "checkpoint", "--out", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert f"saved the public key {public_key_id(key.read_text())}" in out
    assert "saved the checkpoint of seq 3" in out and "cannot write" in out
    assay.Client(server_args[1], server_args[3]).create_model("later", "regression")
    return key, checkpoint


def _export(server_args: list[str], path: Path) -> list[str]:
    assert main([*server_args, "audit", "export", "--out", str(path)]) == 0
    return path.read_text().splitlines()


def test_audit_verify_checks_signatures_and_the_saved_checkpoint(
    server_args: list[str], saved: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, checkpoint = saved
    export = tmp_path / "audit.jsonl"
    _export(server_args, export)
    capsys.readouterr()

    argv = ["--file", str(export), "--public-key", str(key), "--since-checkpoint", str(checkpoint)]
    assert main(["audit", "verify", *argv]) == 0

    out = capsys.readouterr().out
    assert "audit chain intact: 4 events checked" in out
    assert "every checkpoint signature verified, the chain head's too" in out
    assert "append-only since your checkpoint of seq 3" in out


def test_audit_verify_takes_the_public_key_from_a_url(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(server_args, export)
    url = server_args[1] + "/api/v1/audit/public-key"

    assert main(["audit", "verify", "--file", str(export), "--public-key", url]) == 0
    assert "every checkpoint signature verified" in capsys.readouterr().out


def test_audit_verify_against_the_server_uses_the_key_it_serves_and_says_so(
    server_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*server_args, "audit", "verify"]) == 0
    assert "the key is the one the server serves now" in capsys.readouterr().out


def test_audit_verify_of_a_file_without_a_key_says_signatures_were_not_checked(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(server_args, export)
    capsys.readouterr()

    assert main(["audit", "verify", "--file", str(export)]) == 0
    assert "checkpoint signatures NOT checked" in capsys.readouterr().out


def test_audit_verify_with_another_key_exits_one(
    server_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    other = tmp_path / "other.pem"
    public = Ed25519PrivateKey.generate().public_key()
    other.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    export = tmp_path / "audit.jsonl"
    _export(server_args, export)
    capsys.readouterr()

    assert main(["audit", "verify", "--file", str(export), "--public-key", str(other)]) == 1
    assert "not by the public key given" in capsys.readouterr().out


def test_an_export_cut_back_before_a_saved_checkpoint_exits_one(
    server_args: list[str], saved: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _key, checkpoint = saved
    export = tmp_path / "audit.jsonl"
    events = [json.loads(line) for line in _export(server_args, export) if "prev_hash" in line]
    kept = events[:2]  # the last two events cut, the head moved back
    head = {"chain_head": {"seq": kept[-1]["seq"], "hash": kept[-1]["hash"]}}
    export.write_text("".join(json.dumps(line) + "\n" for line in [*kept, head]))
    capsys.readouterr()

    assert main(["audit", "verify", "--file", str(export)]) == 0  # the hashes still link
    assert main(["audit", "verify", "--file", str(export), "--since-checkpoint", str(checkpoint)])
    out = capsys.readouterr().out
    assert "BROKEN at seq 3" in out and "events were deleted since it was saved" in out


def test_a_public_key_file_that_holds_no_key_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, key = tmp_path / "audit.jsonl", tmp_path / "key.pem"
    export.write_text('{"chain_head": {"seq": 0, "hash": "' + "0" * 64 + '"}}\n')
    key.write_text("not a key\n")

    assert main(["audit", "verify", "--file", str(export), "--public-key", str(key)]) == 2
    assert "key.pem holds no PEM public key" in capsys.readouterr().err


def test_audit_verify_against_the_server_without_cryptography_checks_the_hashes_and_says_so(
    server_args: list[str], sdk_env: dict[str, str]
) -> None:
    code = (
        "import sys; sys.modules['cryptography'] = None; from assay.cli import main; "
        f"sys.exit(main({[*server_args, 'audit', 'verify']!r}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], env=sdk_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "audit chain intact" in result.stdout
    assert "NOT checked: that needs the cryptography package" in result.stdout
