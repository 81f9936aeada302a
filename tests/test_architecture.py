"""The import contracts in pyproject.toml hold, and they can fail: a copy of the code with one
forbidden import breaks the contract that forbids it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports over the packages under ``project`` with its pyproject.toml."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the copy's packages come first: they shadow the editable install of the checkout
    env["PYTHONPATH"] = os.pathsep.join([str(project / "server"), str(project / "sdk")])
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_code_keeps_every_import_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.split("Contracts:")[-1]


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "server/assay_server/registry/service.py",
            "from ..governance import promotions",
            "Server layers",
        ),
        (
            "server/assay_server/checks/drift.py",
            "import sqlalchemy",
            "The checks are pure computation",
        ),
        (
            "server/assay_server/ingest/service.py",
            "import flask",
            "Only routes and the authorization hook know HTTP",
        ),
        (
            "server/assay_server/governance/promotions.py",
            "from .. import request_scope",
            "Only routes and the authorization hook know HTTP",
        ),
        ("sdk/assay/client.py", "import assay_server", "The SDK never imports the server"),
    ],
    ids=[
        "registry-imports-governance",
        "checks-import-the-store",
        "service-imports-flask",
        "service-reads-the-request",
        "sdk",
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    project = tmp_path / "copy"
    for part in ("server", "sdk"):
        shutil.copytree(ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    target = project / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(project)

    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert [row for row in broken if row.startswith(contract)], result.stdout
    assert len(broken) == 1, broken
