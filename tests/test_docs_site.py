"""The documentation site builds with ``mkdocs build --strict``: every page in the nav, every
link between pages resolves, and the SDK reference is generated from the docstrings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.store_independent]


def test_the_site_builds_strictly_with_the_sdk_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    reference = (site / "reference" / "sdk" / "index.html").read_text()
    documented = set(re.findall(r'id="(assay\.Client\.[a-z_]+)"', reference))
    assert {"assay.Client.register_version", "assay.Client.create_monitor"} <= documented
    for reader in ("ml-engineer", "compliance-officer", "approver", "on-call", "operator"):
        assert (site / "start" / reader / "index.html").exists(), reader


def test_every_document_is_in_the_site() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    missing = sorted(page for page in pages if page not in nav)
    assert missing == [], f"pages not in mkdocs.yml's nav: {missing}"
