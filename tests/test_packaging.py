"""Packaging: the server runs from a non-editable install, and the SDK needs requests alone
(with the urllib3 2 that requests brings)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests
import tomllib

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.store_independent]  # the SQLite run is enough


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _install_into(target: Path) -> Path:
    """Install Assay non-editable into ``target`` (dependencies come from this environment)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _env(target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    # the installed copy comes first on the path, ahead of the editable checkout
    env["PYTHONPATH"] = str(target)
    return env


def _start(target: Path, cwd: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(target / "bin" / "assay-server"), "run", "--port", str(port), "--no-scheduler"],
        cwd=cwd,
        env=_env(target),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stdout.read()}")
        try:
            if requests.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready within 60 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_a_non_editable_install_runs_from_another_directory(tmp_path):
    target = _install_into(tmp_path / "site")
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import assay_server.migrate as m, importlib.resources as r;"
            "print(m.migrations_dir());"
            "print(sorted(p.name for p in r.files('assay_server.policies').iterdir()))",
        ],
        cwd=tmp_path,
        env=_env(target),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert str(target) in where[0], "migrations must come from the installed package"
    assert "README.md" in where[1]

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    first = _start(target, workdir, port)
    try:
        _wait_ready(url, first)
    finally:
        first_output = _stop(first)
    tokens = re.findall(r"asy_[0-9A-Za-z]{43}", first_output)
    assert len(tokens) == 1, first_output
    assert (workdir / ".assay" / "assay.db").exists()

    second = _start(target, workdir, port)
    try:
        _wait_ready(url, second)
        response = requests.get(
            f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=5
        )
        assert response.json()["role"] == "admin"
    finally:
        second_output = _stop(second)
    assert "asy_" not in second_output, "the first admin token is printed on the first start only"


def test_the_sdk_distribution_depends_on_requests_and_its_urllib3_alone(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(ROOT / "sdk"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("assay_ml-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
    required = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    # urllib3 comes with requests anyway; the SDK asks for 2.x, whose Retry it configures
    assert [re.split(r"[<>=!~ ;\[]", r)[0] for r in required] == ["requests", "urllib3"]
    assert "assay/py.typed" in names
    assert not any(name.startswith("assay_server") for name in names)


#: Names on the public package index that belong to other projects (checked 2026-11-30).
_STRANGERS = {"assay", "assay-sdk", "assay-server"}
_PIP_INSTALL = re.compile(r"pip install ([^\n#`]+)")


def _installed_names(line: str) -> list[str]:
    """The distribution names a ``pip install`` argument list asks the index for."""
    names = []
    command = re.split(r"&&|\|\||;|\|", line)[0]
    for argument in re.findall(r'"[^"]*"|\'[^\']*\'|\S+', command):
        argument = argument.strip("\"'")
        if argument.startswith(("-", ".", "/", "$", "file:", "git+", "http")) or " @ " in argument:
            continue  # an option, a path, a variable, a URL or a direct reference
        names.append(re.split(r"[\[<>=!~ ;]", argument)[0].lower())
    return names


def test_the_distributions_have_names_no_one_else_owns():
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    sdk = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]["name"]
    assert {server, sdk} == {"assay-ml-server", "assay-ml"}


def test_no_document_installs_a_strangers_package():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    offending = [
        f"{document.relative_to(ROOT)}: pip install {line.strip()}"
        for document in documents
        for line in _PIP_INSTALL.findall(document.read_text())
        if set(_installed_names(line)) & _STRANGERS
    ]
    assert offending == []
    assert _installed_names('"assay-ml @ ${ASSAY_SDK_SOURCE}" assay-sdk') == ["assay-sdk"]


def test_browser_tests_skip_without_chromium_unless_ci_requires_it(tmp_path):
    from tests.conftest import missing_browser

    absent = tmp_path / "chromium"
    reason, required = missing_browser(absent, {})
    assert not required and "apt-get install chromium" in reason
    reason, required = missing_browser(absent, {"ASSAY_REQUIRE_BROWSER": "1"})
    assert required and "ASSAY_REQUIRE_BROWSER=1 requires it" in reason
    absent.touch()
    assert missing_browser(absent, {"ASSAY_REQUIRE_BROWSER": "1"}) is None


def test_ci_requires_the_browser():
    script = (ROOT / ".ci" / "run").read_text()
    assert "export ASSAY_REQUIRE_BROWSER=1" in script
