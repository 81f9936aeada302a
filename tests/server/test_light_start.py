"""The server and its CLI start without pandas, scipy or pyarrow: those load where a check, an
upload or a window first needs them. ``assay-server --help`` took 4.7 s on 2 cores while it
imported them, 1.9 s without (hyperfine, 10 runs each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.store_independent

#: Imported by the functions that use them (``checks/``, ``monitoring/windows.py`` and
#: ``html.py``, the explanation workers), never by a module the app, the CLI or the scheduler
#: import at start
HEAVY_MODULES = ["pandas", "scipy", "pyarrow", "sklearn", "evidently", "lime", "skops"]


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import json, sys; {statement}; "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return list(json.loads(result.stdout))


def test_the_cli_the_scheduler_and_a_built_app_import_no_numeric_library(
    tmp_path: Path,
) -> None:
    # create_app imports each blueprint's routes: building an app is what a server does
    statement = (
        "import assay_server.cli, assay_server.scheduler; "
        "from assay_server.app import create_app; "
        "from assay_server.settings import Settings; "
        f"create_app(Settings(data_dir={str(tmp_path)!r}, "
        f"database_url='sqlite:///{tmp_path}/assay.db', secret_key='-'))"
    )
    assert _loaded_after(statement) == []


def test_a_check_still_finds_them_where_it_runs() -> None:
    statement = (
        "from assay_server.checks.comparison import minimum_sample_per_arm; "
        "minimum_sample_per_arm(0.2, 0.05)"
    )
    assert _loaded_after(statement) == ["scipy"]
