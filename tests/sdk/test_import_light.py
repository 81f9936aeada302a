"""``import assay`` must stay light: requests and the standard library, nothing heavy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import assay

# cryptography too: only checking audit checkpoint signatures needs it, and imports it then
HEAVY_MODULES = [
    "flask",
    "sqlalchemy",
    "pandas",
    "evidently",
    "numpy",
    "skops",
    "pyarrow",
    "cryptography",
]


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


def _sdk_imports() -> dict[str, set[str]]:
    """Each SDK module and the SDK modules it imports (at any depth of its code)."""
    package = Path(assay.__file__).parent
    names = {f"assay.{path.stem}" for path in package.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        tree = ast.parse((package / f"{name.split('.')[1]}.py").read_text())
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = found & names
    return graph


def test_sdk_modules_import_each_other_one_way_only() -> None:
    graph = _sdk_imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path, module])
        if module not in done:
            for imported in graph[module]:
                visit(imported, [*path, module])
            done.add(module)

    for module in graph:
        visit(module, [])
    assert "assay.client" not in graph["assay.logger"]
