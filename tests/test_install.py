"""The set-up step on a stock Debian/Ubuntu machine: `make install` with the system Python.

The install runs in a scrubbed environment (`env -i`, an empty HOME, PATH of
/usr/local/bin:/usr/bin:/bin), as a new user's shell would be, on a copy of the repository.
Debian marks its Python as externally managed (PEP 668), so this also proves nothing is
installed into it. uv's package cache points at this machine's, so no wheel is downloaded twice.

The diagnostics (no python3, a Python too old, no venv module, a failed sync without a C
compiler) run scripts/install.sh against stand-in interpreters on a PATH of their own.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from dagster_project.core.settings import REPOSITORY_ROOT
from tests.environment import uv_command

SYSTEM_PYTHON = Path("/usr/bin/python3")
STOCK_PATH = "/usr/local/bin:/usr/bin:/bin"
INSTALL_SCRIPT = REPOSITORY_ROOT / "scripts" / "install.sh"


def _copy_of_repository(destination: Path) -> Path:
    """What a fresh clone holds (tracked and new, not ignored files): no .venv, no .tools, no data."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPOSITORY_ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def _machine_uv_cache() -> str | None:
    """This machine's uv cache (warm after the outer `make install`), if there is one."""
    found = subprocess.run([*uv_command(), "cache", "dir"], capture_output=True, text=True)
    cache = found.stdout.strip()
    return cache if found.returncode == 0 and cache and Path(cache).is_dir() else None


def _scrubbed_environment(home: Path, path: str = STOCK_PATH) -> dict[str, str]:
    environment = {"HOME": str(home), "PATH": path}
    if cache := _machine_uv_cache():
        environment["UV_CACHE_DIR"] = cache
    return environment


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system Python at /usr/bin/python3 on this machine")
@pytest.mark.skipif(shutil.which("make", path=STOCK_PATH) is None, reason="no make in /usr/bin")
def test_make_install_with_the_system_python_in_a_scrubbed_environment(tmp_path: Path):
    project = _copy_of_repository(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    environment = _scrubbed_environment(home)
    uv_on_stock_path = shutil.which("uv", path=STOCK_PATH)
    system_python_had_uv = subprocess.run([SYSTEM_PYTHON, "-m", "uv", "--version"], capture_output=True).returncode == 0

    first = subprocess.run(
        ["make", "install"], cwd=project, env=environment, capture_output=True, text=True, timeout=900
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "externally-managed-environment" not in first.stderr
    assert "Environment ready" in first.stderr

    if uv_on_stock_path is None:
        # The pinned uv went into the project's own tools folder...
        assert "Installing uv" in first.stderr
        installed_uv = project / ".tools" / "bin" / "uv"
        version = subprocess.run([installed_uv, "--version"], capture_output=True, text=True, check=True).stdout
        assert f"UV_VERSION={version.split()[1]}" in (project / "scripts" / "install.sh").read_text()
    # ...and never into the system Python.
    if not system_python_had_uv:
        assert subprocess.run([SYSTEM_PYTHON, "-m", "uv", "--version"], capture_output=True).returncode != 0

    # The project's environment exists, runs on a supported Python, and its command works.
    venv_python = project / ".venv" / "bin" / "python"
    version = subprocess.run(
        [venv_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version in {"3.11", "3.12", "3.13"}
    crm_help = subprocess.run(
        [project / ".venv" / "bin" / "crm", "--help"], env=environment, capture_output=True, text=True
    )
    assert crm_help.returncode == 0, crm_help.stderr
    assert "Usage: crm" in crm_help.stdout and "build" in crm_help.stdout

    # Running it again installs nothing and changes nothing.
    second = subprocess.run(
        ["make", "install"], cwd=project, env=environment, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Installing uv" not in second.stderr


# --- what a user sees when the machine lacks a piece ----------------------------------------------


def _executable(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _bin_with(tmp_path: Path, *tools: str) -> Path:
    """A PATH folder holding only the named system tools (and what the test adds)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        os.symlink(shutil.which(tool), folder / tool)
    return folder


def _run_install(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", INSTALL_SCRIPT],
        env={"HOME": str(tmp_path), "PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_python_names_the_package(tmp_path: Path):
    result = _run_install(_bin_with(tmp_path, "dirname"), tmp_path)
    assert result.returncode != 0
    first_lines = result.stderr.splitlines()[:3]
    assert any("python3" in line and "missing" in line for line in first_lines), result.stderr
    assert "sudo apt-get install python3 python3-venv" in result.stderr


def test_a_python_too_old_names_the_versions_needed(tmp_path: Path):
    folder = _bin_with(tmp_path, "dirname")
    _executable(
        folder / "python3",
        """
        #!/bin/sh
        echo 3.10
    """,
    )
    result = _run_install(folder, tmp_path)
    assert result.returncode != 0
    assert "needs Python 3.11, 3.12 or 3.13" in result.stderr
    assert "python3=3.10" in result.stderr
    assert "python3.11-venv" in result.stderr  # Ubuntu 22.04's way to a supported Python
    assert "CRM_PYTHON=" in result.stderr


def _python3(tmp_path: Path, folder: Path, without_module: str | None = None) -> None:
    """A python3 in the folder; without_module makes one module fail to import, as on a Debian
    machine that lacks the optional package holding it."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    if without_module:
        (shadow / without_module).mkdir()
        (shadow / without_module / "__init__.py").write_text(f"raise ImportError('No module named {without_module}')\n")
    real = SYSTEM_PYTHON if SYSTEM_PYTHON.exists() else shutil.which("python3")
    _executable(
        folder / "python3",
        f"""
        #!/bin/sh
        PYTHONPATH={shadow} exec {real} "$@"
    """,
    )


def test_no_venv_module_names_the_package(tmp_path: Path):
    folder = _bin_with(tmp_path, "dirname")
    _python3(tmp_path, folder, without_module="ensurepip")
    result = _run_install(folder, tmp_path)
    assert result.returncode != 0
    assert "venv module" in result.stderr
    assert "sudo apt-get install python3-venv" in result.stderr


def test_a_failed_sync_without_a_compiler_names_the_toolchain(tmp_path: Path):
    folder = _bin_with(tmp_path, "dirname", "cut")
    _python3(tmp_path, folder)
    _executable(
        folder / "uv",
        """
        #!/bin/sh
        echo "error: Failed to build a-package-with-c-code==1.0" >&2
        exit 1
    """,
    )
    result = _run_install(folder, tmp_path)
    assert result.returncode != 0
    assert "creating .venv from uv.lock failed" in result.stderr
    assert "sudo apt-get install build-essential python3-dev" in result.stderr
