"""The dbt project handle, loaded lazily so that importing the code location does no work."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from dagster_project.core.settings import DBT_PROJECT_DIR, REPOSITORY_ROOT

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


# dbt's parse cache. dagster-dbt seeds each invocation's target folder with the one of dbt/target,
# parsed when the code location loaded, in another environment (CRM_DATA_DIR differs), so dbt
# finds the profile changed and parses everything again: about 2.5 s per invocation, twice a run.
# Runs keep their own beside their artifacts instead, parsed with the environment they run with.
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def seed_partial_parse(runs_dir: Path, target_path: Path) -> None:
    """Give a new dbt invocation the parse cache the previous run left in ``runs_dir``."""
    cached = runs_dir / PARTIAL_PARSE_FILE
    if cached.exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target_path / PARTIAL_PARSE_FILE)


def keep_partial_parse(target_path: Path, runs_dir: Path) -> None:
    """Keep the parse cache a finished invocation wrote, for the next one (renamed into place:
    an invocation that starts meanwhile reads the old file or the new one, never half of one)."""
    written = target_path / PARTIAL_PARSE_FILE
    if written.exists():
        partial = runs_dir / (PARTIAL_PARSE_FILE + ".partial")
        shutil.copyfile(written, partial)
        os.replace(partial, runs_dir / PARTIAL_PARSE_FILE)


# The artifacts of the latest invocations kept in <data>/dbt/runs (run_results.json, logs, the
# compiled SQL: 5 to 15 MB each at a million customers); older ones are removed when a new one
# starts, or a nightly warehouse would keep gigabytes of them a year. Two invocations per run.
DBT_INVOCATIONS_KEPT = 30


def prune_invocation_folders(runs_dir: Path, keep: int = DBT_INVOCATIONS_KEPT) -> list[Path]:
    """Remove all but the ``keep`` newest invocation folders of ``runs_dir``; returns the removed."""
    if not runs_dir.is_dir():
        return []
    folders = sorted((path for path in runs_dir.iterdir() if path.is_dir()), key=lambda path: path.stat().st_mtime)
    removed = folders[: max(len(folders) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
