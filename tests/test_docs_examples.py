"""Every ```python example in the README and docs/ runs, against a live server.

The examples check the documentation's code as a user runs it, which is the same whatever
the store behind the server: the SQLite run of the suite runs them, and the API they call is
tested on PostgreSQL by the rest of the suite (running them there too took 47 s of its 391 s
on 2 cores).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL_VAR

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, match in enumerate(_BLOCK.finditer(document.read_text()), start=1):
            found.append((f"{document.relative_to(ROOT)}#{number}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_readme_has_a_tour_to_run():
    assert any(name.startswith("README.md") for name, _ in EXAMPLES)


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get(POSTGRES_URL_VAR)),
    reason="the documentation's code, the same whatever the store: the SQLite run runs it",
)
@pytest.mark.parametrize("code", [code for _, code in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_documented_example_runs(code, live_server, admin_token, tmp_path):
    env = {**os.environ, "ASSAY_URL": live_server.url, "ASSAY_TOKEN": admin_token}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
