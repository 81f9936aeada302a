"""``import assay`` must stay light: requests and the standard library, nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import assay

HEAVY_MODULES = ["flask", "sqlalchemy", "pandas", "evidently", "numpy", "skops", "pyarrow"]


def test_import_assay_loads_no_server_or_data_science_packages(sdk_env: dict[str, str]) -> None:
    code = (
        "import json, sys; import assay; "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=sdk_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []


def test_import_assay_cli_loads_no_heavy_packages_either(sdk_env: dict[str, str]) -> None:
    code = (
        "import json, sys; import assay.cli; "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=sdk_env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_package_declares_its_version_and_public_names() -> None:
    assert assay.__version__ == "0.1.0"
    for name in assay.__all__:
        assert hasattr(assay, name), name


def test_every_public_name_and_client_method_has_a_docstring() -> None:
    undocumented = [
        name
        for name in assay.__all__
        if name != "__version__" and not (getattr(assay, name).__doc__ or "").strip()
    ]
    undocumented += [
        f"Client.{name}"
        for name, member in vars(assay.Client).items()
        if not name.startswith("_") and not (getattr(member, "__doc__", "") or "").strip()
    ]
    assert undocumented == []
