"""The dbt project handle, loaded lazily so that importing the code location does no work."""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from dagster_project.settings import DBT_PROJECT_DIR, REPOSITORY_ROOT

# What the manifest is parsed from: a newer one of these means the manifest is out of date.
PROJECT_SOURCES = (DBT_PROJECT_DIR, REPOSITORY_ROOT / "seeds")
SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
BUILD_FOLDERS = {"target", "logs", "dbt_packages"}


def _newest_source_mtime() -> float:
    newest = 0.0
    for root in PROJECT_SOURCES:
        for path in root.rglob("*"):
            relative_parts = path.relative_to(root).parts
            if path.suffix in SOURCE_SUFFIXES and not BUILD_FOLDERS.intersection(relative_parts):
                newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale(manifest_path: Path) -> bool:
    return not manifest_path.exists() or manifest_path.stat().st_mtime < _newest_source_mtime()


def dbt_executable() -> str:
    """dbt from this project's environment, wherever Dagster was started from (PATH may not have it)."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


@cache
def crm_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # Under `dagster dev` this re-parses the project on every reload.
    project.prepare_if_dev()
    # Anywhere else (CLI, tests, CI, `dagster definitions validate` on a fresh clone) the manifest
    # is produced when missing or older than the project's files; target/ is never committed.
    # Parsed with the dbt beside this Python: dagster-dbt's own preparer looks for `dbt` on PATH,
    # which `.venv/bin/crm` run by its full path does not have.
    if manifest_is_stale(project.manifest_path):
        parser = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
        parser.cli(["--quiet", "parse"], target_path=project.target_path).wait()
    return project
